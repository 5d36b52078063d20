"""The tracker's automatic events and engagement, measured in a real headless Chromium.

Opt-in on the script tag: `data-outbound` (clicks on links to other hosts), `data-downloads`
(clicks on links to files) and `data-404` (a "not found" page). Always on: the engaged time
and deepest scroll of each page view, sent once as an `engagement` beacon when the page is
hidden or left. Engaged time is driven by the page's clock (Playwright's `page.clock`), so a
test controls minutes without waiting them out.
"""
from __future__ import annotations

import re
import time

import pytest

from test_tracker import (  # noqa: F401 (fixtures)
    browser,
    capture,
    context,
    needs_chromium,
    page,
    playwright,
    settle,
    site,
)

pytestmark = needs_chromium

ELSEWHERE = re.compile(r"^https?://(partner|docs|cdn)\.example/")


@pytest.fixture
def elsewhere(context):
    """Other sites the test page links to, answered by the browser itself (no network here)."""
    opened: list[str] = []

    def answer(route):
        opened.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>elsewhere</title>")

    context.route(ELSEWHERE, answer)
    return opened


def opt_in(site, capture, **attributes) -> None:
    site.use(data_api=capture.origin, data_allow_localhost=True, **attributes)


def of_type(capture, event_type: str) -> list[dict]:
    return [e for e in capture.all_events if e["event_type"] == event_type]


def wait_for_type(page, capture, event_type: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
    """The events of one type, once `count` of them arrived (a faked page clock does not slow this)."""
    deadline = time.monotonic() + timeout
    while len(of_type(capture, event_type)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    found = of_type(capture, event_type)
    assert len(found) >= count, f"expected {count} {event_type}, got {capture.all_events}"
    return found


def hide(page, hidden: bool = True) -> None:
    """The visitor switches to another tab (or back, with hidden=False): visibilitychange."""
    state = "hidden" if hidden else "visible"
    page.evaluate(
        f"""() => {{
            Object.defineProperty(document, 'visibilityState', {{configurable: true, get: () => '{state}'}});
            Object.defineProperty(document, 'hidden', {{configurable: true, get: () => {str(hidden).lower()}}});
            document.dispatchEvent(new Event('visibilitychange'));
        }}"""
    )


def load(page, capture, url: str, first_event: str = "page_view") -> None:
    page.goto(url)
    wait_for_type(page, capture, first_event)


# --- outbound links ------------------------------------------------------------------


def test_a_left_click_on_a_link_to_another_host_is_an_outbound_click(page, site, capture, elsewhere):
    # GIVEN a site that opted in to outbound clicks
    opt_in(site, capture, data_outbound=True)
    load(page, capture, site.url("/links.html"))
    # WHEN the visitor follows a link to a partner's site
    page.click("#partner")
    # THEN the click is sent although the page was left, with the target's scheme, host and path
    [click] = wait_for_type(page, capture, "outbound_click")
    assert elsewhere == ["http://partner.example/pricing?ref=acme"], "the navigation went ahead"
    assert click["props"] == {"url": "http://partner.example/pricing"}
    assert click["page_url"] == site.url("/links.html")
    assert "session_id" not in click and click["tz"]


@pytest.mark.parametrize(
    "how",
    [pytest.param({"button": "middle"}, id="middle"), pytest.param({"modifiers": ["ControlOrMeta"]}, id="ctrl")],
)
def test_middle_and_ctrl_clicks_opening_a_new_tab_are_outbound_clicks(page, site, capture, elsewhere, how):
    opt_in(site, capture, data_outbound=True)
    load(page, capture, site.url("/links.html"))
    # WHEN the visitor opens the partner's link in a new tab (middle click, or ctrl/cmd click)
    page.click("#partner", **how)
    # THEN it is an outbound click, and the page itself stays
    [click] = wait_for_type(page, capture, "outbound_click")
    assert click["props"] == {"url": "http://partner.example/pricing"}
    assert page.url == site.url("/links.html")


def test_a_target_blank_link_is_an_outbound_click_without_credentials_query_or_fragment(
    context, page, site, capture, elsewhere
):
    opt_in(site, capture, data_outbound=True)
    load(page, capture, site.url("/links.html"))
    # WHEN the visitor follows a target=_blank link that carries user:password and a token
    with context.expect_page() as new_tab:
        page.click("#docs")
    new_tab.value.wait_for_load_state()
    # THEN the outbound click names the target without them
    [click] = wait_for_type(page, capture, "outbound_click")
    assert click["props"] == {"url": "https://docs.example/guide/start"}
    assert "secret" not in str(capture.records) and "token" not in str(capture.records)


def test_same_site_links_mail_links_and_right_clicks_are_not_outbound(page, site, capture, elsewhere):
    opt_in(site, capture, data_outbound=True)
    load(page, capture, site.url("/links.html"))
    # WHEN the visitor right-clicks the partner's link, clicks a mail link, then a link to this site
    page.click("#partner", button="right")
    page.evaluate("document.getElementById('mail').addEventListener('click', e => e.preventDefault())")
    page.click("#mail")
    page.click("#internal")
    wait_for_type(page, capture, "page_view", 2)
    settle(page)
    # THEN none of them is an outbound click
    assert [e["event_type"] for e in capture.events] == ["page_view"] * 2
    assert elsewhere == []


# --- downloads -----------------------------------------------------------------------


def test_a_link_to_a_file_with_a_default_extension_is_a_download(page, site, capture, elsewhere):
    # GIVEN a site that opted in to downloads with the default list (pdf, zip, csv, …)
    opt_in(site, capture, data_downloads=True)
    load(page, capture, site.url("/links.html"))
    # WHEN the visitor clicks a link to a parquet file (not in the list) then the annual report
    # (`.PDF`, clicked on the text inside the link)
    page.click("#dataset")
    page.go_back()
    wait_for_type(page, capture, "page_view", 2)
    page.click("#report span")
    # THEN only the report is a download, named by its cleaned URL
    [download] = wait_for_type(page, capture, "download")
    settle(page)
    assert download["props"] == {"url": site.url("/files/report-2026.PDF")}
    assert download["page_url"] == site.url("/links.html")
    assert len(of_type(capture, "download")) == 1 and of_type(capture, "outbound_click") == []


def test_a_custom_list_of_extensions_replaces_the_default(page, site, capture, elsewhere):
    # GIVEN a site that counts parquet and csv files only, and outbound clicks too
    opt_in(site, capture, data_downloads="parquet, .csv", data_outbound=True)
    load(page, capture, site.url("/links.html"))
    # WHEN the visitor clicks the report (a pdf, not in this list), then the dataset on a CDN
    page.click("#report")
    page.go_back()
    wait_for_type(page, capture, "page_view", 2)
    page.click("#dataset")
    # THEN the dataset is a download — one event, not an outbound click as well — and the pdf nothing
    [download] = wait_for_type(page, capture, "download")
    settle(page)
    assert download["props"] == {"url": "http://cdn.example/data/export.parquet"}
    assert len(of_type(capture, "download")) == 1 and of_type(capture, "outbound_click") == []


# --- 404 pages -----------------------------------------------------------------------


def test_a_page_with_data_404_sends_not_found_instead_of_a_page_view(page, site, capture):
    # GIVEN a site whose 404 template carries data-404
    opt_in(site, capture, data_404=True)
    # WHEN a visitor lands on a missing page from a search engine (with a query and fragment)
    page.goto(site.url("/links.html?q=old#top"), referer="https://www.google.com/")
    # THEN a not_found names the page (cleaned), with the referrer that led there, and no page view
    [missing] = wait_for_type(page, capture, "not_found")
    settle(page)
    assert missing["props"] == {"url": site.url("/links.html")}
    assert missing["referrer"] == "https://www.google.com/"
    assert of_type(capture, "page_view") == []


def test_a_404_template_can_call_liveinsight_not_found(page, site, capture):
    opt_in(site, capture)
    load(page, capture, site.url("/links.html?ref=broken"))
    # WHEN the page's own code reports it is a 404
    page.evaluate("liveinsight('not_found')")
    # THEN the not_found carries the page's cleaned URL like data-404 does
    [missing] = wait_for_type(page, capture, "not_found")
    assert missing["props"] == {"url": site.url("/links.html")}


# --- engagement ----------------------------------------------------------------------


def scroll_to_percent(page, percent: int) -> None:
    """Scroll so the viewport's bottom is at `percent` of the page's height."""
    page.evaluate(
        f"scrollTo(0, document.documentElement.scrollHeight * {percent} / 100 - innerHeight)"
    )
    page.wait_for_function(f"Math.abs(scrollY - (document.documentElement.scrollHeight * {percent} / 100 - innerHeight)) < 2")


def test_engaged_time_and_deepest_scroll_are_sent_once_when_the_page_is_hidden(page, site, capture):
    # GIVEN a visitor on a long page, with the page's clock under the test's control
    opt_in(site, capture)
    page.clock.install()
    load(page, capture, site.url("/links.html?utm_source=news"))
    assert page.evaluate("document.hasFocus()")
    # WHEN they read for 10 s, scroll to half the page and back to the top, then switch tabs
    page.mouse.move(50, 50)
    page.clock.run_for(10_000)
    scroll_to_percent(page, 50)
    page.evaluate("scrollTo(0, 0)")
    page.wait_for_function("scrollY == 0")
    page.wait_for_timeout(100)  # let the scroll events reach the tracker
    hide(page)
    # THEN one engagement beacon: about 10 engaged seconds and the deepest scroll, 50 %
    [engagement] = wait_for_type(page, capture, "engagement")
    assert 9 <= engagement["props"]["engaged_seconds"] <= 11
    assert engagement["props"]["scroll_depth"] == 50
    assert engagement["page_url"] == site.url("/links.html?utm_source=news")
    assert set(engagement) >= {"timestamp", "sent_at", "event_id", "tz"} and "session_id" not in engagement
    [post] = [r for r in capture.posts if r["body"].get("event_type") == "engagement"]
    assert post["mode"] == "no-cors" and post["content_type"].startswith("text/plain"), "a beacon"
    # AND leaving the page afterwards sends no second one
    page.goto("about:blank")
    settle(page)
    assert len(of_type(capture, "engagement")) == 1


def test_engaged_time_stops_after_30_seconds_without_input(page, site, capture):
    opt_in(site, capture)
    page.clock.install()
    load(page, capture, site.url("/links.html"))
    # WHEN the visitor moves the mouse, leaves the tab open for 90 s, then types and reads 5 s
    page.mouse.move(50, 50)
    page.clock.run_for(90_000)
    page.keyboard.press("Shift")
    page.clock.run_for(5_000)
    # AND then leaves the page
    page.goto("about:blank")
    # THEN only the 30 s before going idle and the last 5 s count
    [engagement] = wait_for_type(page, capture, "engagement")
    assert 34 <= engagement["props"]["engaged_seconds"] <= 36
    assert engagement["page_url"] == site.url("/links.html")


def test_time_without_focus_is_not_engaged(page, site, capture):
    opt_in(site, capture)
    page.clock.install()
    load(page, capture, site.url("/links.html"))
    # GIVEN the page visible but another window focused
    page.evaluate("document.hasFocus = () => false")
    # WHEN a minute passes with the mouse moving over the page, then the tab is hidden
    for _ in range(6):
        page.mouse.move(50, 60)
        page.mouse.move(60, 50)
        page.clock.run_for(10_000)
    hide(page)
    settle(page)
    # THEN nothing was engaged and nothing scrolled: no engagement event
    assert of_type(capture, "engagement") == []


def test_a_tab_hidden_at_once_then_read_sends_its_time_when_hidden_again(page, site, capture):
    opt_in(site, capture)
    page.clock.install()
    load(page, capture, site.url("/links.html"))
    # GIVEN a visitor who switches away at once and comes back to the tab a minute later
    hide(page)
    page.clock.run_for(60_000)
    hide(page, hidden=False)
    # WHEN they read for 5 s without touching anything, then switch away again
    page.clock.run_for(5_000)
    hide(page)
    # THEN one engagement: the 5 s of reading (coming back is input), none of the minute away
    [engagement] = wait_for_type(page, capture, "engagement")
    assert 4 <= engagement["props"]["engaged_seconds"] <= 6
    settle(page)
    assert len(of_type(capture, "engagement")) == 1


def test_nothing_happened_no_engagement_event(page, site, capture):
    opt_in(site, capture)
    page.clock.install()
    # WHEN a visitor opens a page and leaves it at once
    load(page, capture, site.url("/links.html"))
    page.goto("about:blank")
    settle(page)
    # THEN only the page view was sent
    assert [e["event_type"] for e in capture.all_events] == ["page_view"]


def test_a_scroll_alone_is_sent(page, site, capture):
    opt_in(site, capture)
    page.clock.install()
    load(page, capture, site.url("/links.html"))
    # WHEN the visitor scrolls to the bottom at once and leaves (no engaged second yet)
    scroll_to_percent(page, 100)
    page.wait_for_timeout(100)
    page.goto("about:blank")
    # THEN the scroll depth is sent with 0 engaged seconds
    [engagement] = wait_for_type(page, capture, "engagement")
    assert engagement["props"] == {"engaged_seconds": 0, "scroll_depth": 100}


def test_single_page_app_navigation_sends_the_previous_pages_engagement(page, site, capture):
    opt_in(site, capture)
    page.clock.install()
    load(page, capture, site.url("/app.html"))
    page.mouse.move(50, 50)
    page.clock.run_for(4_000)
    # WHEN the app moves to its settings page
    page.click("#to-settings")
    # THEN the dashboard's engagement is sent, then the new page view
    [engagement] = wait_for_type(page, capture, "engagement")
    views = wait_for_type(page, capture, "page_view", 2)
    assert engagement["page_url"] == site.url("/app.html")
    assert 3 <= engagement["props"]["engaged_seconds"] <= 5
    assert engagement["props"]["scroll_depth"] == 100, "the whole short page was in view"
    assert views[1]["page_url"] == site.url("/app/settings")
    assert engagement["timestamp"] <= views[1]["timestamp"]
    # AND the settings page measures afresh
    page.mouse.move(60, 60)
    page.clock.run_for(2_000)
    hide(page)
    second = wait_for_type(page, capture, "engagement", 2)[1]
    assert second["page_url"] == site.url("/app/settings")
    assert 1 <= second["props"]["engaged_seconds"] <= 3


# --- none of it without the opt-in ---------------------------------------------------


def test_without_the_attributes_links_and_404s_send_only_page_views(context, page, site, capture, elsewhere):
    # GIVEN the tracker with no data-outbound, data-downloads or data-404
    opt_in(site, capture)
    load(page, capture, site.url("/links.html"))
    # WHEN the visitor opens the partner in a new tab, the docs (target=_blank), and the report
    page.click("#partner", button="middle")
    page.click("#docs")
    page.click("#report")
    wait_for_type(page, capture, "page_view", 1)
    settle(page, 1.0)
    # THEN nothing but page views (and engagement, which is always measured) is sent
    assert len(context.pages) == 3 and page.url.endswith("/files/report-2026.PDF?v=3"), "two new tabs, a file"
    assert {e["event_type"] for e in capture.events} == {"page_view"}
    assert of_type(capture, "page_view")[0]["page_url"] == site.url("/links.html")


def test_the_options_are_read_without_document_current_script(page, site, capture, elsewhere):
    # GIVEN the tag loaded as a module (no document.currentScript), found by its data-api
    opt_in(site, capture, data_outbound=True, data_downloads="pdf", type="module")
    load(page, capture, site.url("/links.html"))
    assert page.evaluate("document.currentScript") is None
    # WHEN the visitor opens the report in a new tab and follows the partner's link
    page.click("#report", button="middle")
    page.click("#partner")
    # THEN both automatic events are sent
    wait_for_type(page, capture, "download")
    wait_for_type(page, capture, "outbound_click")
