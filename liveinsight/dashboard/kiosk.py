"""Presentation (kiosk) mode for demos and office screens: `?kiosk=1&rotate=overview,realtime&every=20`.

The URL is the screen's whole configuration. In kiosk mode the dashboard draws no sidebar and
none of Streamlit's chrome, uses large type, reruns itself to stay live, and, with `rotate`,
switches to the next listed page every `every` seconds, keeping the query string (kiosk
settings and filters alike).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from liveinsight.config import EVERY_PARAM, KIOSK_PARAM, ROTATE_PARAM
from liveinsight.dashboard import text, zone

ON_VALUES = frozenset({"1", "true", "yes", "on"})
DEFAULT_EVERY_SECONDS = 30
MIN_EVERY_SECONDS = 5  # Less and the room cannot read a page before it goes.
MAX_EVERY_SECONDS = 3600
# A screen reruns at least this often to stay live; the stats are cached for 10 s anyway.
REFRESH_SECONDS = 15
# A fragment's timer keeps its own beat, so a tick can come a little less than a tick after
# the app run it follows (that run started after the tick before).
TIMER_SLACK_SECONDS = 1.0

# Large type, readable across a room on a 1080p screen.
CHART_FONT_SIZE = 20
COMPARISON_LINE_WIDTH = 3  # a dashed comparison line (Overview) stays visible across the room
CHART_TITLE_SIZE = 28
CHART_HEIGHT = 380  # With the KPI row and five-row tables, the Overview fits 1080 pixels.
DONUT_HEIGHT = 500  # Three in a row (Devices) still leave room for their tables.
TABLE_ROWS = 5
BAR_ROW_PIXELS = 40  # A bar chart's row in CHART_FONT_SIZE type; any less and plotly skips every other label.
LABEL_CLASS = "liveinsight-kiosk-label"
CSS = f"""
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], [data-testid="stMainMenu"], [data-testid="stAppDeployButton"],
footer {{ display: none !important; }}
[data-testid="stMainBlockContainer"] {{ padding: 0.75rem 2.5rem 0.5rem; max-width: 100%; }}
[data-testid="stMain"] h1 {{ font-size: 3rem; padding-top: 0; }}
[data-testid="stMain"] h2, [data-testid="stMain"] h3 {{ font-size: 2rem; }}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {{ font-size: 1.4rem; }}
[data-testid="stMetricLabel"] p {{ font-size: 1.6rem !important; }}
[data-testid="stMetricValue"] {{ font-size: 4.5rem !important; line-height: 1.1; }}
[data-testid="stMetricDelta"] {{ font-size: 1.5rem !important; }}
[data-testid="stMetricDelta"] svg {{ width: 1.6rem; height: 1.6rem; }}
[data-testid="stTable"] th, [data-testid="stTable"] td {{ font-size: 1.35rem; padding: 0.25rem 0.75rem; }}
/* Counts line up on the right; Streamlit writes each cell's alignment inline, hence !important. */
[data-testid="stTable"] :is(th, td):not(:first-child) {{ text-align: right !important; }}
.{LABEL_CLASS} {{
  position: fixed; right: 2.5rem; top: 1.2rem; z-index: 1000; font-size: 1.2rem; color: #666;
}}
</style>
"""

clock: Callable[[], float] = time.monotonic  # Tests move time forward.
wall_clock: Callable[[], float] = time.time  # The corner label's "updated" time; tests fix it.


@dataclass(frozen=True)
class Kiosk:
    """What the query string asks of a kiosk screen: the pages to rotate through, how often, and what was wrong."""

    rotate: tuple[Any, ...] = ()
    every: int = DEFAULT_EVERY_SECONDS
    problems: tuple[str, ...] = ()

    def next_page(self, current: Any) -> Any | None:
        """The page to show after `current`; None when there is nothing to rotate to."""
        if not self.rotate or self.rotate == (current,):
            return None
        if current not in self.rotate:
            return self.rotate[0]
        return self.rotate[(self.rotate.index(current) + 1) % len(self.rotate)]

    @property
    def tick_seconds(self) -> float:
        """How often the screen reruns: at least every REFRESH_SECONDS, and exactly on each rotation."""
        if len(self.rotate) < 2:
            return REFRESH_SECONDS
        return self.every / math.ceil(self.every / REFRESH_SECONDS)


def is_on(params: Mapping[str, str]) -> bool:
    """True when the query string asks for kiosk mode (`kiosk=1`, `true`, `yes` or `on`)."""
    return str(params.get(KIOSK_PARAM, "")).strip().lower() in ON_VALUES


def normalise(name: str) -> str:
    """"Top Pages", "top-pages" and "/top_pages" all read as "top_pages"."""
    return name.strip().strip("/").lower().replace("-", "_").replace(" ", "_")


def parse(params: Mapping[str, str], pages: Mapping[str, Any]) -> Kiosk:
    """The kiosk settings in `params`; `pages` maps each accepted page name (normalised) to its page.

    Unknown page names and a bad `every` are reported in `problems` and left out, so a
    screen with one typo still shows what it can.
    """
    problems = []
    rotate, unknown = [], []
    for name in filter(None, (part.strip() for part in str(params.get(ROTATE_PARAM, "")).split(","))):
        page = pages.get(normalise(name))
        if page is None:
            unknown.append(name)
        elif page not in rotate:
            rotate.append(page)
    if unknown:
        first_names: dict[int, str] = {}
        for name, page in pages.items():
            first_names.setdefault(id(page), name)
        names = ", ".join(first_names.values())
        problems.append(f"`{ROTATE_PARAM}`: no page named {', '.join(text.plain(repr(name)) for name in unknown)}; "
                        f"choose from {names}.")
    every = DEFAULT_EVERY_SECONDS
    raw_every = str(params.get(EVERY_PARAM, "")).strip()
    if raw_every:
        try:
            every = int(float(raw_every.removesuffix("s")))
        except ValueError:
            every = 0
        if not MIN_EVERY_SECONDS <= every <= MAX_EVERY_SECONDS:
            problems.append(f"`{EVERY_PARAM}`: {text.plain(repr(raw_every))} is not a number of seconds between "
                            f"{MIN_EVERY_SECONDS} and {MAX_EVERY_SECONDS}; showing each page for "
                            f"{DEFAULT_EVERY_SECONDS} s.")
            every = DEFAULT_EVERY_SECONDS
    return Kiosk(tuple(rotate), every, tuple(problems))


def styled(figure: go.Figure) -> go.Figure:
    """The figure in large type and taller, for a screen across the room.

    Every size is set where it applies: Streamlit's chart theme sets each of them, so a
    layout-wide font size alone would not reach the ticks, axis titles or legend.
    """
    big = dict(size=CHART_FONT_SIZE)
    rows = max((len(trace.y) for trace in figure.data if trace.type == "bar" and trace.orientation == "h"), default=0)
    figure.update_layout(font=big, title_font=dict(size=CHART_TITLE_SIZE), legend_font=big, hoverlabel_font=big,
                         height=max(CHART_HEIGHT, BAR_ROW_PIXELS * rows + 130), margin=dict(l=12, r=12, t=80, b=12))
    figure.update_xaxes(tickfont=big, title_font=big)
    figure.update_yaxes(tickfont=big, title_font=big)
    if any(trace.type == "pie" for trace in figure.data):  # Thin slices lose their label rather than shrink it.
        figure.update_layout(uniformtext=dict(minsize=CHART_FONT_SIZE - 4, mode="hide"), height=DONUT_HEIGHT,
                             margin_t=12 if not figure.layout.title.text else 80)
    figure.update_traces(line_width=COMPARISON_LINE_WIDTH, selector=dict(type="scatter", line_dash="dash"))
    return figure.update_traces(textfont=big, selector=dict(type="pie"))


# --- in the app -----------------------------------------------------------------------


def active() -> bool:
    """True when this run shows a kiosk screen."""
    return is_on(st.query_params)


def page_names(pages: Iterable[Any]) -> dict[str, Any]:
    """Every name a `rotate` list may use for each st.Page: its title and its URL path."""
    names: dict[str, Any] = {}
    for page in pages:
        for name in (page.title, page.url_path):
            if name:
                names.setdefault(normalise(name), page)
    return names


def show(pages: list[Any], current: Any) -> Kiosk:
    """Set up the kiosk screen around `current` (st.navigation's page): style, problems, timer; after the page,
    `label` draws the corner label."""
    settings = parse(st.query_params, page_names(pages))
    st.html(CSS)
    for problem in settings.problems:
        st.warning(problem, icon=":material/tune:")
    zone.forget()  # the page notes its answers' zone for `label`

    now = clock()
    shown = st.session_state.get("_kiosk_shown")
    if not shown or shown[0] != current.url_path:
        st.session_state["_kiosk_shown"] = shown = (current.url_path, now)
    st.session_state["_kiosk_run_at"] = now
    _rotate_or_refresh(settings, current, shown_at=shown[1])
    return settings


def label(caption: str) -> None:
    """The corner label, "`caption` · updated 14:05:09 EST", so the room sees the screen is live: on the clock
    of the site the page showed (UTC for all sites together). Drawn after the page, which notes its zone."""
    updated = zone.clock_label(zone.now_in(zone.shown(), wall_clock()))
    st.html(f'<div class="{LABEL_CLASS}">{escape(text.visible(caption))} · updated {updated}</div>')


def _rotate_or_refresh(settings: Kiosk, current: Any, shown_at: float) -> None:
    @st.fragment(run_every=settings.tick_seconds)
    def timer() -> None:
        now = clock()
        following = settings.next_page(current)
        if following is not None and now - shown_at >= settings.every - TIMER_SLACK_SECONDS:
            st.switch_page(following, query_params=st.query_params.to_dict())
        # On the app's own run the fragment runs too: only a timer tick reruns the app.
        if now - st.session_state["_kiosk_run_at"] >= settings.tick_seconds - TIMER_SLACK_SECONDS:
            st.rerun(scope="app")

    timer()
