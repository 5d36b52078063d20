"""Read-only share links: the token (round trip, tampering, expiry, rotation), the scope the read
APIs enforce for it, the secret's sources, and `python -m liveinsight share`."""
from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from conftest import page_view
from liveinsight import share
from liveinsight.secret import Secret
from liveinsight.errors import Forbidden, InvalidRequest, Unauthorized

SECRET = "test-share-secret-0123456789abcdef"
DAY = 86400
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def token(site="shop.example.com", expires_in=7 * DAY, secret=SECRET, **scope) -> str:
    return share.mint(secret, site, time.time() + expires_in, **scope)


# --- the token ------------------------------------------------------------------------


def test_a_minted_token_verifies_to_exactly_its_scope():
    expires = int(time.time()) + 3 * DAY
    minted = share.mint(SECRET, "www.Shop.Example.com", expires, page="/pricing", source="Google", period="7d")

    grant = share.verify(minted, SECRET)

    assert grant == share.Grant(site="shop.example.com", expires=expires, page="/pricing", source="Google",
                                period="7d")
    assert grant.as_dict() == {"site": "shop.example.com", "expires": expires, "page": "/pricing",
                               "source": "Google", "period": "7d"}
    assert SECRET not in minted and share.peek(minted) == grant


def test_changing_any_character_of_payload_or_signature_is_refused():
    minted = token(page="/pricing")
    for i, char in enumerate(minted):
        for other in {B64[(B64.index(char) + 1) % 64], B64[(B64.index(char) + 37) % 64]} if char != "." else {"x"}:
            altered = minted[:i] + other + minted[i + 1:]
            with pytest.raises((Unauthorized, InvalidRequest)):
                share.verify(altered, SECRET)


@pytest.mark.parametrize("altered", [
    pytest.param(lambda t: t + "A", id="appended"),
    pytest.param(lambda t: t[:-1], id="truncated-signature"),
    pytest.param(lambda t: t[1:], id="truncated-payload"),
    pytest.param(lambda t: t.split(".")[0] + "." + t.split(".")[0], id="payload-as-signature"),
])
def test_a_lengthened_or_shortened_token_is_refused(altered):
    with pytest.raises((Unauthorized, InvalidRequest)):
        share.verify(altered(token()), SECRET)


def test_a_payload_with_a_wider_scope_under_the_old_signature_is_refused():
    # GIVEN a link to /pricing WHEN its payload is swapped for one without the page filter
    narrow, wide = token(page="/pricing"), token()
    forged = wide.split(".")[0] + "." + narrow.split(".")[1]
    with pytest.raises(Unauthorized, match="invalid share link"):
        share.verify(forged, SECRET)


def test_an_expired_token_is_refused_naming_its_date():
    expires = 1_767_225_600  # 2026-01-01T00:00:00Z
    minted = share.mint(SECRET, "shop.example.com", expires)
    assert share.verify(minted, SECRET, now=expires - 1).site == "shop.example.com"
    with pytest.raises(Unauthorized, match="share link expired on 2026-01-01 00:00 UTC"):
        share.verify(minted, SECRET, now=expires)


def test_a_rotated_secret_refuses_every_old_link():
    minted = token()
    with pytest.raises(Unauthorized, match="invalid share link.*rotated"):
        share.verify(minted, "the-new-secret-after-rotation")


@pytest.mark.parametrize("bad", [
    pytest.param("", id="empty"),
    pytest.param("no-dot", id="one-part"),
    pytest.param("a.b.c", id="three-parts"),
    pytest.param("abc.d=f", id="padding"),
    pytest.param("ab c.def", id="space"),
    pytest.param("a" * 5000 + ".b", id="too-long"),
])
def test_something_that_is_not_a_token_is_a_400_naming_share(bad):
    with pytest.raises(InvalidRequest, match="`share`"):
        share.verify(bad, SECRET)


def test_a_signed_payload_of_another_version_is_refused():
    payload = share._b64(json.dumps({"v": 2, "site": "shop.example.com", "exp": int(time.time()) + 60}).encode())
    with pytest.raises(InvalidRequest, match="`share`"):
        share.verify(f"{payload}.{share._signature(SECRET, payload)}", SECRET)


@pytest.mark.parametrize("text, seconds", [("12h", 12 * 3600), ("7d", 7 * DAY), ("30d", 30 * DAY),
                                           ("90d", 90 * DAY), ("365d", 365 * DAY), (" 1h ", 3600)])
def test_lifetimes_in_hours_or_days(text, seconds):
    assert share.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "0d", "366d", "2w", "-1d", "1.5d", "d", "9999h"])
def test_bad_lifetimes_say_what_is_accepted(text):
    with pytest.raises(ValueError, match="12h, 7d, 30d or 90d, at most 365d"):
        share.parse_duration(text)


def test_the_token_module_needs_only_the_standard_library():
    import subprocess
    import sys

    code = ("import sys, liveinsight.share; heavy = {'boto3', 'botocore', 'pandas', 'plotly', 'streamlit', "
            "'requests', 'moto', 'pydantic', 'aws_lambda_powertools'}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


# --- the secret -----------------------------------------------------------------------


def test_the_secret_is_read_from_secrets_manager_once_and_again_after_the_cache(moto_aws):
    import boto3

    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="liveinsight-share-test", SecretString="first-secret")["ARN"]
    calls = []

    class Counting:
        def get_secret_value(self, **kwargs):
            calls.append(kwargs)
            return client.get_secret_value(**kwargs)

    secret = Secret(arn=arn, client=Counting())
    assert [secret.get(), secret.get()] == ["first-secret", "first-secret"]
    assert calls == [{"SecretId": arn}]  # cached: one call per warm function
    # WHEN the secret is rotated THEN, once the cache has aged, old links stop working.
    minted = share.mint(secret.get(), "shop.example.com", time.time() + DAY)
    client.put_secret_value(SecretId=arn, SecretString="rotated-secret")
    secret.cache_seconds = 0
    with pytest.raises(Unauthorized, match="invalid share link"):
        share.verify(minted, secret.get())
    assert "secret" not in repr(Secret(value="s3cr3t")).replace("Secret", "")


def test_without_a_secret_there_are_no_share_links():
    assert Secret().get() is None
    with pytest.raises(Unauthorized, match="LIVEINSIGHT_SHARE_SECRET"):
        share.verify(token(), None)


# --- the read APIs --------------------------------------------------------------------


@pytest.fixture
def shared(backend):
    """GIVEN a backend with an API key and a share secret, and traffic on two sites."""
    from liveinsight import handler

    settings = replace(backend.store.settings, api_key="key-1", share_secret=SECRET)
    handler.configure(settings, backend.store)
    now = time.time()
    backend.post({"events": [
        page_view("s-1", "/", now - 300, referrer="https://www.google.com/"),
        page_view("s-1", "/pricing", now - 240),
        page_view("s-2", "/pricing", now - 120),
        {"event_type": "signup", "session_id": "s-2", "timestamp": now - 100,
         "page_url": "https://shop.example.com/pricing"},
        {"event_type": "page_view", "session_id": "b-1", "timestamp": now - 60,
         "page_url": "https://blog.example.com/post"},
    ]})
    backend.aggregate()
    return backend


def get(backend, path: str, **query) -> tuple[int, dict]:
    return backend.get(f"{path}?{urlencode(query)}")


def keyed(backend, path: str, **query) -> tuple[int, dict]:
    return backend.get(f"{path}?{urlencode(query)}", headers={"X-API-Key": "key-1"})


def without_share(data: dict) -> dict:
    """The answer without `share` and the moment it was computed (two requests are never at the same instant)."""
    return {k: v for k, v in data.items() if k not in ("share", "generated_at")} | {
        "range": {**data["range"], "from": round(data["range"]["from"] / 60), "to": round(data["range"]["to"] / 60)}
        if "range" in data else None}


def test_without_key_or_link_the_read_routes_still_answer_401(shared):
    for path in ("/api/stats", "/api/realtime"):
        assert shared.get(path)[0] == 401
        assert keyed(shared, path)[0] == 200


def test_a_link_answers_the_same_numbers_as_the_key_within_its_scope(shared):
    link = token(page="/pricing", period="7d")

    status, payload = get(shared, "/api/stats", share=link)

    assert status == 200, payload
    data = payload["data"]
    periods = data["share"].pop("periods")
    assert data["share"] == {"site": "shop.example.com", "page": "/pricing", "period": "7d",
                             "expires": share.peek(link).expires}
    assert {"1h", "24h", "7d", "today", "yesterday", "this_week"} <= set(periods) and "30d" not in periods
    expected = keyed(shared, "/api/stats", site="shop.example.com", page="/pricing", period="7d")[1]["data"]
    # The same numbers, but only the page's own entry-page row (the key sees where its visits entered too)
    own = [row for row in expected["entry_pages"] if row["page"] == "/pricing"]
    assert without_share(data) == without_share({**expected, "sites": ["shop.example.com"], "entry_pages": own})
    assert data["totals"]["page_views"] == 2 and data["range"]["to"] - data["range"]["from"] == 7 * DAY
    # A shorter period and an extra filter (narrower still) are in scope too.
    status, payload = get(shared, "/api/stats", share=link, period="1h", event_type="signup")
    assert status == 200 and payload["data"]["totals"]["events"] == 1


def test_a_link_never_names_the_deployments_other_sites(shared):
    assert keyed(shared, "/api/stats")[1]["data"]["sites"] == ["blog.example.com", "shop.example.com"]
    assert get(shared, "/api/stats", share=token())[1]["data"]["sites"] == ["shop.example.com"]
    assert get(shared, "/api/stats", share=token(site="blog.example.com"))[1]["data"]["totals"]["events"] == 1


@pytest.mark.parametrize("query, field", [
    pytest.param({"site": "blog.example.com"}, "`site`", id="other-site"),
    pytest.param({"page": "/"}, "`page`", id="other-page"),
    pytest.param({"period": "30d"}, "`period`", id="wider-period"),
    pytest.param({"from": "0", "to": "1"}, "`from`", id="range-before-the-window"),
])
def test_a_request_outside_the_links_scope_is_403_naming_the_field(shared, query, field):
    status, payload = get(shared, "/api/stats", share=token(page="/pricing", period="7d"), **query)
    assert status == 403, payload
    assert field in payload["message"] and "share link" in payload["message"]


def test_the_same_site_spelled_with_www_is_in_scope(shared):
    assert get(shared, "/api/stats", share=token(), site="www.shop.example.com")[0] == 200


def test_a_range_inside_the_window_is_answered(shared):
    now = int(time.time())
    status, payload = get(shared, "/api/stats", share=token(period="24h"), **{"from": now - 3600, "to": now})
    assert status == 200, payload


def test_compare_is_answered_only_when_the_previous_period_is_inside_the_window(shared):
    link = token(period="7d")
    inside = get(shared, "/api/stats", share=link, period="24h", compare="previous")[1]["data"]
    outside = get(shared, "/api/stats", share=link, period="7d", compare="previous")[1]["data"]
    unlimited = get(shared, "/api/stats", share=token(), period="7d", compare="previous")[1]["data"]
    assert "previous_totals" in inside and "previous_totals" not in outside and "previous_totals" in unlimited


def test_compare_year_reaches_outside_any_windowed_link_and_is_left_out(shared):
    # GIVEN a link limited to the last 30 days: a year earlier lies outside it, even for the last hour
    link = token(period="30d")
    limited = get(shared, "/api/stats", share=link, period="1h", compare="year")[1]["data"]
    unlimited = get(shared, "/api/stats", share=token(), period="1h", compare="year")[1]["data"]
    assert "previous_timeseries" not in limited and "previous_totals" not in limited
    assert "previous_timeseries" in unlimited and "previous_totals" in unlimited


def test_realtime_with_a_link_answers_for_its_site(shared):
    status, payload = get(shared, "/api/realtime", share=token(page="/pricing"))
    assert status == 200, payload
    expected = keyed(shared, "/api/realtime", site="shop.example.com", page="/pricing")[1]["data"]
    data = payload["data"]
    assert data["share"]["site"] == "shop.example.com"
    assert without_share(data) == without_share(expected)
    assert {row["page"] for row in data["top_pages"]} == {"/pricing"}
    assert get(shared, "/api/realtime", share=token(), site="blog.example.com")[0] == 403


def test_realtime_refuses_a_link_limited_to_a_source_it_cannot_filter_by(shared):
    status, payload = get(shared, "/api/realtime", share=token(source="Google"))
    assert status == 403 and "`source`" in payload["message"]


@pytest.mark.parametrize("path", ["/api/stats", "/api/realtime"])
def test_expired_altered_and_malformed_links_through_the_api(shared, path):
    expired = share.mint(SECRET, "shop.example.com", time.time() - 1)
    status, payload = get(shared, path, share=expired)
    assert status == 401 and payload["message"].startswith("share link expired on ")

    genuine = token()
    altered = genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB")
    status, payload = get(shared, path, share=altered)
    assert status == 401 and payload["message"].startswith("invalid share link")

    status, payload = get(shared, path, share="not a token")
    assert status == 400 and "`share`" in payload["message"]


def test_a_link_is_served_within_its_scope_even_with_the_key(shared):
    status, payload = shared.get(f"/api/stats?{urlencode({'share': token(), 'site': 'blog.example.com'})}",
                                 headers={"X-API-Key": "key-1"})
    assert status == 403, payload


def test_without_a_configured_secret_links_are_refused_saying_so(backend):
    status, payload = get(backend, "/api/stats", share=token())
    assert status == 401 and "LIVEINSIGHT_SHARE_SECRET" in payload["message"]


# --- a link never widens: empty and repeated parameters, a page's own rows -------------


@pytest.mark.parametrize("query", [
    pytest.param({"period": ""}, id="empty-period"),
    pytest.param({"period": "", "compare": "previous"}, id="empty-period-with-compare"),
    pytest.param({"period": "  "}, id="blank-period"),
])
def test_an_empty_period_never_widens_a_period_limited_link(shared, query):
    # GIVEN a link limited to the last hour WHEN `period=` comes empty (it used to mean "24 h, unchecked")
    status, payload = get(shared, "/api/stats", share=token(period="1h"), **query)
    # THEN it is refused naming the parameter, not answered for 24 h (48 h with compare)
    assert status == 400, payload
    assert "`period`" in payload["message"] and "empty" in payload["message"]


@pytest.mark.parametrize("name", ["page", "source", "event_type", "site", "from", "to", "compare", "limit"])
def test_any_empty_parameter_of_a_link_is_refused_naming_it(shared, name):
    status, payload = get(shared, "/api/stats", share=token(page="/pricing", period="24h"), **{name: ""})
    assert status == 400, payload
    assert f"`{name}`" in payload["message"]


def test_an_empty_period_is_refused_with_the_key_too(shared):
    status, payload = keyed(shared, "/api/stats", period="")
    assert status == 400 and "`period`" in payload["message"]


@pytest.mark.parametrize("repeated, field", [
    pytest.param([("period", "1h"), ("period", "30d")], "`period`", id="period-then-wider"),
    pytest.param([("period", "30d"), ("period", "1h")], "`period`", id="wider-then-period"),
    pytest.param([("period", ""), ("period", "1h")], "`period`", id="empty-then-period"),
    pytest.param([("page", "/pricing"), ("page", "/")], "`page`", id="page-twice"),
    pytest.param([("site", "shop.example.com"), ("site", "blog.example.com")], "`site`", id="site-twice"),
    pytest.param([("share", "WIDE")], "`share`", id="a-second-wider-link"),
])
def test_a_repeated_parameter_never_widens_a_link(shared, repeated, field):
    narrow = token(page="/pricing", period="1h")
    query = [("share", narrow)] + [(k, token(period="30d") if v == "WIDE" else v) for k, v in repeated]
    status, payload = shared.get(f"/api/stats?{urlencode(query)}")
    assert status in (400, 403), payload
    assert field in payload["message"]


def test_the_same_value_twice_is_answered_as_once(shared):
    query = urlencode([("share", token(period="1h")), ("period", "1h"), ("period", "1h")])
    status, payload = shared.get(f"/api/stats?{query}")
    assert status == 200 and payload["data"]["range"]["to"] - payload["data"]["range"]["from"] == 3600


@pytest.fixture
def visits_through_pricing(shared):
    """GIVEN visits that reach /pricing after entering on other pages, from outside and from inside the site."""
    now = time.time()
    shared.post({"events": [
        page_view("s-9", "/secret-launch-plan", now - 200, referrer="https://news.ycombinator.com/item?id=1"),
        page_view("s-9", "/pricing", now - 150, referrer="https://shop.example.com/secret-launch-plan"),
        page_view("s-8", "/pricing", now - 90, referrer="https://blog.example.com/another/path"),
        page_view("s-7", "/docs/internal-roadmap", now - 80),
        page_view("s-7", "/pricing", now - 70, referrer="https://www.shop.example.com/docs/internal-roadmap"),
    ]})
    shared.aggregate()
    return shared


OTHER_PAGES = ("/secret-launch-plan", "/docs/internal-roadmap", "another/path")


@pytest.mark.parametrize("path", ["/api/stats", "/api/realtime"])
def test_a_page_scoped_link_names_no_other_page_of_the_site(visits_through_pricing, path):
    # WHEN the /pricing link is read (the key-holder's same view names the other pages)
    keyed_text = json.dumps(keyed(visits_through_pricing, path, site="shop.example.com", page="/pricing")[1])
    status, payload = get(visits_through_pricing, path, share=token(page="/pricing"))
    # THEN no other page path appears anywhere in its answer
    assert status == 200, payload
    text = json.dumps(payload)
    if path == "/api/stats":
        assert "/secret-launch-plan" in keyed_text  # the leak this guards against: entry pages of /pricing's visits
    assert [other for other in OTHER_PAGES if other in text] == []
    assert "/" not in [row["page"] for row in payload["data"].get("entry_pages", [])]


def test_a_page_scoped_link_shows_its_pages_numbers_and_where_its_visits_came_from(visits_through_pricing):
    data = get(visits_through_pricing, "/api/stats", share=token(page="/pricing"))[1]["data"]
    keyed_data = keyed(visits_through_pricing, "/api/stats", site="shop.example.com", page="/pricing")[1]["data"]
    # Its own numbers, as the key sees them
    assert data["totals"] == keyed_data["totals"] and data["timeseries"] == keyed_data["timeseries"]
    assert data["pages"] == [row for row in keyed_data["pages"] if row["page"] == "/pricing"] != []
    assert data["entry_pages"] == [{"page": "/pricing", "sessions": 2}]  # s-2 and s-8 started on it
    # Where its visits came from: sources and referrer hosts (never a path), campaigns
    assert {"Hacker News", "blog.example.com", "Direct"} <= {row["source"] for row in data["sources"]}
    assert {"news.ycombinator.com", "blog.example.com"} <= {row["referrer"] for row in data["referrers"]}
    assert data["sources"] == keyed_data["sources"] and data["referrers"] == keyed_data["referrers"]


def test_a_link_to_a_very_long_path_keeps_that_pages_rows(shared):
    long_path = "/p/" + "x" * 400
    shared.post({"events": [page_view("s-long", long_path, time.time() - 30)]})
    shared.aggregate()
    data = get(shared, "/api/stats", share=token(page=long_path))[1]["data"]
    assert data["totals"]["page_views"] == 1
    assert len(data["pages"]) == 1 and len(data["entry_pages"]) == 1


# --- the command line ------------------------------------------------------------------


@pytest.fixture
def stack_file(tmp_path, monkeypatch):
    from liveinsight import cli

    path = tmp_path / "stack.json"
    monkeypatch.setattr(cli, "LOCAL_STACK_FILE", path)
    monkeypatch.delenv("LIVEINSIGHT_SHARE_SECRET", raising=False)
    monkeypatch.delenv("LIVEINSIGHT_SHARE_SECRET_ARN", raising=False)
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    from liveinsight import cli

    code = cli.main(["share", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_mints_a_link_the_api_accepts(shared, stack_file, monkeypatch, capsys):
    monkeypatch.setenv("LIVEINSIGHT_SHARE_SECRET", SECRET)

    code, out, err = run_cli(capsys, "--site", "www.shop.example.com", "--page", "/pricing", "--period", "7d",
                             "--expires", "30d", "--dashboard-url", "https://dash.example.com/")

    assert code == 0, err
    link = out.splitlines()[0]
    assert link.startswith("https://dash.example.com/?share=")
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert query["site"] == "shop.example.com" and query["page"] == "/pricing" and query["period"] == "7d"
    grant = share.verify(query["share"], SECRET)
    assert abs(grant.expires - (time.time() + 30 * DAY)) < 60
    assert grant.expires_on[:10] in out and SECRET not in out + err
    status, payload = get(shared, "/api/stats", share=query["share"])
    assert status == 200 and payload["data"]["totals"]["page_views"] == 2


def test_the_cli_uses_the_running_local_stacks_secret(stack_file, capsys):
    from liveinsight import cli

    cli._write_stack_file({"api": "http://127.0.0.1:8000", "dashboard": "http://127.0.0.1:9999",
                           "share_secret": "local-run-secret"})
    assert stat.S_IMODE(os.stat(stack_file).st_mode) == 0o600  # the secret is readable by its owner only

    code, out, err = run_cli(capsys, "--site", "shop.example.com", "--expires", "12h")

    assert code == 0, err
    link = out.splitlines()[0]
    assert link.startswith("http://127.0.0.1:9999/?share=")
    assert share.verify(parse_qs(urlsplit(link).query)["share"][0], "local-run-secret").site == "shop.example.com"


@pytest.mark.parametrize("argv, message", [
    pytest.param(["--expires", "2w"], "--expires must be hours or days", id="bad-expires"),
    pytest.param(["--expires", "400d"], "at most 365d", id="too-long"),
    pytest.param(["--expires", "7d", "--site", "."], "--site", id="empty-site"),
])
def test_the_cli_refuses_bad_arguments_clearly(stack_file, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("LIVEINSIGHT_SHARE_SECRET", SECRET)
    args = argv if "--site" in argv else ["--site", "shop.example.com", *argv]
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and message in err and not out


def test_the_cli_without_any_secret_says_where_one_comes_from(stack_file, capsys):
    code, out, err = run_cli(capsys, "--site", "shop.example.com", "--expires", "7d")
    assert code == 2 and not out
    assert "LIVEINSIGHT_SHARE_SECRET" in err and "python -m liveinsight up" in err


def test_key_holders_learn_the_functions_sdk_share_links_do_not(shared):
    import boto3
    import botocore

    # GIVEN a reader with the key, and one with a share link
    for path in ("/api/realtime", "/api/stats"):
        _, _, keyed = shared.request("GET", path, headers={"X-API-Key": "key-1"})
        _, _, linked = shared.request("GET", f"{path}?{urlencode({'share': token()})}")
        # THEN the key holder sees which SDK the function runs on (doctor reports it); the link's reader does not
        assert keyed["X-LiveInsight-SDK"] == f"boto3/{boto3.__version__} botocore/{botocore.__version__}"
        assert "X-LiveInsight-SDK" not in linked
