"""The local gateway (liveinsight.local.server.Gateway) against clients that misbehave on the wire.

A real server in a thread, raw sockets as clients: a malformed or oversized
Content-Length is answered at once without reading the body, a body that stops arriving
is answered 408, and none of it reaches the Lambda handler.
"""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from liveinsight.local.server import Gateway, GatewayServer

TIMEOUT = 0.5  # the gateway's socket timeout in these tests (10 s in the product)


@pytest.fixture
def gateway():
    """A gateway whose handler answers 200 and records what reached it."""
    calls: list[dict] = []

    def handler(event, context):
        calls.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"status": "success"}'}

    handler_class = type("TestGateway", (Gateway,), {"handler": staticmethod(handler), "timeout": TIMEOUT})
    server = GatewayServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.calls = calls
    yield server
    server.shutdown()
    server.server_close()


def exchange(server, data: bytes, wait: float = 5.0) -> tuple[int | None, dict, float]:
    """Send raw bytes, read until the server closes (or `wait`); returns (status, body, seconds to the answer)."""
    with socket.create_connection(server.server_address, timeout=wait) as sock:
        started = time.monotonic()
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
                if b"\r\n\r\n" in received and _complete(received):
                    break
        except (socket.timeout, ConnectionResetError):
            pass
        elapsed = time.monotonic() - started
    if not received:
        return None, {}, elapsed
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, (json.loads(body) if body else {}), elapsed


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def post(length: str, body: bytes = b"", extra: str = "") -> bytes:
    return (f"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n"
            f"{extra}\r\n").encode() + body


@pytest.mark.parametrize("length, status, message", [
    pytest.param("-1", 400, "whole number", id="negative"),
    pytest.param("abc", 400, "whole number", id="not-a-number"),
    pytest.param("1e3", 400, "whole number", id="float"),
    pytest.param("99999999999", 413, "256 KiB", id="huge"),
    pytest.param(str(256 * 1024 + 1), 413, "256 KiB", id="one-byte-over"),
])
def test_a_bad_content_length_is_answered_at_once_without_reading_the_body(gateway, length, status, message):
    # GIVEN a request whose body will never come (or would be too big)
    # WHEN only its headers are sent
    code, body, seconds = exchange(gateway, post(length))
    # THEN it is refused at once, in the error envelope, and never reaches the handler
    assert code == status and message in body["message"] and body["status"] == "error"
    assert seconds < TIMEOUT
    assert gateway.calls == []


def test_an_oversized_body_that_is_sent_anyway_still_gets_its_413(gateway):
    body = b'{"event_type": "x", "props": {"a": "' + b"x" * (300 * 1024) + b'"}}'
    code, payload, _ = exchange(gateway, post(str(len(body)), body))
    assert code == 413 and "256 KiB" in payload["message"]
    assert gateway.calls == []


def test_two_different_content_lengths_are_refused(gateway):
    code, body, _ = exchange(gateway, post("2", b"{}", extra="Content-Length: 3\r\n"))
    assert code == 400 and gateway.calls == []


def test_a_chunked_body_needs_a_content_length(gateway):
    request = b"POST /api/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    code, body, _ = exchange(gateway, request)
    assert code == 411 and gateway.calls == []


def test_expect_100_continue_is_refused_before_the_body_is_sent(gateway):
    code, body, seconds = exchange(gateway, post("99999999999", extra="Expect: 100-continue\r\n"))
    assert code == 413 and seconds < TIMEOUT


def test_a_body_that_stops_arriving_is_answered_408(gateway):
    # GIVEN a client that announces 100 bytes and sends 10
    code, body, seconds = exchange(gateway, post("100", b'{"event_ty'))
    # THEN after the gateway's timeout it answers 408 and the handler never saw it
    assert code == 408 and "did not arrive" in body["message"]
    assert TIMEOUT <= seconds < TIMEOUT + 2
    assert gateway.calls == []


def test_a_body_dripped_byte_by_byte_gets_one_deadline_not_one_per_byte(gateway):
    with socket.create_connection(gateway.server_address, timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(post("40"))
        answer = b""
        for _ in range(40):  # one byte every 0.1 s never trips a per-read timeout of 0.5 s
            try:
                sock.sendall(b"x")
            except OSError:
                break
            time.sleep(0.1)
            sock.setblocking(False)
            try:
                answer += sock.recv(4096)
            except BlockingIOError:
                pass
            sock.setblocking(True)
            if answer:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 4 * TIMEOUT
    assert gateway.calls == []


def test_a_slow_request_line_is_disconnected(gateway):
    with socket.create_connection(gateway.server_address, timeout=5) as sock:
        sock.sendall(b"POST /api/ev")
        started = time.monotonic()
        assert sock.recv(100) == b""  # closed by the gateway
        assert time.monotonic() - started < TIMEOUT + 2


def test_well_formed_requests_still_work_and_keep_the_connection(gateway):
    request = post("2", b"{}")
    with socket.create_connection(gateway.server_address, timeout=5) as sock:
        for _ in range(2):
            sock.sendall(request)
            received = b""
            while not (b"\r\n\r\n" in received and _complete(received)):
                received += sock.recv(65536)
            assert received.startswith(b"HTTP/1.1 200")
    assert [c["body"] for c in gateway.calls] == ["{}", "{}"]
