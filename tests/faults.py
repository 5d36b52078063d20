"""DynamoDB faults injected at the wire, for tests and bench/throttle.py.

Each is a botocore `before-send` hook: registered on a client (or a session, before its
clients are made), it answers some requests itself, as DynamoDB would when it throttles,
or raises the connection error botocore raises when DynamoDB cannot be reached.
"""
from __future__ import annotations

import json
import random
import threading

THROTTLING = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
              "message": "Rate of requests exceeds the allowed throughput."}


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_kwargs):
        yield self.body


def throttling_response(url: str = "https://dynamodb.local/"):
    """The HTTP answer of a throttled DynamoDB request: 400 with a ThrottlingException."""
    from botocore.awsrequest import AWSResponse

    body = json.dumps(THROTTLING).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "Content-Length": str(len(body))}
    return AWSResponse(url, 400, headers, _Raw(body))


class Throttle:
    """Throttles a share of DynamoDB requests (reproducibly, from a seed), counting what it saw."""

    def __init__(self, share: float, seed: int = 11, operations: set[str] | None = None):
        self.share, self.operations = share, operations
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.throttled = 0

    def __call__(self, request, **_kwargs):
        operation = (request.headers.get("X-Amz-Target") or b"")
        operation = operation.decode() if isinstance(operation, bytes) else operation
        if self.operations is not None and operation.rpartition(".")[2] not in self.operations:
            return None
        with self.lock:
            self.requests += 1
            if self.random.random() >= self.share:
                return None
            self.throttled += 1
        return throttling_response(request.url)

    def register(self, client) -> "Throttle":
        """Run before anything else that answers requests (moto's in-process mock included)."""
        client.meta.events.register_first("before-send.dynamodb", self)
        return self


def connect_timeout(request, **_kwargs):
    """What botocore raises when DynamoDB does not accept the connection in time."""
    from botocore.exceptions import ConnectTimeoutError

    raise ConnectTimeoutError(endpoint_url=request.url)
