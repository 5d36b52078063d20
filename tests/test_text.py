"""Collected text is text: liveinsight/dashboard/text.py, and the hostile-labels corpus (tests/hostile.py)
sent through the collector into every dashboard page and kiosk screen, with AppTest.

The same corpus in a real Chromium: test_browser.py; in reports and alerts: test_reports.py.
"""
from __future__ import annotations

import csv
import html
import io
import json
import re
import threading
import time
from dataclasses import replace

import pandas as pd
import pytest
import streamlit as st

from liveinsight.dashboard import text, ui
from liveinsight.dashboard.client import Client
from tests import hostile
from tests.test_dashboard import ALL_PAGES, PAGES, chart_spec, charts, open_page

ALL_LABELS = [*hostile.PATHS, *hostile.SOURCES, *hostile.CAMPAIGNS, *hostile.EVENT_TYPES]


# --- the helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize("label", ALL_LABELS)
def test_plain_text_reads_literally_and_makes_no_markup(label):
    source = text.plain(label)

    assert hostile.markup_from(source) == set()
    assert hostile.shown(source) == hostile.seen(hostile.as_seen(label))


@pytest.mark.parametrize("label", [hostile.PATHS[0], hostile.PATHS[6], hostile.SOURCES[1], "x@evil.example"])
def test_plain_text_leaves_no_bare_url_or_address_that_streamlit_would_link(label):
    # Streamlit links bare URLs after parsing, escaped or not (the Chromium test caught it in st.table cells).
    assert not re.search(r"(?i)(https?:|www\\?\.|@[a-z])", text.plain(label).replace("\\", ""))
    assert hostile.shown(text.plain(label)) == hostile.seen(label)


@pytest.mark.parametrize("label, markup", [
    pytest.param(hostile.PATHS[0], {"a"}, id="markdown-link"),
    pytest.param(hostile.PATHS[1], {"img"}, id="markdown-image"),
    pytest.param(hostile.PATHS[2], {"img"}, id="html-image"),
    pytest.param(hostile.PATHS[3], {"script"}, id="script"),
    pytest.param(hostile.PATHS[6], {"a"}, id="bare-url"),
    pytest.param(hostile.CAMPAIGNS[0], {"b", "img"}, id="html-and-image"),
])
def test_the_corpus_is_markup_when_not_made_plain(label, markup):
    # The parser the tests read Markdown with sees the danger, so its "no markup" above means something.
    assert hostile.markup_from(label) == markup


@pytest.mark.parametrize("label", ALL_LABELS)
def test_chart_text_draws_no_tag_and_reads_literally(label):
    shown = text.chart_text(label)

    assert "<" not in shown and ">" not in shown
    assert html.unescape(shown) == hostile.as_seen(label)


def test_bidi_controls_and_other_hidden_characters_show_as_code_points():
    assert text.visible("/invoice\u202efdp.exe") == "/invoice[U+202E]fdp.exe"
    assert text.visible("a\u2066b\u200fc\x07") == "a[U+2066]b[U+200F]c[U+0007]"
    assert text.visible("👩\u200d💻 /café") == "👩\u200d💻 /café"  # joiners of emoji and accents are text


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"https://evil.example\",\"x\")", "+cmd", "-cmd", "@SUM(1+1)",
                                  "\tcmd", "\rcmd"])
def test_a_csv_cell_a_spreadsheet_would_run_is_text(cell):
    frame = pd.DataFrame({"source": [cell, "Google"], "sessions": [-3, 4]})

    rows = list(csv.reader(io.StringIO(text.csv_bytes(frame).decode(), newline="")))

    assert rows == [["source", "sessions"], ["'" + cell, "-3"], ["Google", "4"]]


# --- through the collector into every page and kiosk screen -------------------------------


@pytest.fixture
def hostile_stack(backend, monkeypatch):
    """GIVEN the corpus sent through POST /api/events and aggregated, and the dashboard reading that API over HTTP."""
    from liveinsight import handler
    from liveinsight.local.server import Gateway, GatewayServer

    handler.configure(replace(backend.store.settings, share_secret=SHARE_SECRET), backend.store)
    status, payload = backend.post({"events": hostile.events()})
    assert status == 200 and payload["data"]["accepted"] == len(hostile.events()), payload
    backend.aggregate()
    server = GatewayServer(("127.0.0.1", 0), type("HostileGateway", (Gateway,),
                                                  {"handler": staticmethod(backend.handler)}))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("LIVEINSIGHT_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("LIVEINSIGHT_API_KEY", raising=False)
    monkeypatch.setattr(ui, "client_factory", Client)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield backend
    st.cache_data.clear()
    st.cache_resource.clear()
    server.shutdown()
    server.server_close()


SHARE_SECRET = "hostile-test-share-secret"
# What each page shows of an answer: (API route, fields).
PAGE_FIELDS = {
    "overview": ("/api/stats", (("pages", "page"), ("sources", "source"))),
    "realtime": ("/api/realtime", hostile.REALTIME_LABELS),
    "sources": ("/api/stats", (("sources", "source"), ("referrers", "referrer"), ("campaigns", "campaign"))),
    "pages": ("/api/stats", (("pages", "page"), ("entry_pages", "page"))),
    "events": ("/api/stats", (("event_types", "event_type"),)),
    "devices": ("/api/stats", ()),
    # Places come only from the deployment's CDN or a time zone's country, never from what a sender
    # writes: the hostile place names of test_dashboard's Locations AppTest stand in for them.
    "locations": ("/api/stats", ()),
    # Goals and funnels are named by the team (Settings), not by senders; the corpus's pages and sources
    # must still draw no markup there.
    "goals": ("/api/stats", ()),
    "funnels": ("/api/stats", ()),
}
MARKDOWN_ELEMENTS = ("markdown", "caption", "info", "warning", "error", "success", "title", "header", "subheader")


def markdown_sources(at) -> list[str]:
    """Every string the page hands Streamlit as Markdown: texts, alerts, headings and st.table cells."""
    sources = [str(e.value) for kind in MARKDOWN_ELEMENTS for e in getattr(at, kind)]
    for table in at.table:
        sources += [str(cell) for cell in table.value.to_numpy().ravel()]
    return sources


def dataframe_texts(at) -> list[str]:
    return [str(cell) for frame in at.dataframe for cell in frame.value.to_numpy().ravel()]


def expected_labels(backend, name: str, kiosk: bool) -> set[str]:
    route, fields = PAGE_FIELDS[name]
    status, payload = backend.get(route)
    assert status == 200, payload
    return hostile.labels(payload["data"], fields, rows=5 if kiosk else None)


def tags_drawn_by_charts(at) -> list[str]:
    """Tags plotly would draw from the figures' text (titles, labels, legends, hovers)."""
    found = []
    for chart in charts(at):
        spec = json.dumps(chart_spec(chart)).replace("<extra></extra>", "")
        found += re.findall(r"<\s*(a|img|script|b|i|span|br|sup|sub)\b", spec, flags=re.IGNORECASE)
    return found


@pytest.mark.parametrize("kiosk", [pytest.param(False, id="page"), pytest.param(True, id="kiosk")])
@pytest.mark.parametrize("page", ALL_PAGES)
def test_the_corpus_reads_literally_on_every_page_and_kiosk_screen(hostile_stack, page, kiosk):
    name = next(key for key, path in PAGES.items() if path == page)

    at = open_page(page, {"kiosk": "1"} if kiosk else {})

    sources = markdown_sources(at)
    # THEN nothing collected becomes a link, an image, a script or any other element
    assert {source: hostile.markup_from(source) for source in sources if hostile.markup_from(source)} == {}
    assert tags_drawn_by_charts(at) == []
    # AND every label the page shows reads as it was sent
    seen = [hostile.shown(source) for source in sources] + dataframe_texts(at)
    expected = expected_labels(hostile_stack, name, kiosk)
    assert expected or name in ("devices", "locations", "goals", "funnels")
    assert sorted(label for label in expected if not any(hostile.seen(hostile.as_seen(label)) in hostile.seen(s)
                                                         for s in seen)) == []
    if kiosk:  # (the corpus spans sites: Goals and Funnels ask for one, with no table)
        assert (at.table or name in ("goals", "funnels")) and not at.dataframe


@pytest.mark.parametrize("page", [PAGES["overview"], PAGES["pages"], PAGES["realtime"], PAGES["sources"]])
def test_hostile_filters_in_the_url_read_literally_in_captions_banners_and_titles(hostile_stack, page):
    query = {"page": hostile.PATHS[0]} if page != PAGES["sources"] else {"source": hostile.SOURCES[0]}

    at = open_page(page, query)

    sources = markdown_sources(at)
    assert {source: hostile.markup_from(source) for source in sources if hostile.markup_from(source)} == {}
    assert tags_drawn_by_charts(at) == []
    value = next(iter(query.values()))
    assert any(value in hostile.shown(source) for source in sources), sources


def test_a_hostile_rotate_list_is_named_literally_in_the_kiosk_warning(hostile_stack):
    rotate = "overview,[pages](https://evil.example/x),<img src=https://evil.example/i.png>"

    at = open_page(PAGES["overview"], {"kiosk": "1", "rotate": rotate, "every": "![a](https://evil.example/e.png)"})

    warnings = [str(w.value) for w in at.warning]
    assert len(warnings) == 2
    assert [hostile.markup_from(w) for w in warnings] == [set(), set()]
    shown = " ".join(hostile.shown(w) for w in warnings)
    assert "'[pages](https://evil.example/x)'" in shown and "'<img src=https://evil.example/i.png>'" in shown
    assert "'![a](https://evil.example/e.png)'" in shown


def forged_token(site: str, **scope) -> str:
    """A share token whose payload says what an attacker wants, signed with a secret the deployment does not have."""
    from liveinsight import share

    return share.mint("not-the-deployments-secret", site, time.time() + 86400, **scope)


def test_a_forged_share_link_draws_nothing_from_its_payload(hostile_stack):
    # GIVEN a token whose payload names a page of Markdown and HTML (anyone can write a payload)
    forged = forged_token("shop.example.com", page="[Log in again](https://evil.example/login) <img src=x>")

    at = open_page(PAGES["overview"], {"share": forged})

    # THEN the API's refusal is shown, and nothing the payload says: no banner, no page name
    assert "This share link does not open this view." in hostile.shown(str(at.error[0].value))
    assert "invalid share link" in hostile.shown(str(at.error[0].value))
    everything = " ".join(markdown_sources(at))
    assert "evil.example" not in everything and "Log in again" not in everything
    assert not at.info and not charts(at)


def test_a_genuine_share_links_banner_shows_its_verified_scope_literally(hostile_stack):
    from liveinsight import share

    link = share.mint(SHARE_SECRET, "shop.example.com", time.time() + 86400, page=hostile.PATHS[0], period="24h")

    at = open_page(PAGES["overview"], {"share": link})

    banner = str(at.info[0].value)
    assert hostile.markup_from(banner) == set()
    assert hostile.shown(banner).startswith(f"Shared view of shop.example.com · page {hostile.PATHS[0]} · "
                                            "up to the last 24h · expires ")
