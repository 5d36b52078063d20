"""A site's definitions: page groups, goals and funnels — their shapes, the page-group pattern rule,
and the pure functions the aggregator and the readers ask them with.

    pk = "<site>#def", sk = "def"      one item per site: `v` version, `d` the definitions as JSON
    pk = "#recount", sk = "<site>"     one per site that ever stored a definition: where the recount
                                       job (liveinsight/recount.py) looks for definitions to recount

One small item per site (bounded by config.MAX_PAGE_GROUPS, MAX_GOALS, MAX_FUNNELS: tens of
kilobytes at most), so the aggregator reads a site's definitions with one GetItem and a write is
conditional on `v` (liveinsight/definitions.py validates and writes them). The definitions
seeded at deploy time (LIVEINSIGHT_DEFINITIONS) are never stored: they are merged in when read,
and a stored definition of the same name wins.

A page-group pattern is matched against cleaned page paths (liveinsight/ingest/enrich.py: no
query or fragment, no trailing slash except the root `/`): `*` is exactly one path segment (in
part of a segment, `shoe-*`, any characters but `/`), `**` any number of segments including none,
everything else is literal. `/products/*`, `/blog/**` (also `/blog` itself), `/checkout/*/done`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable, Iterable
from urllib.parse import quote

from .. import config
from .events import PAGE_VIEW

PAGE_GROUPS, GOALS, FUNNELS = "page_groups", "goals", "funnels"
KINDS = (PAGE_GROUPS, GOALS, FUNNELS)
SORT_KEY = "def"
PENDING_PARTITION = "#recount"
VERSION = "v"  # Store.put_versioned's attribute
BODY = "d"
ANY_SEGMENT, ANY_SEGMENTS = "*", "**"
MIN_STEPS, MAX_STEPS = 2, 8


def key(site: str) -> dict[str, str]:
    """The key of a site's definitions item."""
    return {"pk": f"{site}#{SORT_KEY}", "sk": SORT_KEY}


# --- the pattern rule -------------------------------------------------------------------------

Matcher = Callable[[str], bool]


def pattern_problem(pattern: Any) -> str | None:
    """Why `pattern` could never match a cleaned page path (or is not a pattern), or None when it is fine."""
    if not isinstance(pattern, str) or not pattern:
        return "must be a path such as /products/* (a string starting with /)"
    if len(pattern) > config.MAX_PATTERN_CHARS:
        return f"has {len(pattern)} characters; at most {config.MAX_PATTERN_CHARS}"
    if not pattern.startswith("/"):
        return f"must start with / (a page path such as /products/*), not {pattern[:40]!r}"
    for char, what in (("?", "a query"), ("#", "a fragment")):
        if char in pattern:
            return (f"contains {char!r}: page paths are stored without {what}, so it could never match; "
                    "match the path only")
    if any(c.isspace() for c in pattern) or not pattern.isprintable():
        return "contains whitespace or control characters: stored page paths never have them"
    if pattern == "/":
        return None
    if pattern.endswith("/"):
        return (f"ends with /: page paths are stored without a trailing slash (but the root /), so it could "
                f"never match; use {pattern.rstrip('/') or '/'} or {pattern.rstrip('/')}/**")
    for segment in pattern[1:].split("/"):
        if not segment:
            return "has an empty segment (//): use * for one segment or ** for any number"
        if "***" in segment:
            return "has ***: use * for one segment or ** for any number of segments"
        if "**" in segment and segment != ANY_SEGMENTS:
            return f"has ** inside the segment {segment!r}: ** stands for whole segments (/blog/**)"
    return None


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Matcher:
    """A function telling whether a cleaned page path matches `pattern` (ValueError if it is no pattern)."""
    problem = pattern_problem(pattern)
    if problem:
        raise ValueError(f"the pattern {problem}")
    parts = []
    for segment in ([] if pattern == "/" else pattern[1:].split("/")):
        if segment == ANY_SEGMENTS:
            parts.append("(?:/[^/]*)*")
        elif segment == ANY_SEGMENT:
            parts.append("/[^/]+")
        else:
            # Stored paths keep the browser's percent-encoding: /café is /caf%C3%A9.
            literal = "".join(quote(c, safe="") if ord(c) > 127 else c for c in segment)
            parts.append("/" + "[^/]*".join(re.escape(piece) for piece in literal.split(ANY_SEGMENT)))
    regex = re.compile("".join(parts))
    # The root is no segment at all: "/**" matches it, "/*" does not.
    return lambda path: regex.fullmatch("" if path == "/" else path) is not None


def matches(pattern: str, path: str | None) -> bool:
    """Whether the cleaned page path `path` matches `pattern` (a plain path matches only itself)."""
    return path is not None and compile_pattern(pattern)(path)


# --- shapes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageGroup:
    """A named path pattern, counted as its own dimension."""

    name: str
    pattern: str
    since: int = 0  # epoch seconds from when the aggregator counts it as events arrive (0: from the start)
    seeded: bool = False  # from LIVEINSIGHT_DEFINITIONS, not stored
    # Epoch seconds of the oldest event its counts hold: 0 from the start (seeded), else the oldest raw event
    # the recount job found (liveinsight/recount.py), `since` when there was none; None while that is pending.
    counted_from: int | None = None

    def body(self) -> dict[str, Any]:
        return {"pattern": self.pattern}

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.body(), **_counting(self)}


@dataclass(frozen=True)
class Revenue:
    """The numeric event property a goal's conversions carry as revenue, and its currency (ISO 4217)."""

    property: str
    currency: str

    def as_dict(self) -> dict[str, str]:
        return {"property": self.property, "currency": self.currency}


@dataclass(frozen=True)
class Goal:
    """A conversion: a custom event type (optionally with property values), a page, or a page group visited."""

    name: str
    event_type: str | None = None
    page: str | None = None  # a path or a pattern
    page_group: str | None = None
    props: dict[str, Any] = field(default_factory=dict)  # only with event_type: every key must have its value
    revenue: Revenue | None = None  # only with event_type
    since: int = 0
    seeded: bool = False
    counted_from: int | None = None

    def body(self) -> dict[str, Any]:
        return {"event_type": self.event_type, "page": self.page, "page_group": self.page_group,
                "props": dict(self.props), "revenue": self.revenue.as_dict() if self.revenue else None}

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.body(), **_counting(self)}


@dataclass(frozen=True)
class Funnel:
    """2-8 goals in order."""

    name: str
    steps: tuple[str, ...]
    since: int = 0
    seeded: bool = False
    counted_from: int | None = None

    def progress(self, hits: Iterable[Iterable[str]], reached: int = 0) -> int:
        """How many steps a visit has reached in order, given the goals each of its events converts, in time order.

        Each event takes the visit at most one step further (the next step's goal among its hits),
        so one event never completes two steps; `reached` continues from steps already reached.
        """
        for goals in hits:
            if reached < len(self.steps) and self.steps[reached] in goals:
                reached += 1
        return reached

    def body(self) -> dict[str, Any]:
        return {"steps": list(self.steps)}

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.body(), **_counting(self)}


Definition = PageGroup | Goal | Funnel


def _counting(definition: Definition) -> dict[str, Any]:
    """From when a definition counts, as the API says it (openapi.yaml `Since`, `CountedFrom`)."""
    return {"since": definition.since, "seeded": definition.seeded, "counted_from": definition.counted_from}


def recount_tag(kind: str, name: str, since: int) -> str:
    """What a visit remembers of a definition recounted over its raw events (`SessionState.recounted`)."""
    return f"{kind}\t{name}\t{since}"


def pending_key(site: str) -> dict[str, str]:
    """The key of a site's entry in the recount job's list (`pk = "#recount"`: never a site's)."""
    return {"pk": PENDING_PARTITION, "sk": site}


def from_dict(kind: str, data: dict[str, Any]) -> Definition:
    """A definition from its stored (or already validated) shape."""
    counted_from = data.get("counted_from")
    common = {"name": str(data["name"]), "since": int(data.get("since") or 0), "seeded": bool(data.get("seeded")),
              "counted_from": None if counted_from is None else int(counted_from)}
    if kind == PAGE_GROUPS:
        return PageGroup(pattern=str(data["pattern"]), **common)
    if kind == GOALS:
        revenue = data.get("revenue")
        return Goal(event_type=data.get("event_type"), page=data.get("page"), page_group=data.get("page_group"),
                    props=dict(data.get("props") or {}),
                    revenue=Revenue(str(revenue["property"]), str(revenue["currency"])) if revenue else None,
                    **common)
    if kind == FUNNELS:
        return Funnel(steps=tuple(str(step) for step in data["steps"]), **common)
    raise ValueError(f"unknown kind {kind!r}; accepted: {', '.join(KINDS)}")


def prop_text(value: Any) -> str:
    """A property value as a goal compares it: JSON's spelling of booleans, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Definitions:
    """One site's page groups, goals and funnels, and the version of its stored item."""

    site: str
    page_groups: tuple[PageGroup, ...] = ()
    goals: tuple[Goal, ...] = ()
    funnels: tuple[Funnel, ...] = ()
    version: int = 0  # bumped on every stored change; 0: nothing stored (only seeds, if any)

    # -- reading -------------------------------------------------------------------------------

    def of(self, kind: str) -> tuple[Definition, ...]:
        return getattr(self, kind)

    def find(self, kind: str, name: str) -> Definition | None:
        return next((d for d in self.of(kind) if d.name == name), None)

    def group(self, name: str) -> PageGroup | None:
        return self.find(PAGE_GROUPS, name)  # type: ignore[return-value]

    def goal(self, name: str) -> Goal | None:
        return self.find(GOALS, name)  # type: ignore[return-value]

    def funnel(self, name: str) -> Funnel | None:
        return self.find(FUNNELS, name)  # type: ignore[return-value]

    def __bool__(self) -> bool:
        return bool(self.page_groups or self.goals or self.funnels)

    # -- asking ---------------------------------------------------------------------------------

    def groups_of(self, path: str | None) -> list[str]:
        """The names of the page groups whose pattern matches the cleaned page path `path`."""
        if path is None:
            return []
        return [group.name for group in self.page_groups if compile_pattern(group.pattern)(path)]

    def goal_hit(self, goal: Goal, event: dict[str, Any]) -> bool:
        """Whether `event` (event_type, page, props, as the aggregator reads it) converts `goal`.

        A page or page-group goal is converted by a page view of a matching page (never by the
        tracker's engagement reports); an event goal by an event of its type carrying every
        property value it names.
        """
        if goal.event_type is not None:
            if event.get("event_type") != goal.event_type:
                return False
            props = event.get("props") or {}
            return all(name in props and prop_text(props[name]) == prop_text(value)
                       for name, value in goal.props.items())
        if event.get("event_type") != PAGE_VIEW or event.get("page") is None:
            return False
        if goal.page is not None:
            return matches(goal.page, event["page"])
        group = self.group(goal.page_group or "")
        return group is not None and matches(group.pattern, event["page"])

    def goals_hit(self, event: dict[str, Any]) -> list[str]:
        """The names of the goals `event` converts, in definition order."""
        return [goal.name for goal in self.goals if self.goal_hit(goal, event)]

    def funnels_with(self, goal: str) -> list[str]:
        """The names of the funnels that have `goal` as a step."""
        return [funnel.name for funnel in self.funnels if goal in funnel.steps]

    # -- shapes ---------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """The API's shape (openapi.yaml `Definitions`)."""
        return {"site": self.site, "version": self.version,
                **{kind: [d.as_dict() for d in self.of(kind)] for kind in KINDS}}

    def to_item(self) -> dict[str, Any]:
        """The stored item: only what is not seeded (seeds live in the deployment's configuration)."""
        stored = {kind: [{"name": d.name, **_compact(d.body()), "since": d.since,
                          **({} if d.counted_from is None else {"counted_from": d.counted_from})}
                         for d in self.of(kind) if not d.seeded] for kind in KINDS}
        return {**key(self.site), VERSION: self.version, BODY: json.dumps(stored, separators=(",", ":"))}

    @classmethod
    def from_item(cls, site: str, item: dict[str, Any] | None) -> "Definitions":
        """A site's stored definitions (empty, version 0, when there is no item)."""
        if not item:
            return cls(site)
        body = json.loads(item.get(BODY) or "{}")
        return cls(site, version=int(item.get(VERSION) or 0),
                   **{kind: tuple(from_dict(kind, d) for d in body.get(kind) or ()) for kind in KINDS})

    def merged_over(self, seeds: "Definitions | None") -> "Definitions":
        """These (stored) definitions with `seeds` added: a stored definition of a seed's name wins."""
        if not seeds:
            return self
        merged = {}
        for kind in KINDS:
            own = {d.name for d in self.of(kind)}
            merged[kind] = tuple(d for d in seeds.of(kind) if d.name not in own) + self.of(kind)
        return replace(self, **merged)

    def stored(self) -> "Definitions":
        """Only the definitions that are stored (not seeded)."""
        return replace(self, **{kind: tuple(d for d in self.of(kind) if not d.seeded) for kind in KINDS})

    def with_definition(self, kind: str, definition: Definition) -> "Definitions":
        """A copy with `definition` added, or replacing the one of its name (in place)."""
        current = self.of(kind)
        if any(d.name == definition.name for d in current):
            updated = tuple(definition if d.name == definition.name else d for d in current)
        else:
            updated = current + (definition,)
        return replace(self, **{kind: updated})

    def without(self, kind: str, name: str) -> "Definitions":
        """A copy without the definition `name` of `kind`."""
        return replace(self, **{kind: tuple(d for d in self.of(kind) if d.name != name)})


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    """A body without its empty fields (what is stored)."""
    return {name: value for name, value in body.items() if value not in (None, {}, [])}


def revenue_of(goal: Goal, event: dict[str, Any]) -> tuple[Decimal, str] | None:
    """(amount, currency) an event converting `goal` carries, or None (no revenue property, or no valid amount).

    The amount is the goal's revenue property: a finite number (or a numeric string) from 0 to
    config.MAX_REVENUE; anything else is `revenue_problem`'s to report.
    """
    if goal.revenue is None:
        return None
    value = (event.get("props") or {}).get(goal.revenue.property)
    if value is None or revenue_problem(goal, event) is not None:
        return None
    return Decimal(str(value)), goal.revenue.currency


def revenue_problem(goal: Goal, event: dict[str, Any]) -> str | None:
    """Why the revenue property of an event converting `goal` is not an amount (naming it), or None."""
    if goal.revenue is None:
        return None
    name = goal.revenue.property
    value = (event.get("props") or {}).get(name)
    if value is None:
        return None
    amount: Decimal | None = None
    if not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite() or not 0 <= amount <= config.MAX_REVENUE:
        return (f"`props.{name}` is the revenue of goal {goal.name!r} and must be a finite number from 0 to "
                f"{config.MAX_REVENUE:,}, not {str(value)[:40]!r}")
    return None
