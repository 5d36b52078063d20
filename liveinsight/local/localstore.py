"""The local stack's embedded DynamoDB-compatible store: moto's server mode, made safe.

moto's server is not safe under concurrent writes to one table, so every request is
served under one lock. It runs in a child process so that it has a CPU core of its own.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

READY_PREFIX = "LIVEINSIGHT_STORE_READY "


def _fast_stream_reads() -> None:
    """Serve GetRecords by dumping the records' JSON directly.

    moto builds GetRecords through its generic shape serializer (~0.7 ms a record, more
    than writing the event did); the records are already DynamoDB JSON, so one json.dumps
    gives the same wire format at a fraction of the cost.
    """
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        return str(value)

    def get_records(self: Any) -> str:
        limit = self._get_param("Limit") or 1000
        return json.dumps(self.backend.get_records(self._get_param("ShardIterator"), limit), default=default)

    DynamoDBStreamsHandler.get_records = get_records


def _fast_queries() -> None:
    """Answer a table Query from its one partition.

    moto's Query walks and sorts every item of the table (all_items) to find one partition,
    so the read APIs would slow down as rollups accumulate; DynamoDB reads one partition.
    The items are stored per hash key already: hand the query just those.
    """
    from moto.dynamodb.models.table import Table

    original = Table.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or not self.range_key_attr or hash_key is None:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query


def locked_app() -> Any:
    """moto's WSGI app with every request (body included) served under one lock."""
    from moto.server import DomainDispatcherApplication, create_backend_app

    _fast_stream_reads()
    _fast_queries()
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ: dict, start_response: Any) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    return serialized


def serve(host: str, port: int) -> None:
    """Run the store in this process until killed; prints the bound port when ready."""
    from moto.server import MotoRequestHandler
    from werkzeug.serving import make_server

    class KeepAliveHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"  # reuse connections: a new one per request costs ~1 ms

    server = make_server(host, port, locked_app(), threaded=True, request_handler=KeepAliveHandler)
    print(f"{READY_PREFIX}{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, even by SIGKILL (Linux), so no store is orphaned."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class EmbeddedStore:
    """A child process running the locked moto server on a free loopback port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "EmbeddedStore":
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "liveinsight.local.localstore", "--host", self.host, "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
            cwd=Path(__file__).resolve().parents[2],  # the repository root, where `liveinsight` imports from
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith(READY_PREFIX):
                self.port = int(line[len(READY_PREFIX):])
                return self
            if not line and self.process.poll() is not None:
                break
        self.stop()
        raise RuntimeError("the embedded DynamoDB store (moto server) did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="LiveInsight's embedded DynamoDB-compatible store")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
