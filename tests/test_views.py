"""Saved views through the API: PUT /api/views/{name}, GET /api/views, DELETE /api/views/{name}.

The Lambda handler against moto, as API Gateway calls it (tests/conftest.py `backend`).
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from urllib.parse import quote

import pytest

from liveinsight import share, views

KEY = "s3cret-key-for-views"
PRICING = {"period": "7d", "site": "shop.example.com", "page": "/pricing"}


@pytest.fixture
def api(backend):
    """GIVEN the API with a key."""
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, api_key=KEY, share_secret="a-share-secret-for-tests"),
                      backend.store)
    return backend


def call(api, method: str, name: str | None = None, body=None, key: str | None = KEY, query: str = ""):
    path = "/api/views" + (f"/{quote(name, safe='')}" if name is not None else "") + query
    status, payload, _ = api.request(method, path, body=body, headers={"X-API-Key": key} if key else {})
    return status, payload


def listed(api) -> list[dict]:
    status, payload = call(api, "GET")
    assert status == 200, payload
    return payload["data"]["views"]


def test_a_saved_view_is_listed_for_everyone_with_its_filters_and_who_saved_it(api):
    # WHEN someone saves a view
    status, payload = call(api, "PUT", "Pricing funnel", {"filters": PRICING, "saved_by": "ana@example.com"})
    # THEN it is answered back and listed, by name
    assert status == 200 and payload["data"]["name"] == "Pricing funnel"
    call(api, "PUT", "Checkout, last hour", {"filters": {"period": "1h", "event_type": "checkout"}})
    views_listed = listed(api)
    assert [v["name"] for v in views_listed] == ["Checkout, last hour", "Pricing funnel"]
    assert views_listed[1]["filters"] == PRICING and views_listed[1]["saved_by"] == "ana@example.com"
    assert abs(views_listed[1]["saved_at"] - time.time()) < 60


def test_saving_under_the_same_name_in_any_case_replaces_the_view(api):
    call(api, "PUT", "Pricing", {"filters": PRICING})
    call(api, "PUT", "pricing", {"filters": {"period": "30d"}})
    assert [(v["name"], v["filters"]) for v in listed(api)] == [("pricing", {"period": "30d"})]


def test_a_view_keeps_its_place_filters(api):
    # WHEN a product manager saves the German visitors of Berlin
    place = {"period": "7d", "country": "DE", "region": "DE-BE", "city": "DE-BE/Berlin"}
    status, payload = call(api, "PUT", "Berlin", {"filters": place})
    # THEN the view opens on that place
    assert status == 200, payload
    assert [v["filters"] for v in listed(api)] == [place]


def test_a_view_without_a_period_opens_on_the_default_one(api):
    _, payload = call(api, "PUT", "Everything", {"filters": {}})
    assert payload["data"]["filters"] == {"period": "24h"}


def test_a_custom_range_keeps_its_days(api):
    november = {"period": "custom", "from": "2026-11-01", "to": "2026-11-30"}
    _, payload = call(api, "PUT", "November", {"filters": november})
    assert payload["data"]["filters"] == november


def test_deleting_a_view_removes_it_and_a_second_delete_is_404(api):
    call(api, "PUT", "Pricing", {"filters": PRICING})
    status, payload = call(api, "DELETE", "PRICING")
    assert status == 200 and payload["data"] == {"deleted": "PRICING"}
    assert listed(api) == []
    status, payload = call(api, "DELETE", "Pricing")
    assert status == 404 and "no saved view is named 'Pricing'" in payload["message"]


@pytest.mark.parametrize("key", [pytest.param(None, id="no-key"), pytest.param("wrong", id="wrong-key")])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_views_need_the_api_key(api, method, key):
    status, payload = call(api, method, None if method == "GET" else "Pricing", {"filters": {}}, key=key)
    assert status == 401 and "API key" in payload["message"]


def test_a_share_link_neither_lists_nor_saves_views(api):
    token = share.mint("a-share-secret-for-tests", "shop.example.com", time.time() + 3600)
    for method in ("GET", "PUT"):
        status, payload = call(api, method, None if method == "GET" else "Mine", {"filters": {}}, key=None,
                               query=f"?share={token}")
        assert status == 401 and "share link does not open saved views" in payload["message"]
    assert listed(api) == []


@pytest.mark.parametrize(("name", "body", "named"), [
    pytest.param("x" * 81, {"filters": {}}, "`name` must be 1-80 printable", id="name-too-long"),
    pytest.param("a/b", {"filters": {}}, "without '/'", id="name-with-slash"),
    pytest.param(" ", {"filters": {}}, "`name` must be", id="blank-name"),
    pytest.param("bell\a", {"filters": {}}, "`name` must be", id="control-character"),
    pytest.param("v", "not json", "must be a JSON object", id="not-json"),
    pytest.param("v", [1], "must be a JSON object", id="not-an-object"),
    pytest.param("v", {"filters": {}, "owner": "x"}, "unknown fields 'owner'; accepted: filters, saved_by",
                 id="unknown-field"),
    pytest.param("v", {"filters": "7d"}, "`filters` must be an object", id="filters-not-object"),
    pytest.param("v", {"filters": {"continent": "EU"}}, "unknown keys 'continent'; accepted: period, from, to",
                 id="unknown-filter"),
    pytest.param("v", {"filters": {"period": "90d"}}, "`filters.period` must be one of 1h, 24h, 7d, 30d, today,",
                 id="unknown-period"),
    pytest.param("v", {"filters": {"period": "custom", "from": "2026-11-01"}}, "`filters.to` must be a day",
                 id="custom-without-to"),
    pytest.param("v", {"filters": {"period": "custom", "from": "2026-11-30", "to": "2026-11-01"}},
                 "`filters.from` must be on or before", id="custom-backwards"),
    pytest.param("v", {"filters": {"period": "7d", "from": "2026-11-01"}}, "go with `filters.period` custom",
                 id="range-without-custom"),
    pytest.param("v", {"filters": {"page": 3}}, "`filters.page` must be a non-empty string", id="number-value"),
    pytest.param("v", {"filters": {"page": "/" + "p" * 2048}}, "at most 2048", id="value-too-long"),
    pytest.param("v", {"filters": {}, "saved_by": 7}, "`saved_by` must be a string", id="saved-by-number"),
])
def test_bad_views_are_400_naming_the_field_and_what_is_accepted(api, name, body, named):
    status, payload = call(api, "PUT", name, body if isinstance(body, str) else json.dumps(body))
    assert status == 400 and named in payload["message"], payload
    assert listed(api) == []


def test_there_are_at_most_max_views_but_one_can_still_be_replaced(api, monkeypatch):
    monkeypatch.setattr(views, "MAX_VIEWS", 3)
    for name in ("a", "b", "c"):
        assert call(api, "PUT", name, {"filters": {}})[0] == 200
    status, payload = call(api, "PUT", "d", {"filters": {}})
    assert status == 409 and "already 3 saved views; delete one" in payload["message"]
    assert call(api, "PUT", "B", {"filters": {"period": "7d"}})[0] == 200


def test_names_travel_percent_encoded_in_the_path(api):
    name = "Ünïcode & spaces: 100% #1?"
    assert call(api, "PUT", name, {"filters": {}})[0] == 200
    assert [v["name"] for v in listed(api)] == [name]
    assert call(api, "DELETE", name)[0] == 200


def test_a_wrong_method_on_a_view_is_405_naming_the_right_ones(api):
    status, payload = call(api, "POST", "Pricing", {"filters": {}})
    assert status == 405 and "use PUT or DELETE" in payload["message"]


def test_the_dashboard_client_saves_lists_and_deletes_views_through_serve():
    from liveinsight.dashboard.client import ApiAuthError, ApiRequestError, Client
    from test_serve import start_serve, stop

    process, url = start_serve("--api-key", KEY)
    try:
        with Client(url, api_key=KEY, timeout=10) as client:
            # WHEN the dashboard saves a view whose name needs percent-encoding
            saved = client.save_view("Pricing - week? #1", PRICING, saved_by="ana@example.com")
            # THEN the team's list has it, with its filters, who saved it and when
            (listed_view,) = client.views()
            assert listed_view == saved and listed_view.name == "Pricing - week? #1"
            assert listed_view.filters == PRICING and listed_view.saved_at is not None
            with pytest.raises(ApiRequestError, match="`filters.period` must be one of"):
                client.save_view("bad", {"period": "1y"})
            client.delete_view("PRICING - WEEK? #1")
            assert client.views() == []
            with pytest.raises(ApiRequestError, match="no saved view is named"):
                client.delete_view("Pricing - week? #1")
        with Client(url, timeout=10) as keyless, pytest.raises(ApiAuthError):
            keyless.views()
    finally:
        stop(process)
