"""Page groups, goals and funnels of a site: validated, versioned, stored, seeded at deploy time, read cached.

`GET /api/definitions?site=` lists a site's definitions, `PUT /api/definitions/{kind}/{name}?site=`
adds or replaces one, `DELETE` removes one; all need the API key (never a share link). The shapes
and the pattern rule are liveinsight/items/definitions.py; this module says what is accepted and
writes a site's one item conditionally on its version, so two editors at once never lose a change
(a write that lost the race is re-applied to what won, up to WRITE_ATTEMPTS times, then 409).

Seeded definitions (LIVEINSIGHT_DEFINITIONS, JSON text or a JSON file's path,
`{site: {page_groups: [...], goals: [...], funnels: [...]}}`) count from the start (`since` 0),
are listed with `seeded: true`, are never stored, and give way to a stored definition of the same
name. `DefinitionsStore.for_site` is what the aggregator and the readers call: one GetItem per
site and DEFINITIONS_CACHE_SECONDS per warm process.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from . import config
from .errors import Conflict, InvalidRequest, NotFound
from .items import definitions as d
from .items.definitions import FUNNELS, GOALS, KINDS, PAGE_GROUPS, Definitions, Funnel, Goal, PageGroup, Revenue
from .store import Store, VersionConflict

CURRENCY = re.compile(r"[A-Z]{3}")
WRITE_ATTEMPTS = 5
LIMITS = {PAGE_GROUPS: config.MAX_PAGE_GROUPS, GOALS: config.MAX_GOALS, FUNNELS: config.MAX_FUNNELS}
FIELDS = {
    PAGE_GROUPS: ("pattern",),
    GOALS: ("event_type", "page", "page_group", "props", "revenue"),
    FUNNELS: ("steps",),
}
SINGULAR = {PAGE_GROUPS: "page group", GOALS: "goal", FUNNELS: "funnel"}
EXAMPLES = {
    PAGE_GROUPS: '{"pattern": "/products/*"}',
    GOALS: '{"event_type": "purchase", "props": {"plan": "pro"}, "revenue": {"property": "amount", '
           '"currency": "EUR"}} or {"page": "/pricing"} or {"page_group": "blog"}',
    FUNNELS: '{"steps": ["landing", "pricing", "signup"]}',
}
PATTERN_ACCEPTED = ("a page path or pattern of at most {max} characters starting with /: * is one path segment, "
                    "** any number of segments (/products/*, /blog/**, /checkout/*/done)")
PARAMS = ("site",)


# --- what is accepted ------------------------------------------------------------------------


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidRequest(f"the kind of definition must be one of {', '.join(KINDS)}, not {kind[:40]!r}")
    return kind


def check_name(name: Any, what: str = "name") -> str:
    """A definition's name, trimmed; a 400 naming what is accepted otherwise."""
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > config.MAX_DEFINITION_NAME_CHARS or not text.isprintable() or "/" in text:
        shown = repr(name[:80]) if isinstance(name, str) else json.dumps(name)[:80]
        raise InvalidRequest(f"`{what}` must be 1-{config.MAX_DEFINITION_NAME_CHARS} printable characters "
                             f"without '/', not {shown}")
    return text


def check_pattern(pattern: Any, what: str = "pattern") -> str:
    problem = d.pattern_problem(pattern)
    if problem:
        raise InvalidRequest(f"`{what}` {problem}; accepted: "
                             + PATTERN_ACCEPTED.format(max=config.MAX_PATTERN_CHARS))
    return pattern


def _event_rules():
    # The event model's own rules (imported on use: the aggregator reads definitions without pydantic).
    from .ingest import events

    return events


def check_event_type(value: Any) -> str:
    events = _event_rules()
    if not isinstance(value, str) or not events.EVENT_TYPE_PATTERN.fullmatch(value):
        shown = repr(value[:80]) if isinstance(value, str) else json.dumps(value)[:80]
        raise InvalidRequest(f"`event_type` is {shown}; accepted: {events.ACCEPTED['event_type']}")
    return value


def check_props(props: Any) -> dict[str, Any]:
    """A goal's property match: what an event's `props` accepts, at least one key."""
    events = _event_rules()
    accepted = events.ACCEPTED["props"]
    if not isinstance(props, dict) or not props:
        raise InvalidRequest(f"`props` must be an object of property values to match (leave it out to match "
                             f"any); accepted: {accepted}")
    for name, value in props.items():  # a JSON object: string keys; values of any JSON type
        if events.UNSTORABLE.search(name) or not isinstance(value, (str, int, float)) \
                or isinstance(value, str) and events.UNSTORABLE.search(value):
            raise InvalidRequest(f"`props.{name[:64]}` must be a string, number or boolean; accepted: {accepted}")
    try:
        return events._check_props(props)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def check_revenue(revenue: Any) -> Revenue:
    accepted = ("an object {\"property\": a numeric event property such as \"amount\", \"currency\": an ISO 4217 "
                "code of three capital letters such as \"EUR\"}")
    if not isinstance(revenue, dict) or set(revenue) != {"property", "currency"}:
        raise InvalidRequest(f"`revenue` must be {accepted}")
    prop, currency = revenue["property"], revenue["currency"]
    if not isinstance(prop, str) or not 1 <= len(prop) <= config.MAX_PROP_KEY_CHARS or not prop.isprintable():
        raise InvalidRequest(f"`revenue.property` must be a property key of 1-{config.MAX_PROP_KEY_CHARS} "
                             f"printable characters; accepted: {accepted}")
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        raise InvalidRequest(f"`revenue.currency` must be an ISO 4217 code of three capital letters such as "
                             f"EUR or USD, not {str(currency)[:20]!r}")
    return Revenue(prop, currency)


def parse_body(kind: str, body: str | bytes | dict | None) -> dict[str, Any]:
    """The JSON object of a PUT, with only the fields its kind accepts; a 400 naming them otherwise."""
    if isinstance(body, dict):
        parsed: Any = body
    else:
        try:
            parsed = json.loads(body or b"")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidRequest(f"the body must be a JSON object such as {EXAMPLES[kind]}") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"the body must be a JSON object such as {EXAMPLES[kind]}")
    unknown = sorted(set(parsed) - set(FIELDS[kind]))
    if unknown:
        raise InvalidRequest(f"unknown fields {', '.join(repr(str(u)[:40]) for u in unknown)} for a "
                             f"{SINGULAR[kind]}; accepted: {', '.join(FIELDS[kind])}")
    return parsed


def build(kind: str, name: str, body: dict[str, Any], known: Definitions, since: int = 0,
          seeded: bool = False) -> d.Definition:
    """The definition `name` of `kind` from a parsed body, checked against the other definitions `known`."""
    if kind == PAGE_GROUPS:
        if "pattern" not in body:
            raise InvalidRequest(f"a page group needs `pattern`; accepted: "
                                 + PATTERN_ACCEPTED.format(max=config.MAX_PATTERN_CHARS))
        return PageGroup(name, check_pattern(body["pattern"]), since=since, seeded=seeded)
    if kind == GOALS:
        given = [field for field in ("event_type", "page", "page_group") if body.get(field) is not None]
        if len(given) != 1:
            raise InvalidRequest("a goal is exactly one of `event_type` (a custom event), `page` (a page path or "
                                 f"pattern visited) or `page_group` (a page group visited), not "
                                 f"{' and '.join(f'`{g}`' for g in given) or 'none of them'}")
        extras = [field for field in ("props", "revenue") if body.get(field) is not None]
        if extras and given != ["event_type"]:
            raise InvalidRequest(f"{' and '.join(f'`{e}`' for e in extras)} go with an `event_type` goal only: "
                                 "page views carry no properties")
        if given == ["page_group"]:
            group = check_name(body["page_group"], "page_group")
            if known.group(group) is None:
                have = ", ".join(repr(g.name) for g in known.page_groups) or "none yet"
                raise InvalidRequest(f"`page_group` {group!r} is not a page group of {known.site} (its page "
                                     f"groups: {have}); define the page group first")
            return Goal(name, page_group=group, since=since, seeded=seeded)
        if given == ["page"]:
            return Goal(name, page=check_pattern(body["page"], "page"), since=since, seeded=seeded)
        return Goal(name, event_type=check_event_type(body["event_type"]),
                    props=check_props(body["props"]) if body.get("props") is not None else {},
                    revenue=check_revenue(body["revenue"]) if body.get("revenue") is not None else None,
                    since=since, seeded=seeded)
    steps = body.get("steps")
    if not isinstance(steps, list) or not d.MIN_STEPS <= len(steps) <= d.MAX_STEPS:
        count = f"{len(steps)} steps" if isinstance(steps, list) else "no list of steps"
        raise InvalidRequest(f"`steps` must be a list of {d.MIN_STEPS}-{d.MAX_STEPS} goal names in order, "
                             f"not {count}")
    names = [check_name(step, "steps") for step in steps]
    for step in names:
        if known.goal(step) is None:
            have = ", ".join(repr(g.name) for g in known.goals) or "none yet"
            raise InvalidRequest(f"step {step!r} of `steps` is not a goal of {known.site} (its goals: {have}); "
                                 "define the goal first")
    if len(set(names)) < len(names):
        twice = next(step for step in names if names.count(step) > 1)
        raise InvalidRequest(f"`steps` names the goal {twice!r} twice; each goal is one step")
    return Funnel(name, tuple(names), since=since, seeded=seeded)


def _check_unique_spelling(known: Definitions, kind: str, name: str) -> None:
    same = next((x.name for x in known.of(kind) if x.name.casefold() == name.casefold() and x.name != name), None)
    if same is not None:
        raise Conflict(f"{known.site} has a {SINGULAR[kind]} named {same!r}; use that exact name to replace it, "
                       "or another name")


def _check_limit(after: Definitions, kind: str) -> None:
    if len(after.of(kind)) > LIMITS[kind]:
        raise Conflict(f"{after.site} already has {LIMITS[kind]} {kind.replace('_', ' ')} (at most "
                       f"{LIMITS[kind]} a site); delete one before adding another")


def users_of(known: Definitions, kind: str, name: str) -> list[str]:
    """What would break without the definition `name`: the goals of a page group, the funnels of a goal."""
    if kind == PAGE_GROUPS:
        return [f"goal {g.name!r}" for g in known.goals if g.page_group == name]
    if kind == GOALS:
        return [f"funnel {f!r}" for f in known.funnels_with(name)]
    return []


# --- seeds -------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def load_seeds(value: str) -> dict[str, Definitions]:
    """LIVEINSIGHT_DEFINITIONS (JSON text or a JSON file's path) as each site's seeded definitions.

    ValueError naming the variable, the site and the definition when anything is not accepted.
    """
    text = value.strip()
    if not text:
        return {}
    if not text.startswith("{"):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise ValueError(f"{config.ENV_DEFINITIONS} must be JSON text or the path of a JSON file; "
                             f"{value[:80]!r} is neither ({exc.__class__.__name__})") from None
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{config.ENV_DEFINITIONS} is not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{config.ENV_DEFINITIONS} must be a JSON object "
                         '{"shop.example.com": {"page_groups": [...], "goals": [...], "funnels": [...]}}')
    seeds: dict[str, Definitions] = {}
    for host, kinds in parsed.items():
        site = config.site_of(host) if isinstance(host, str) else ""
        where = f"{config.ENV_DEFINITIONS}: site {str(host)[:80]!r}"
        if not site or config.normalise_host(site) is None:
            raise ValueError(f"{where} is not a host name such as shop.example.com")
        if not isinstance(kinds, dict) or set(kinds) - set(KINDS):
            raise ValueError(f"{where} must be an object with any of {', '.join(KINDS)}")
        known = seeds.get(site, Definitions(site))
        for kind in KINDS:  # page groups before the goals naming them, goals before the funnels
            entries = kinds.get(kind) or []
            if not isinstance(entries, list):
                raise ValueError(f"{where}: `{kind}` must be a list of objects with a `name`")
            for index, entry in enumerate(entries):
                at = f"{where}, {kind}[{index}]"
                try:
                    if not isinstance(entry, dict):
                        raise InvalidRequest(f"must be an object with `name` and {', '.join(FIELDS[kind])}")
                    name = check_name(entry.get("name"))
                    if any(x.name.casefold() == name.casefold() for x in known.of(kind)):
                        raise InvalidRequest(f"{name!r} is defined twice")
                    body = parse_body(kind, {k: v for k, v in entry.items() if k != "name"})
                    seed = replace(build(kind, name, body, known, since=0, seeded=True), counted_from=0)
                    known = known.with_definition(kind, seed)
                    _check_limit(known, kind)
                except (InvalidRequest, Conflict) as exc:
                    raise ValueError(f"{at}: {exc.message}") from None
        seeds[site] = known
    return seeds


def site_param(params: dict[str, list[str]], settings: config.Settings) -> str:
    """The one site a definitions request is about (a single-site deployment's when left out)."""
    from .query import params as p

    p.check_known(params, PARAMS)
    site = p.site(params, settings) or settings.only_site
    if site is None:
        raise InvalidRequest("`site` is required: definitions belong to one site, e.g. site=shop.example.com")
    if config.normalise_host(site) is None:
        raise InvalidRequest(f"`site` must be a host name such as shop.example.com, not {site[:80]!r}")
    return site


# --- the store ----------------------------------------------------------------------------------


class DefinitionsStore:
    """Read, add, replace and delete a site's definitions (one item per site in the stats table).

    Parameters
    ----------
    store:
        The DynamoDB store.
    settings:
        Where the stats table is, and the seeded definitions (LIVEINSIGHT_DEFINITIONS).
    clock:
        Epoch seconds: the `since` of a new or changed definition.
    monotonic:
        What the read cache measures its DEFINITIONS_CACHE_SECONDS with (tests pass their own).
    """

    def __init__(self, store: Store, settings: config.Settings | None = None, *,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 cache_seconds: float = config.DEFINITIONS_CACHE_SECONDS):
        self.store = store
        self.settings = settings or store.settings
        self.table = self.settings.stats_table
        self.seeds = load_seeds(self.settings.definitions or "")
        self.clock = clock
        self.monotonic = monotonic
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Definitions]] = {}
        self._lock = threading.Lock()

    def for_site(self, site: str) -> Definitions:
        """The site's definitions, seeds merged in, cached DEFINITIONS_CACHE_SECONDS (the aggregator's read)."""
        now = self.monotonic()
        with self._lock:
            cached = self._cache.get(site)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        found = self.read(site)
        with self._lock:
            self._cache[site] = (now, found)
        return found

    def clear(self) -> None:
        """Forget every cached site: the next `for_site` reads the table."""
        with self._lock:
            self._cache.clear()

    def read(self, site: str, consistent: bool = False) -> Definitions:
        """The site's definitions as stored now, seeds merged in (no cache)."""
        item = self.store.get_item(self.table, d.key(site), consistent=consistent)
        return Definitions.from_item(site, item).merged_over(self.seeds.get(site))

    def put(self, site: str, kind: str, name: str, body: str | bytes | dict | None) -> Definitions:
        """Add or replace the definition `name` of `kind`; the site's definitions after the change.

        A definition that changes counts from a minute after now (`since`: every warm aggregator has read it
        by then), and the recount job (liveinsight/recount.py) then counts it over the raw events still kept
        (`counted_from`); saving the same again keeps both.
        """
        kind, name = check_kind(kind), check_name(name)
        parsed = parse_body(kind, body)

        def change(known: Definitions) -> Definitions:
            _check_unique_spelling(known, kind, name)
            before = known.find(kind, name)
            definition = build(kind, name, parsed, known,
                               since=int(self.clock()) + config.DEFINITION_COUNTS_AFTER_SECONDS)
            if before is not None and before.body() == definition.body():
                definition = replace(definition, since=before.since, counted_from=before.counted_from)
            after = known.with_definition(kind, definition)
            _check_limit(after, kind)
            return after

        # The site joins the recount job's list first: a definition stored is never missed by it.
        self.store.put_item(self.table, d.pending_key(site))
        return self._write(site, change)

    def mark_counted(self, site: str, kind: str, name: str, since: int, counted_from: int) -> bool:
        """Record that the definition `name` of `kind`, counting from `since`, holds the events from
        `counted_from` on (the recount job's last step); False when it has changed or gone meanwhile."""
        marked = []

        def change(known: Definitions) -> Definitions:
            found = known.find(kind, name)
            if found is None or found.seeded or found.since != since or found.counted_from is not None:
                return known
            marked.append(name)
            return known.with_definition(kind, replace(found, counted_from=int(counted_from)))

        self._write(site, change)
        return bool(marked)

    def delete(self, site: str, kind: str, name: str) -> Definitions:
        """Remove the definition `name` of `kind`; 404 when there is none, 409 when another one uses it."""
        kind, name = check_kind(kind), check_name(name)

        def change(known: Definitions) -> Definitions:
            found = known.find(kind, name)
            if found is None:
                raise NotFound(f"{known.site} has no {SINGULAR[kind]} named {name!r}")
            if found.seeded:
                raise Conflict(f"the {SINGULAR[kind]} {name!r} of {known.site} is seeded by "
                               f"{config.ENV_DEFINITIONS} at deploy time; remove it there")
            users = users_of(known, kind, name)
            if users:
                raise Conflict(f"the {SINGULAR[kind]} {name!r} is used by {', '.join(users)}; change or delete "
                               f"{'them' if len(users) > 1 else 'it'} first")
            return known.without(kind, name)

        return self._write(site, change)

    def _write(self, site: str, change: Callable[[Definitions], Definitions]) -> Definitions:
        """Apply `change` to the site's current definitions and store them, conditional on the version read.

        A write that lost against another editor is re-applied to what that editor stored (and
        checked again: a goal they deleted can no longer be a step), so both changes are kept.
        """
        seeds = self.seeds.get(site)
        for _ in range(WRITE_ATTEMPTS):
            item = self.store.get_item(self.table, d.key(site), consistent=True)
            stored = Definitions.from_item(site, item)
            after = change(stored.merged_over(seeds))
            if after.stored() == stored:  # saved again as it was: no change, no write, the same version
                return after
            new = replace(after.stored(), version=stored.version + 1)
            try:
                self.store.put_versioned(self.table, new.to_item(), stored.version if item else None)
            except VersionConflict:
                continue
            with self._lock:
                self._cache.pop(site, None)
            return new.merged_over(seeds)
        raise Conflict(f"the definitions of {site} kept changing while this change was saved "
                       f"({WRITE_ATTEMPTS} attempts); retry")

