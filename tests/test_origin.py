"""The client address and the visit's place come only from a source the deployment trusts.

Behind the front door, CloudFront's viewer headers are believed only on a request carrying the
distribution's secret origin header; forged ones (no secret, a wrong one) give no place and the
transport's own address. Tested on both event shapes the collector receives.
"""
from __future__ import annotations

import json
import time

import pytest

from collector_paths import COLLECTOR_PATHS, ORIGIN_SECRET, FunctionUrlBackend, on_path
from conftest import page_view

VIEWER = {"CloudFront-Viewer-Address": "198.51.100.10:46532", "CloudFront-Viewer-Country": "US",
          "CloudFront-Viewer-Country-Region": "WA", "CloudFront-Viewer-City": "Seattle"}
EDGE_IP = "64.252.1.1"  # what API Gateway or the function URL sees behind CloudFront: an edge server


@pytest.fixture(params=COLLECTOR_PATHS)
def path_backend(backend, request):
    return on_path(backend, request.param), request.param


def post_with(backend, extra_headers: dict, ip: str = EDGE_IP, secret: str | None = ORIGIN_SECRET,
              session: str | None = None) -> dict:
    """Post one page view (cookieless unless `session`) and return its stored event."""
    if isinstance(backend, FunctionUrlBackend):
        backend.secret = secret
    elif secret is not None:
        extra_headers = {"X-LiveInsight-Origin": secret, **extra_headers}
    event = {"event_type": "page_view", "page_url": "https://shop.example.com/", "timestamp": time.time() - 5}
    if session:
        event["session_id"] = session
    before = {(e["session_id"], e["timestamp"]) for e in backend.raw_events()}
    code, payload = backend.post(event, headers=extra_headers, ip=ip)
    assert code == 200, payload
    return next(e for e in backend.raw_events() if (e["session_id"], e["timestamp"]) not in before)


def test_with_the_secret_the_viewer_headers_give_the_place(path_backend):
    backend, _ = path_backend
    # GIVEN a request the front door forwarded (the secret origin header and CloudFront's viewer headers)
    stored = post_with(backend, VIEWER)
    # THEN the event's place is CloudFront's, the region in its ISO 3166-2 form
    assert (stored["country"], stored["region"], stored["city"]) == ("US", "US-WA", "Seattle")
    # AND neither address is stored
    assert "198.51.100.10" not in json.dumps(stored, default=str) and EDGE_IP not in json.dumps(stored, default=str)


def test_with_the_secret_the_viewer_address_identifies_the_visitor(path_backend):
    backend, _ = path_backend
    # GIVEN two requests of one viewer through two different edge servers
    first = post_with(backend, VIEWER, ip="64.252.1.1")
    second = post_with(backend, VIEWER, ip="64.252.9.9")
    # THEN they are one visitor (the viewer's address, not the edge's, derives the id)
    assert first["session_id"] == second["session_id"]
    # AND another viewer behind the same edge server is another visitor
    other = post_with(backend, {**VIEWER, "CloudFront-Viewer-Address": "[2001:db8::7]:443"}, ip="64.252.1.1")
    assert other["session_id"] != first["session_id"]


@pytest.mark.parametrize("secret", [None, "wrong-secret", ORIGIN_SECRET + "x", ""], ids=["no-secret", "wrong-secret",
                                                                                        "longer-secret", "empty"])
def test_forged_viewer_headers_without_the_secret_give_no_place_and_the_transport_address(backend, secret):
    # GIVEN the REST API reached directly, by a client forging CloudFront's headers and X-Forwarded-For
    backend = on_path(backend, "rest-api")
    forged = {**VIEWER, "X-Forwarded-For": "198.51.100.10"}
    first = post_with(backend, forged, ip="203.0.113.1", secret=secret)
    second = post_with(backend, forged, ip="203.0.113.2", secret=secret)
    # THEN nothing of the forged place is stored
    assert all(first.get(k) is None for k in ("country", "region", "city"))
    # AND the visitor is keyed by the address that connected (two addresses: two visitors)
    assert first["session_id"] != second["session_id"]


def test_a_function_url_request_without_the_secret_is_refused_before_its_body_is_read(backend):
    # GIVEN the collector's function URL reached directly (not through the distribution)
    for secret in (None, "wrong-secret"):
        direct = FunctionUrlBackend(on_path(backend, "function-url"), secret=secret)
        # WHEN a client posts, even a body too big to accept
        code, payload, headers = direct.request("POST", "/api/events", b"x" * (300 * 1024), headers=VIEWER)
        # THEN 403 in the error envelope, with CORS headers, naming the way in; nothing stored
        assert code == 403, payload
        assert payload["status"] == "error" and "X-LiveInsight-Origin" in payload["message"]
        assert headers["Access-Control-Allow-Origin"] == "*"
    assert backend.raw_events() == []


def test_a_function_url_without_a_configured_secret_refuses_everything(backend):
    # GIVEN a collector whose origin secret is not configured (a mis-deployed stack)
    from liveinsight import handler

    handler.configure(backend.store.settings, backend.store)
    direct = FunctionUrlBackend(backend, secret="")
    # THEN its function URL serves nobody (fails closed)
    assert direct.post(page_view("s-1", "/", time.time() - 5))[0] == 403


MALFORMED = [
    pytest.param({"CloudFront-Viewer-Country": "USA"}, id="country-three-letters"),
    pytest.param({"CloudFront-Viewer-Country": "U1"}, id="country-digit"),
    pytest.param({"CloudFront-Viewer-Country": "É"}, id="country-non-ascii"),
    pytest.param({"CloudFront-Viewer-Country": ""}, id="country-empty"),
    pytest.param({"CloudFront-Viewer-Country": "US,FR"}, id="country-repeated"),
]


@pytest.mark.parametrize("headers", MALFORMED)
def test_a_malformed_country_from_the_cdn_is_ignored_never_an_error(path_backend, headers):
    backend, _ = path_backend
    stored = post_with(backend, {**VIEWER, **headers})
    assert (stored.get("country"), stored.get("region"), stored.get("city")) == (None, None, None)


@pytest.mark.parametrize("headers, region, city", [
    pytest.param({"CloudFront-Viewer-Country-Region": "WASH"}, None, "Seattle", id="region-too-long"),
    pytest.param({"CloudFront-Viewer-Country-Region": "W-A"}, None, "Seattle", id="region-dash"),
    pytest.param({"CloudFront-Viewer-City": "S%C3%A3o%20Paulo"}, "US-WA", "São Paulo", id="city-percent-encoded"),
    pytest.param({"CloudFront-Viewer-City": "%FF%FE"}, "US-WA", None, id="city-not-utf8"),
    pytest.param({"CloudFront-Viewer-City": "Sea%0Attle"}, "US-WA", None, id="city-control-character"),
    pytest.param({"CloudFront-Viewer-City": "x" * 101}, "US-WA", None, id="city-too-long"),
    pytest.param({"CloudFront-Viewer-Address": "not-an-address"}, "US-WA", "Seattle", id="address-malformed"),
])
def test_a_malformed_region_city_or_address_is_ignored_and_the_rest_kept(path_backend, headers, region, city):
    backend, _ = path_backend
    stored = post_with(backend, {**VIEWER, **headers})
    assert (stored["country"], stored.get("region"), stored.get("city")) == ("US", region, city)


@pytest.mark.parametrize("value, address", [
    ("198.51.100.10:46532", "198.51.100.10"),
    ("2001:db8::1:46532", "2001:db8::1"),          # CloudFront writes IPv6 unbracketed, the port after the last colon
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("2001:0db8:0000::0001:80", "2001:db8::1"),   # one spelling per address
    ("198.51.100.10", None),                       # no port: not CloudFront's format
    ("198.51.100.10:99999", None),
    ("evil.example:80", None),
    ("", None),
])
def test_viewer_address_values(value, address):
    from liveinsight.ingest.origin import viewer_address

    assert viewer_address(value) == address


def test_the_secret_is_compared_in_constant_time(monkeypatch):
    # A timing side channel would let a client guess the secret byte by byte.
    import hmac

    from liveinsight.ingest import origin

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(origin.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert origin.carries_secret({"x-liveinsight-origin": "abc"}, "abc")
    assert not origin.carries_secret({"x-liveinsight-origin": "abd"}, "abc")
    assert len(calls) == 2


def test_the_origin_secret_can_live_in_secrets_manager(backend):
    # GIVEN the template's configuration: the secret's ARN, not its value
    import boto3
    from dataclasses import replace

    from liveinsight import handler

    arn = boto3.client("secretsmanager").create_secret(Name="liveinsight-origin-dev",
                                                       SecretString=ORIGIN_SECRET)["ARN"]
    handler.configure(replace(backend.store.settings, origin_secret_arn=arn), backend.store)
    # THEN a request carrying it is trusted with the viewer headers
    stored = post_with(backend, {"X-LiveInsight-Origin": ORIGIN_SECRET, **VIEWER}, secret=None)
    assert stored["country"] == "US"
