"""The front door: a CloudFront distribution for tracker.js and /api/*, and the collector on its function URL.

Template checks read infra/template.yaml as data (tests/test_infra.py lints and transforms it);
the handler checks feed it function-URL events (payload format 2.0) as CloudFront forwards them.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace

from collector_paths import ORIGIN_SECRET, FunctionUrlBackend, on_path
from conftest import CHROME, page_view
from test_infra import policy_statements, template, transformed  # noqa: F401  (module fixtures)
from test_lambda_events import CONTEXT, load_event

FRONT_DOOR = ["OriginSecret", "TrackerBucket", "TrackerBucketPolicy", "TrackerOriginAccessControl",
              "ApiOriginRequestPolicy", "ApiResponseHeadersPolicy", "FrontDoorDistribution"]
FUNCTION_URL = ["EventCollectorFunctionUrl", "EventCollectorFunctionUrlPermission",
                "EventCollectorFunctionUrlInvokePermission"]


def distribution(template) -> dict:
    return template["Resources"]["FrontDoorDistribution"]["Properties"]["DistributionConfig"]


def behaviour(template, pattern: str) -> dict:
    return next(b for b in distribution(template)["CacheBehaviors"] if b["PathPattern"] == pattern)


def test_the_front_door_is_on_by_default_and_one_parameter_leaves_it_out(template):
    parameters, conditions = template["Parameters"], template["Conditions"]
    assert parameters["FrontDoor"]["Default"] == "enabled"
    assert conditions["FrontDoorEnabled"] == {"Fn::Equals": [{"Ref": "FrontDoor"}, "enabled"]}
    for name in FRONT_DOOR:
        assert template["Resources"][name]["Condition"] == "FrontDoorEnabled", name
    # the collector's function URL is the default path behind it, and only exists behind it
    assert parameters["CollectorOrigin"]["Default"] == "function-url"
    assert {"Condition": "FrontDoorEnabled"} in conditions["CollectorOnFunctionUrl"]["Fn::And"]
    for name in FUNCTION_URL:
        assert template["Resources"][name]["Condition"] == "CollectorOnFunctionUrl", name


def test_the_origin_request_policy_forwards_the_viewer_headers_the_collector_reads_and_never_host(template):
    from liveinsight.ingest.origin import VIEWER_HEADERS

    config = template["Resources"]["ApiOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    headers = config["HeadersConfig"]["Headers"]
    assert config["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    assert set(VIEWER_HEADERS) <= set(headers)
    # the user agent (bot filter, visitor id) and Origin (CORS) too; Host would break both origins
    assert {"User-Agent", "Origin", "Content-Type"} <= set(headers)
    assert "Host" not in headers and config["CookiesConfig"]["CookieBehavior"] == "none"
    for pattern in ("/api/events", "/api/*"):
        assert behaviour(template, pattern)["OriginRequestPolicyId"] == {"Ref": "ApiOriginRequestPolicy"}


def test_every_api_origin_carries_the_secret_origin_header_from_the_templates_secret(template):
    from liveinsight.config import ORIGIN_HEADER

    origins = distribution(template)["Origins"]
    api_origins = [o for o in origins if isinstance(o, dict) and o.get("Id") == "api"]
    api_origins += [o["Fn::If"][1] for o in origins if isinstance(o, dict) and "Fn::If" in o]
    assert {o["Id"] for o in api_origins} == {"api", "collector"}
    for origin in api_origins:
        assert origin["OriginCustomHeaders"] == [{
            "HeaderName": ORIGIN_HEADER,
            "HeaderValue": {"Fn::Sub": "{{resolve:secretsmanager:${OriginSecret}:SecretString}}"}}]
        assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    generated = template["Resources"]["OriginSecret"]["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32


def test_only_the_collector_reads_the_origin_secret(transformed):  # noqa: F811
    from liveinsight.config import ENV_ORIGIN_SECRET_ARN

    from test_infra import FUNCTIONS

    resources = transformed["Resources"]
    for function in FUNCTIONS:
        env = resources[function]["Properties"]["Environment"]["Variables"]
        grants = [s for s in policy_statements(transformed, function) if "OriginSecret" in json.dumps(s["Resource"])]
        if function == "EventCollectorFunction":
            assert env[ENV_ORIGIN_SECRET_ARN] == {"Fn::If": ["FrontDoorEnabled", {"Ref": "OriginSecret"}, ""]}
            assert [g["Action"] for g in grants] in (["secretsmanager:GetSecretValue"],
                                                     [["secretsmanager:GetSecretValue"]])
        else:
            assert ENV_ORIGIN_SECRET_ARN not in env and grants == []


def test_events_go_to_the_function_url_uncached_and_reads_to_the_rest_api(template):
    events, reads = behaviour(template, "/api/events"), behaviour(template, "/api/*")
    caching_disabled = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert events["TargetOriginId"] == {"Fn::If": ["CollectorOnFunctionUrl", "collector", "api"]}
    assert reads["TargetOriginId"] == "api"
    for b in (events, reads):
        assert b["CachePolicyId"] == caching_disabled and "POST" in b["AllowedMethods"]
        assert "OPTIONS" in b["AllowedMethods"] and b["ViewerProtocolPolicy"] == "https-only"
    url = template["Resources"]["EventCollectorFunctionUrl"]["Properties"]
    # NONE: sendBeacon cannot sign a POST body for origin access control; the function checks the secret
    assert url["AuthType"] == "NONE" and url["TargetFunctionArn"] == {"Fn::GetAtt": ["EventCollectorFunction", "Arn"]}
    assert "Cors" not in url  # the function answers CORS itself, the same on both paths


def test_throttled_refusals_get_retry_after_and_cors_unless_the_function_set_them(template):
    config = template["Resources"]["ApiResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    assert config["CustomHeadersConfig"]["Items"] == [{"Header": "Retry-After", "Value": "1", "Override": False}]
    assert config["CorsConfig"]["OriginOverride"] is False
    assert config["CorsConfig"]["AccessControlAllowOrigins"]["Items"] == {"Fn::Split": [",", {"Ref": "AllowedOrigins"}]}
    for pattern in ("/api/events", "/api/*"):
        assert behaviour(template, pattern)["ResponseHeadersPolicyId"] == {"Ref": "ApiResponseHeadersPolicy"}


def test_the_tracker_comes_from_a_private_bucket_through_origin_access_control(template):
    config = distribution(template)
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "tracker" and default["AllowedMethods"] == ["GET", "HEAD"]
    assert default["CachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"  # honours the object's Cache-Control
    tracker = next(o for o in config["Origins"] if isinstance(o, dict) and o.get("Id") == "tracker")
    assert tracker["OriginAccessControlId"] == {"Fn::GetAtt": ["TrackerOriginAccessControl", "Id"]}
    block = template["Resources"]["TrackerBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values())
    (statement,) = template["Resources"]["TrackerBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"} and statement["Action"] == "s3:GetObject"
    assert "FrontDoorDistribution" in json.dumps(statement["Condition"])


def test_a_custom_domain_needs_its_certificate_and_waf_is_the_owners(template):
    config = distribution(template)
    assert config["Aliases"] == {"Fn::If": ["HasCustomDomain", [{"Ref": "CustomDomain"}], {"Ref": "AWS::NoValue"}]}
    certificate = config["ViewerCertificate"]["Fn::If"]
    assert certificate[0] == "HasCustomDomain" and certificate[1]["AcmCertificateArn"] == {"Ref": "CertificateArn"}
    assert certificate[2] == {"CloudFrontDefaultCertificate": True}
    assert "CertificateArn" in json.dumps(template["Conditions"]["HasCustomDomain"])
    assert config["WebACLId"] == {"Fn::If": ["HasFrontDoorWebAcl", {"Ref": "FrontDoorWebAclArn"},
                                             {"Ref": "AWS::NoValue"}]}


# ---------------------------------------------------------------- the handler on the function URL


def test_a_captured_function_url_post_through_cloudfront_is_collected_with_its_place(backend):
    # GIVEN the collector configured with the origin secret, and a POST as CloudFront forwards it
    on_path(backend, "function-url")
    event = load_event("function_url_post_events.json", ORIGIN_SECRET=ORIGIN_SECRET)
    event["body"] = event["body"].replace('"event_type"', f'"timestamp":{time.time() - 5:.3f},"event_type"')
    # WHEN the deployed handler gets it
    response = backend.handler(event, CONTEXT)
    # THEN accepted in the envelope, CORS in plain headers (function URLs take no multiValueHeaders)
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["data"]["accepted"] == 1
    assert response["headers"]["Access-Control-Allow-Origin"] == "*" and "multiValueHeaders" not in response
    # AND the place is CloudFront's (the city percent-decoded; the header country beats the time zone)
    (stored,) = backend.raw_events()
    assert (stored["country"], stored["region"], stored["city"]) == ("DE", "DE-BY", "München")
    dumped = json.dumps(stored, default=str)
    assert "198.51.100.77" not in dumped and "2001:db8" not in dumped and "Europe/Berlin" not in dumped


def test_the_captured_function_url_post_without_the_secret_is_403(backend):
    on_path(backend, "function-url")
    event = load_event("function_url_post_events.json", ORIGIN_SECRET="guessed")
    response = backend.handler(event, CONTEXT)
    assert response["statusCode"] == 403 and backend.raw_events() == []


def test_the_function_url_answers_the_preflight_like_the_api(backend):
    url = on_path(backend, "function-url")
    code, _, headers = url.request("OPTIONS", "/api/events", headers={
        "Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"})
    assert code == 204
    assert headers["Access-Control-Allow-Origin"] == "*" and "POST" in headers["Access-Control-Allow-Methods"]


def test_the_function_url_serves_only_post_events(backend):
    url = on_path(backend, "function-url")
    direct = FunctionUrlBackend(url)
    from liveinsight.config import ORIGIN_HEADER
    from liveinsight.local.server import function_url_event, lambda_context

    response = url.handler(function_url_event("GET", "/api/stats?period=1h", {ORIGIN_HEADER: ORIGIN_SECRET}, b"",
                                              "64.252.1.1"), lambda_context("test"))
    assert response["statusCode"] == 404
    assert "POST /api/events only" in json.loads(response["body"])["message"]
    assert direct.post(page_view("s-1", "/", time.time() - 5))[0] == 200


def test_allowed_origins_apply_on_the_function_url(backend):
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, allowed_origins=("https://shop.example.com",),
                              origin_secret=ORIGIN_SECRET), backend.store)
    url = FunctionUrlBackend(backend)
    _, _, allowed = url.request("POST", "/api/events", page_view("s-1", "/", time.time() - 5),
                                headers={"Origin": "https://shop.example.com"})
    _, _, other = url.request("POST", "/api/events", page_view("s-2", "/", time.time() - 5),
                              headers={"Origin": "https://evil.example"})
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Access-Control-Allow-Origin" not in other


# ---------------------------------------------------------------- the local stack plays the front door


def test_the_local_stack_has_its_own_origin_secret_and_passes_headers_through(tmp_path, monkeypatch):
    import requests

    from liveinsight.config import ENV_ORIGIN_SECRET, ORIGIN_HEADER
    from liveinsight.local.server import LocalStack

    monkeypatch.delenv(ENV_ORIGIN_SECRET, raising=False)
    stack = LocalStack(port=0).start()
    stack.start_in_thread()
    try:
        # GIVEN the secret the local stack generated for this run
        secret = stack.origin_secret
        assert secret and len(secret) >= 32
        event = page_view("s-local", "/", time.time() - 5)
        # WHEN a client (the demo) sends it with CloudFront's viewer headers, and another forges them
        for session, sent in (("s-cdn", secret), ("s-forged", "guess")):
            response = requests.post(f"{stack.url}/api/events", data=json.dumps(dict(event, session_id=session)),
                                     headers={"Content-Type": "text/plain", ORIGIN_HEADER: sent, "User-Agent": CHROME,
                                              "CloudFront-Viewer-Country": "JP",
                                              "CloudFront-Viewer-Country-Region": "13"}, timeout=10)
            assert response.status_code == 200, response.text
        items = stack.services.store.client.scan(TableName=stack.settings.events_table)["Items"]
        from liveinsight.items.events import unpack
        from liveinsight.store import deserialize

        places = {e["session_id"]: (e.get("country"), e.get("region")) for e in map(unpack, map(deserialize, items))}
        # THEN only the request holding the secret has a place
        assert places == {"s-cdn": ("JP", "JP-13"), "s-forged": (None, None)}
    finally:
        stack.stop()
