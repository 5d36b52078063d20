"""liveinsight.dashboard.client against a real HTTP server in a thread that answers like openapi.yaml.

The server here is a stand-in for `python -m liveinsight serve`: it checks the key, records
every request and replies with canned openapi.yaml-shaped bodies, so these tests cover the
client's URLs, headers, parsing and error mapping.
"""
from __future__ import annotations

import json
import socket
import threading
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from liveinsight.dashboard import client as client_module
from liveinsight.dashboard.client import (
    ApiAuthError,
    ApiError,
    ApiRequestError,
    ApiServerError,
    ApiShareError,
    ApiUnreachable,
    Client,
    Realtime,
    Stats,
)
from tests import fakes

API_KEY = "test-key"


class FakeApi:
    """What the server answers and what it was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.api_key: str | None = API_KEY
        self.stats = fakes.stats_payload()
        self.realtime = fakes.realtime_payload()
        self.reply: tuple[int, bytes, str] | None = None  # forced status, body, content type


def make_handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            api.requests.append((url.path, query, dict(self.headers)))
            if api.reply:
                return self._send(*api.reply)
            if api.api_key and self.headers.get("X-API-Key") != api.api_key:
                return self._json(401, {"status": "error", "message": "Missing or invalid API key."})
            if url.path == "/api/stats":
                if "limit" in query and not 1 <= int(query["limit"][0]) <= 100:
                    return self._json(400, {"status": "error",
                                            "message": "Please provide limit as a number between 1 and 100."})
                data = dict(api.stats)
                if query.get("compare") in (["previous"], ["year"]):
                    data["previous_totals"] = fakes.PREVIOUS_TOTALS
                    data["previous_timeseries"] = fakes.previous_timeseries(
                        fakes.YEAR if query["compare"] == ["year"] else 24 * fakes.HOUR)
                return self._json(200, {"status": "success", "data": data})
            if url.path == "/api/realtime":
                return self._json(200, {"status": "success", "data": api.realtime})
            return self._json(404, {"status": "error", "message": f"No route for GET {url.path}."})

        def _json(self, status: int, body: dict) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def api():
    """GIVEN an API server on a free local port."""
    state = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(api):
    with Client(api.url, api_key=API_KEY, timeout=5) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- stats --------------------------------------------------------------------------


def test_stats_parses_totals_and_tables(client):
    stats = client.stats()

    assert isinstance(stats, Stats)
    assert (stats.totals.sessions, stats.totals.page_views, stats.totals.events) == (1234, 3210, 4321)
    assert stats.totals.bounce_rate == pytest.approx(0.4213)
    assert stats.totals.avg_session_duration == 125.0
    assert stats.previous_totals is None
    assert stats.interval == "hour"
    assert stats.start == datetime.fromtimestamp(fakes.NOW - 24 * 3600, tz=timezone.utc)
    assert stats.pages["page"].tolist() == ["/", "/pricing", "/docs"]
    assert stats.sources["sessions"].tolist() == [600, 400, 234]
    assert stats.devices["name"].tolist() == ["desktop", "mobile", "tablet"]
    assert stats.entry_pages["sessions"].tolist() == [800, 300]
    assert stats.bots_filtered == 42
    assert stats.sites == ["shop.example.com"]


def test_stats_timeseries_has_utc_datetimes(client):
    series = client.stats().timeseries

    assert list(series.columns) == ["t", "events", "page_views", "sessions", "visitors"]
    assert isinstance(series["t"].dtype, pd.DatetimeTZDtype) and str(series["t"].dt.tz) == "UTC"
    assert series["t"].iloc[0] == pd.Timestamp(fakes.NOW - 24 * 3600, unit="s", tz="UTC")
    assert series["sessions"].iloc[:3].tolist() == [30, 31, 32]


def test_stats_sends_filters_and_the_api_key(api, client):
    client.stats(period="7d", page="/pricing", source="Google", event_type="signup", limit=25, interval="day")

    path, query, headers = api.requests[-1]
    assert path == "/api/stats"
    assert query == {"period": ["7d"], "page": ["/pricing"], "source": ["Google"], "event_type": ["signup"],
                     "limit": ["25"], "interval": ["day"]}
    assert headers["X-API-Key"] == API_KEY


def test_stats_sends_the_place_filters_only_when_given(api, client):
    client.stats(country="US", region="US-WA", city="US-WA/Seattle")
    query = api.requests[-1][1]
    assert (query["country"], query["region"], query["city"]) == (["US"], ["US-WA"], ["US-WA/Seattle"])

    client.stats()
    assert not {"country", "region", "city"} & set(api.requests[-1][1])


def test_stats_parses_visitors_and_places(api, client):
    api.stats = fakes.stats_payload(previous_totals=fakes.PREVIOUS_TOTALS)

    stats = client.stats(compare=True)

    assert (stats.totals.visitors, stats.previous_totals.visitors) == (987, 900)
    assert stats.timeseries["visitors"].iloc[:3].tolist() == [20, 21, 22]
    assert stats.pages["visitors"].tolist() == [805, 401, 188]
    assert stats.sources["visitors"].tolist() == [511, 333, 201]
    assert stats.countries["country"].tolist() == ["US", "DE", "JP", "Unknown", "BR"]
    assert stats.countries["visitors"].tolist() == [412, 203, 151, 96, 77]
    assert stats.countries["bounce_rate"].tolist() == [0.38, 0.45, 0.41, 0.52, 0.36]
    assert stats.regions[["region", "country"]].values.tolist() == [["US-WA", "US"], ["DE-BE", "DE"], ["US-NY", "US"]]
    assert stats.cities[["city", "name", "region"]].values.tolist() == [
        ["US-WA/Seattle", "Seattle", "US-WA"], ["DE-BE/Berlin", "Berlin", "DE-BE"]]


def test_an_older_server_without_visitors_or_places_reads_as_zero_and_empty(api, client):
    payload = fakes.stats_payload()
    for key in ("countries", "regions", "cities"):
        del payload[key]
    del payload["totals"]["visitors"]
    for row in payload["timeseries"] + payload["pages"]:
        del row["visitors"]
    api.stats = payload

    stats = client.stats()

    assert stats.totals.visitors is None  # not counted, which is not zero
    assert stats.timeseries["visitors"].isna().all() and stats.pages["visitors"].isna().all()
    assert stats.countries.empty and stats.regions.empty and stats.cities.empty


def test_visitors_the_api_does_not_count_stay_unknown(api, client):
    # A combination of filters: the API answers null totals and series, and rows without visitors.
    api.stats = fakes.stats_payload(totals={**fakes.stats_payload()["totals"], "visitors": None},
                                    pages=[{"page": "/", "page_views": 5, "sessions": 4}])

    stats = client.stats(source="Google", event_type="signup")

    assert stats.totals.visitors is None
    assert stats.pages["visitors"].isna().all() and stats.pages["sessions"].tolist() == [4]


def test_a_place_filter_the_api_refuses_carries_its_message(api, client):
    message = "`country` cannot be combined with `page`; choose one of them"
    api.reply = (400, json.dumps({"status": "error", "message": message}).encode(), "application/json")

    with pytest.raises(ApiRequestError) as caught:
        client.stats(country="US", page="/pricing")

    assert (caught.value.status, caught.value.message) == (400, message)


def test_stats_asks_for_one_site_only_when_given(api, client):
    client.stats(site="shop.example.com")
    assert api.requests[-1][1]["site"] == ["shop.example.com"]

    client.stats()
    assert "site" not in api.requests[-1][1]  # all sites together


def test_sites_default_to_none_when_an_older_server_leaves_them_out(api, client):
    del api.stats["sites"]

    assert client.stats().sites == []


def test_stats_compare_asks_for_the_previous_period(api, client):
    stats = client.stats(compare=True)

    assert api.requests[-1][1]["compare"] == ["previous"]
    assert stats.previous_totals.sessions == 1000
    assert stats.previous_totals.bounce_rate == pytest.approx(0.40)


@pytest.mark.parametrize(("compare", "asked", "offset"), [(True, "previous", 24 * fakes.HOUR),
                                                         ("previous", "previous", 24 * fakes.HOUR),
                                                         ("year", "year", fakes.YEAR)])
def test_stats_compare_returns_the_comparison_series_aligned_to_the_buckets(api, client, compare, asked, offset):
    stats = client.stats(compare=compare)

    assert api.requests[-1][1]["compare"] == [asked]
    previous = stats.previous_timeseries
    assert list(previous["t"]) == list(stats.timeseries["t"])
    assert list(previous["t_previous"]) == list(stats.timeseries["t"] - pd.Timedelta(seconds=offset))
    assert str(previous["t_previous"].dt.tz) == "UTC"
    assert (previous["sessions"].iloc[0], previous["visitors"].iloc[-1]) == (15, 33)


def test_without_compare_the_comparison_series_is_empty_with_its_columns(api, client):
    stats = client.stats()

    assert "compare" not in api.requests[-1][1]
    assert stats.previous_timeseries.empty
    assert {"t", "t_previous", "sessions", "visitors"} <= set(stats.previous_timeseries.columns)


def test_an_unknown_compare_is_refused_before_asking(api, client):
    with pytest.raises(ValueError, match="compare must be one of previous, year"):
        client.stats(compare="last_year")
    assert api.requests == []


@pytest.mark.parametrize(("start", "end", "expected"), [
    pytest.param(date(2026, 1, 1), date(2026, 1, 2), ("1767225600.0", "1767312000.0"), id="dates-are-utc-midnight"),
    pytest.param(datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 13), ("1767268800.0", "1767272400.0"),
                 id="naive-datetimes-are-utc"),
    pytest.param(1767225600, 1767229200, ("1767225600", "1767229200"), id="epoch-seconds"),
    pytest.param("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
                 id="iso-strings-pass-through"),
])
def test_stats_custom_range(api, client, start, end, expected):
    client.stats(from_=start, to=end)

    query = api.requests[-1][1]
    assert (query["from"][0], query["to"][0]) == expected
    assert "period" not in query


def test_empty_breakdowns_still_have_their_columns(api, client):
    api.stats = fakes.empty_stats_payload()

    stats = client.stats()

    assert stats.pages.empty and list(stats.pages.columns) == ["page", "page_views", "visitors", "sessions"]
    assert stats.countries.empty and list(stats.countries.columns) == [
        "country", "visitors", "sessions", "page_views", "bounce_rate"]
    assert list(stats.cities.columns) == ["city", "name", "region", "country", "visitors", "sessions", "page_views",
                                          "bounce_rate"]
    assert list(stats.browsers.columns) == ["name", "sessions"]
    assert stats.totals.sessions == 0
    assert stats.timeseries["events"].sum() == 0


def test_campaigns_when_the_server_sends_them(api, client):
    assert list(client.stats().campaigns.columns) == ["campaign", "sessions"]  # absent: empty, same shape
    api.stats = fakes.stats_payload(campaigns=[{"campaign": "spring", "sessions": 23}])

    campaigns = client.stats().campaigns

    assert campaigns.to_dict("records") == [{"campaign": "spring", "sessions": 23}]


def test_iso_times_are_parsed_too(api, client):
    api.stats = fakes.stats_payload(range={"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z",
                                           "interval": "hour"},
                                    timeseries=[{"t": "2026-01-01T05:00:00Z", "events": 1, "page_views": 1,
                                                 "sessions": 1}])

    stats = client.stats()

    assert stats.start == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert stats.timeseries["t"].iloc[0] == pd.Timestamp("2026-01-01T05:00:00Z")


# --- realtime -----------------------------------------------------------------------


def test_realtime_parses_numbers_and_tables(api, client):
    now = client.realtime(page="/live", window=15)

    assert isinstance(now, Realtime)
    assert (now.active_sessions, now.active_sessions_30m) == (17, 58)
    assert now.generated_at == datetime.fromtimestamp(fakes.NOW, tz=timezone.utc)
    assert len(now.per_minute) == 30 and str(now.per_minute["minute"].dt.tz) == "UTC"
    assert now.top_pages["page"].tolist() == ["/live", "/"]
    assert now.top_referrers["source"].tolist() == ["Twitter"]
    assert list(now.recent_events.columns) == ["event_type", "timestamp", "page", "source"]
    assert now.recent_events["page"].tolist() == ["/live", "/"]
    assert now.countries.values.tolist() == [["US", 9], ["GB", 5], ["Unknown", 3]]
    assert now.recent_events["timestamp"].iloc[0] == pd.Timestamp(fakes.NOW - 3, unit="s", tz="UTC")
    assert api.requests[-1][:2] == ("/api/realtime", {"page": ["/live"], "window": ["15"]})


def test_realtime_asks_for_one_site_only_when_given(api, client):
    client.realtime(site="shop.example.com")
    assert api.requests[-1][1] == {"window": ["30"], "site": ["shop.example.com"]}

    client.realtime()
    assert api.requests[-1][1] == {"window": ["30"]}


# --- errors -------------------------------------------------------------------------


def test_unreachable_api_names_the_url_setting():
    dead = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ApiUnreachable) as caught:
        Client(dead, timeout=2).stats()

    assert "LIVEINSIGHT_API_URL" in str(caught.value)
    assert dead in str(caught.value)


def test_timeout_is_unreachable(api):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # Accepts the connection, never answers.
    try:
        with pytest.raises(ApiUnreachable, match="did not answer within 0.3 s"):
            Client(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3).realtime()
    finally:
        silent.close()


def test_missing_key_is_an_auth_error_naming_the_key_setting(api):
    with pytest.raises(ApiAuthError) as caught:
        Client(api.url).stats()

    assert caught.value.status == 401
    assert "none was sent" in str(caught.value) and "LIVEINSIGHT_API_KEY" in str(caught.value)
    assert "X-API-Key" not in api.requests[-1][2]


def test_wrong_key_is_an_auth_error_saying_it_was_rejected(api):
    with pytest.raises(ApiAuthError, match="rejected the key in LIVEINSIGHT_API_KEY"):
        Client(api.url, api_key="wrong").realtime()


def test_other_4xx_carries_the_servers_message(client):
    with pytest.raises(ApiRequestError) as caught:
        client.stats(limit=500)

    assert caught.value.status == 400
    assert str(caught.value) == "Please provide limit as a number between 1 and 100."


def test_a_share_link_is_sent_as_the_share_parameter_without_a_key(api):
    api.api_key = None

    Client(api.url).stats(period="7d", site="shop.example.com", share="tok.en")
    Client(api.url).realtime(share="tok.en")

    for _, query, headers in api.requests:
        assert query["share"] == ["tok.en"] and "X-API-Key" not in headers


@pytest.mark.parametrize("status, message", [
    (401, "share link expired on 2026-12-30 00:00 UTC; ask whoever sent it for a new link"),
    (403, "this share link shows only site shop.example.com; `site` cannot be 'blog.example.com'"),
])
def test_a_refused_share_link_carries_the_servers_message(api, status, message):
    api.reply = (status, json.dumps({"status": "error", "message": message}).encode(), "application/json")

    with pytest.raises(ApiShareError) as caught:
        Client(api.url).stats(share="tok.en")

    assert (caught.value.status, caught.value.message) == (status, message)
    assert isinstance(caught.value, ApiError) and not isinstance(caught.value, ApiAuthError)


def test_a_wrong_base_path_says_to_check_the_url(api):
    api.reply = (404, b"<html>Not Found</html>", "text/html")

    with pytest.raises(ApiRequestError, match="LIVEINSIGHT_API_URL"):
        Client(api.url + "/nope", api_key=API_KEY).stats()


def test_5xx_is_a_server_error(api, client):
    api.reply = (500, json.dumps({"status": "error", "message": "Internal server error"}).encode(), "application/json")

    with pytest.raises(ApiServerError) as caught:
        client.stats()

    assert caught.value.status == 500
    assert "Internal server error" in str(caught.value)


def test_a_non_api_answer_is_a_server_error_naming_the_url_setting(api, client):
    api.reply = (200, b"<html>some other app</html>", "text/html")

    with pytest.raises(ApiServerError, match="LIVEINSIGHT_API_URL"):
        client.stats()


def test_every_error_is_an_api_error():
    for error in (ApiUnreachable, ApiAuthError, ApiRequestError, ApiServerError):
        assert issubclass(error, ApiError)


# --- configuration ------------------------------------------------------------------


def test_from_env_reads_url_and_key(api, monkeypatch):
    monkeypatch.setenv("LIVEINSIGHT_API_URL", api.url + "/")
    monkeypatch.setenv("LIVEINSIGHT_API_KEY", API_KEY)

    env_client = Client.from_env()

    assert env_client.base_url == api.url
    assert env_client.stats().totals.sessions == 1234
    assert api.requests[-1][2]["X-API-Key"] == API_KEY


def test_from_env_defaults_to_the_local_stack(monkeypatch):
    monkeypatch.delenv("LIVEINSIGHT_API_URL", raising=False)
    monkeypatch.delenv("LIVEINSIGHT_API_KEY", raising=False)

    env_client = Client.from_env()

    assert (env_client.base_url, env_client.api_key) == ("http://127.0.0.1:8000", None)


def test_repr_hides_the_key():
    assert "s3cret" not in repr(Client("http://x", api_key="s3cret"))


def test_one_session_is_reused(api, client):
    session = client._session
    client.stats()
    client.realtime()
    assert client._session is session


def test_public_names():
    assert set(client_module.__all__) == {
        "ApiAuthError", "ApiError", "ApiRequestError", "ApiServerError", "ApiShareError", "ApiUnreachable",
        "Client", "Definitions", "Realtime", "SavedView", "Stats", "Totals"}
    for name in client_module.__all__:
        assert hasattr(client_module, name)
