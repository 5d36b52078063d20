"""The hostile-labels corpus: what a stranger can send the public collector to become markup elsewhere.

One list of events (`EVENTS`), sent through POST /api/events by the dashboard, kiosk, browser and
report tests alike, whose page paths, sources (`utm_source`), campaigns, referrers and event types
carry Markdown links and images, HTML, `javascript:` URLs, bidi controls, formula prefixes and
Slack mentions. `labels(answer)` picks out of an API answer the labels that came from the corpus,
and `shown(markdown)` renders Markdown as a CommonMark parser with GitHub's autolinks does, to read
what a user would see.
"""
from __future__ import annotations

import html
import re
import time
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

SITE = "shop.example.com"
EVIL = "evil.example"
# Every label of the corpus carries one of these, so a label in an answer is recognised as the corpus's.
MARKERS = ("evil", "alert", "HYPERLINK", "SUM(", "\u202e", "channel", "bold", "red[", "cmd", "$x")

PATHS = [
    f"/[click here](https://{EVIL}/phish)",
    f"/![pixel](https://{EVIL}/pixel.png)",
    f"/<img src=https://{EVIL}/img.png>",
    "/<script>alert(1)</script>",
    '/<a href="javascript:alert(1)">x</a>',
    "/javascript:alert(1)",
    f"/https://{EVIL}/autolink www.{EVIL}",
    "/invoice\u202efdp.exe",
    '/=HYPERLINK("https://evil.example","x")',
    "/**bold** _x_ :red[alert] $x^2$",
]
SOURCES = [  # utm_source
    f"[Google](https://{EVIL}/g)",
    "<!channel> <@U024BE7LH> <https://evil.example|bank>",
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd",
    "+cmd",
    "-cmd",
]
CAMPAIGNS = [  # utm_campaign
    f"<b>bold</b>![c](https://{EVIL}/c.png)",
    "\tcmd tab",
    "\u202ealert-reversed",
]
EVENT_TYPES = ["javascript:alert", "-cmd", ":rotating_light:alert"]  # the event model allows [A-Za-z0-9_.:-]
REFERRERS = [f"https://{EVIL}/ref?q=<img>"]  # stored as its host only


def page_url(path: str, **query: str) -> str:
    """The URL of `path` as a stranger sends it: not encoded the way a browser would (only spaces are)."""
    url = f"https://{SITE}{path.replace(' ', '%20')}"
    if query:
        url += "?" + "&".join(f"{name}={quote(value, safe='')}" for name, value in query.items())
    return url


def events(now: float | None = None) -> list[dict[str, Any]]:
    """The corpus as events of a few minutes ago, one visit per label so that each is counted."""
    now = time.time() if now is None else now
    out: list[dict[str, Any]] = []

    def view(i: int, url: str, **extra: Any) -> None:
        out.append({"event_type": "page_view", "session_id": f"hostile-{i}", "timestamp": now - 120 + i,
                    "page_url": url, **extra})

    for i, path in enumerate(PATHS):
        view(i, page_url(path))
    for i, source in enumerate(SOURCES, start=100):
        view(i, page_url("/landing", utm_source=source))
    for i, campaign in enumerate(CAMPAIGNS, start=200):
        view(i, page_url("/landing", utm_source="newsletter", utm_campaign=campaign))
    for i, referrer in enumerate(REFERRERS, start=300):
        view(i, page_url("/landing"), referrer=referrer)
    for i, event_type in enumerate(EVENT_TYPES, start=400):
        out.append({"event_type": event_type, "session_id": f"hostile-{i}", "timestamp": now - 60 + i - 400,
                    "page_url": page_url(PATHS[0])})
    return out


def is_hostile(label: Any) -> bool:
    return isinstance(label, str) and any(marker in label for marker in MARKERS)


# Where each API answer names collected text: (field, column).
STATS_LABELS = (("pages", "page"), ("entry_pages", "page"), ("sources", "source"), ("referrers", "referrer"),
                ("campaigns", "campaign"), ("event_types", "event_type"))
REALTIME_LABELS = (("top_pages", "page"), ("top_referrers", "source"), ("event_types", "event_type"),
                   ("recent_events", "page"), ("recent_events", "source"), ("recent_events", "event_type"))


def labels(answer: dict[str, Any], fields: tuple[tuple[str, str], ...], rows: int | None = None) -> set[str]:
    """The corpus's labels in an API answer's `fields` (only the first `rows` rows of each, when given)."""
    found = set()
    for field, column in fields:
        for row in (answer.get(field) or [])[:rows]:
            if is_hostile(row.get(column)):
                found.add(row[column])
    return found


def as_seen(label: str) -> str:
    """How a label must read on screen: literally, with reordering controls shown as their code point."""
    return label.replace("\u202e", "[U+202E]").replace("\t", "[U+0009]")


# --- what Markdown shows ------------------------------------------------------------------

DANGEROUS_TAGS = frozenset({"a", "img", "script", "iframe", "object", "embed", "svg", "style", "link", "form",
                            "input", "button", "video", "audio", "source", "b", "i", "u", "span", "div"})


def _markdown():
    from markdown_it import MarkdownIt

    # GitHub-flavoured as Streamlit's renderer is: tables, strikethrough and bare-URL autolinks, raw HTML on.
    return MarkdownIt("gfm-like", {"html": True, "linkify": True})


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.text: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        self.attributes += [value or "" for _, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def render(markdown: str) -> _Reader:
    reader = _Reader()
    reader.feed(_markdown().render(markdown))
    reader.close()
    return reader


WORD_JOINER = "\u2060"  # invisible: what the dashboard puts in a URL so that it is not made a link


def seen(text: str) -> str:
    """Text as a reader sees it: invisible word joiners dropped, whitespace runs as one space."""
    return re.sub(r"\s+", " ", text.replace(WORD_JOINER, "")).strip()


def shown(markdown: str) -> str:
    """The text a reader sees of `markdown` (tags dropped, entities decoded, whitespace runs as one space)."""
    return seen(html.unescape("".join(render(markdown).text)))


def markup_from(markdown: str) -> set[str]:
    """The elements `markdown` makes that text cannot: links, images, scripts, raw HTML tags."""
    return render(markdown).tags & DANGEROUS_TAGS
