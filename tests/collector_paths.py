"""The collector's two deployed paths, for contract tests that must hold on both.

`rest-api`: API Gateway's REST proxy event (the template without the front door, or behind it
with CollectorOrigin=rest-api). `function-url`: the collector's Lambda function URL (payload
format 2.0) behind the CloudFront front door, which adds the origin secret to every request.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from conftest import CHROME, Backend

COLLECTOR_PATHS = ["rest-api", "function-url"]
ORIGIN_SECRET = "test-origin-secret-not-a-real-one-0000"


class FunctionUrlBackend(Backend):
    """A Backend whose POST /api/events (and its preflight) arrive as CloudFront forwards them to the
    function URL, origin secret included; the read routes stay on the REST API."""

    def __init__(self, backend: Backend, secret: str | None = ORIGIN_SECRET):
        self.__dict__.update(backend.__dict__)
        self.secret = secret

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None,
                ip: str = "203.0.113.7") -> tuple[int, dict, dict]:
        if not path.startswith("/api/events"):
            return super().request(method, path, body, headers, ip)
        from liveinsight.config import ORIGIN_HEADER
        from liveinsight.local.server import function_url_event, lambda_context

        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        raw = body.encode() if isinstance(body, str) else (body or b"")
        headers = {"User-Agent": CHROME, **(headers or {})}
        if self.secret is not None:
            headers[ORIGIN_HEADER] = self.secret
        response = self.handler(function_url_event(method, path, headers, raw, ip), lambda_context("test"))
        assert "multiValueHeaders" not in response  # function URLs do not take them
        headers_out = dict(response.get("headers") or {})
        payload = json.loads(response["body"]) if response.get("body") else {}
        return response["statusCode"], payload, headers_out


def on_path(backend: Backend, path: str) -> Backend:
    """`backend` with the origin secret configured, posting through `path`."""
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, origin_secret=ORIGIN_SECRET), backend.store)
    return FunctionUrlBackend(backend) if path == "function-url" else backend
