"""Saved views in the dashboard's sidebar as a teammate uses them (AppTest against the fake client).

The API side is tests/test_views.py; the whole path through `serve` in Chromium is in tests/test_signin.py.
"""
from __future__ import annotations

import time

from liveinsight import share
from liveinsight.dashboard import saved_views
from liveinsight.dashboard.client import ApiRequestError, SavedView
from tests import fakes
from tests.test_dashboard import fake, open_page  # noqa: F401 (fake is a fixture)

PRICING = SavedView(name="Pricing, last week", filters={"period": "7d", "page": "/pricing"}, saved_by="ana@example.com")


def chooser(at):
    return next(box for box in at.sidebar.selectbox if box.label == "Open a saved view")


def last_stats(fake) -> dict:
    return fake.stats_calls()[-1]


def test_the_sidebar_lists_the_teams_views_and_one_click_opens_one(fake):
    fake.saved = {PRICING.name.casefold(): PRICING}
    at = open_page("pages/overview.py")
    assert chooser(at).options == [PRICING.name]
    # WHEN a teammate picks the view
    chooser(at).select(PRICING.name).run()
    # THEN the filters and period are the view's, in the sidebar, the URL and what is asked of the API
    assert at.sidebar.selectbox(key="period").value == "7d" and at.sidebar.selectbox(key="page").value == "/pricing"
    assert at.query_params["period"] == "7d" and at.query_params["page"] == "/pricing"
    assert last_stats(fake)["period"] == "7d" and last_stats(fake)["page"] == "/pricing"
    # AND its link and who saved it are shown as text
    assert any("?view=Pricing%2C%20last%20week" in code.value for code in at.sidebar.code)
    assert "ana@example.com" in [text.value for text in at.sidebar.text]


def test_a_views_link_opens_it(fake):
    fake.saved = {PRICING.name.casefold(): PRICING}
    at = open_page("pages/overview.py", {"view": PRICING.name})
    assert last_stats(fake)["period"] == "7d" and last_stats(fake)["page"] == "/pricing"
    assert "view" not in at.query_params and at.query_params["page"] == "/pricing"


def test_a_link_to_a_deleted_view_says_so_and_opens_the_default_view(fake):
    at = open_page("pages/overview.py", {"view": "Gone **bold**"})
    assert any("No saved view has the name" in w.value for w in at.warning)
    assert "Gone **bold**" in [t.value for t in at.text]
    assert last_stats(fake)["period"] == "24h" and last_stats(fake)["page"] is None


def test_saving_the_current_view_stores_its_filters_and_lists_it(fake):
    at = open_page("pages/overview.py", {"period": "30d", "source": "Google"})
    at.sidebar.text_input(key="_saved_view_name").input("Google, last month")
    next(b for b in at.sidebar.button if b.label == "Save view").click().run()
    saved = [call for name, call in fake.calls if name == "save_view"]
    assert saved == [{"name": "Google, last month", "filters": {"period": "30d", "source": "Google"},
                      "saved_by": None}]
    assert chooser(at).options == ["Google, last month"] and chooser(at).value == "Google, last month"


def test_a_refused_save_shows_the_apis_reason_as_text(fake):
    fake.save_error = ApiRequestError("there are already 200 saved views; delete one before saving another", 409)
    at = open_page("pages/overview.py")
    at.sidebar.text_input(key="_saved_view_name").input("One more")
    next(b for b in at.sidebar.button if b.label == "Save view").click().run()
    assert "there are already 200 saved views; delete one before saving another" in [t.value for t in at.sidebar.text]
    assert chooser(at).options == []


def test_a_view_can_be_deleted(fake):
    fake.saved = {PRICING.name.casefold(): PRICING}
    at = open_page("pages/overview.py")
    chooser(at).select(PRICING.name).run()
    next(b for b in at.sidebar.button if b.label == "Delete this view").click().run()
    assert ("delete_view", {"name": PRICING.name}) in fake.calls
    assert chooser(at).options == [] and chooser(at).value is None


def test_a_shared_view_shows_no_saved_views_and_never_asks_for_them(fake):
    fake.saved = {PRICING.name.casefold(): PRICING}
    token = share.mint(fakes.SHARE_SECRET, "shop.example.com", time.time() + 3600)
    at = open_page("pages/overview.py", {"share": token, "view": PRICING.name})
    assert [box for box in at.sidebar.selectbox if box.label == "Open a saved view"] == []
    assert not [name for name, _ in fake.calls if name == "views"]
    assert last_stats(fake)["page"] is None  # The link's scope, not the view's.


def test_the_link_uses_the_configured_dashboard_address(fake, monkeypatch):
    monkeypatch.setenv("LIVEINSIGHT_DASHBOARD_URL", "https://dashboard.example.com/")
    fake.saved = {PRICING.name.casefold(): PRICING}
    at = open_page("pages/overview.py")
    chooser(at).select(PRICING.name).run()
    assert [c.value for c in at.sidebar.code] == [saved_views.link(PRICING.name)] == [
        "https://dashboard.example.com/?view=Pricing%2C%20last%20week"]


def test_a_signed_in_teammate_is_recorded_as_who_saved_the_view(fake, monkeypatch):
    from tests.test_auth import ANA, run

    monkeypatch.setenv("LIVEINSIGHT_ALLOWED_USERS", "example.com")
    at = run(ANA)
    at.sidebar.text_input(key="_saved_view_name").input("Ana's view")
    next(b for b in at.sidebar.button if b.label == "Save view").click().run()
    assert [call["saved_by"] for name, call in fake.calls if name == "save_view"] == ["ana@example.com"]
