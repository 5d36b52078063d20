"""History import: load past events (up to 400 days old) through the same validation and aggregation.

Events older than the raw retention go straight into the rollups (the aggregator's own
code, without realtime state); newer ones are stored as raw events like POST /api/events,
and the stream aggregates them. Bad rows are reported and never stop the rest. The old
events are folded in one pass and each rollup item is written once, with BatchWriteItem
(`Aggregator(exclusive=True)`): run an import before live traffic reaches the same hours.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .. import config
from ..aggregator import Aggregator
from ..ingest.collector import Collector, RequestContext
from ..items.events import unpack
from ..ingest.events import validate_event
from ..store import Store

MAX_IMPORT_AGE_SECONDS = 400 * 86400
CHUNK = 100_000  # events folded per commit: each rollup item is written once per chunk
FORMATS = ("jsonl", "csv")


@dataclass
class ImportReport:
    """What an import did, with the reason for every rejected row."""

    rows: int = 0
    accepted: int = 0
    rolled_up: int = 0
    stored_raw: int = 0
    filtered: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.rows} rows: {self.accepted} accepted ({self.rolled_up} into rollups, "
                 f"{self.stored_raw} as raw events), {self.filtered} bots filtered, "
                 f"{self.duplicates} duplicates, {len(self.rejected)} rejected"]
        for row, message in self.rejected[:20]:
            lines.append(f"  row {row}: {message}")
        if len(self.rejected) > 20:
            lines.append(f"  … and {len(self.rejected) - 20} more")
        return "\n".join(lines)


def read_rows(path: Path, fmt: str | None = None) -> Iterator[tuple[int, Any]]:
    """(row number, raw event or ValueError) for each JSON line or CSV row of a file."""
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    with path.open(newline="", encoding="utf-8") as handle:
        if fmt == "jsonl":
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, ValueError(f"not valid JSON ({exc.msg})")
        else:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield number, _csv_event(row)


def _csv_event(row: dict[str, str]) -> Any:
    event: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        if key == "timestamp":
            try:
                event[key] = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                return ValueError(f"`timestamp` is {value!r}; accepted: epoch seconds or milliseconds")
        elif key == "props":
            try:
                event[key] = json.loads(value)
            except json.JSONDecodeError:
                return ValueError("`props` must be a JSON object in the CSV column")
        else:
            event[key] = value
    return event


def import_events(rows: Iterable[tuple[int, Any]], store: Store, now: float | None = None,
                  progress: Callable[[int], None] | None = None,
                  context_of: Callable[[int], RequestContext] | None = None) -> ImportReport:
    """Validate rows and load them: old events into rollups, recent ones as raw events.

    `context_of(row number)` is what a request would have told about the row's sender (the demo's
    visitors: an address, a browser, a place); by default nothing, as for a file.
    """
    now = time.time() if now is None else now
    settings = store.settings
    raw_cutoff = now - settings.raw_retention_hours * 3600
    collector, aggregator = Collector(store, settings), Aggregator(store, settings, exclusive=True)
    report = ImportReport()
    old_items, recent = [], []
    context = RequestContext()
    for number, raw in rows:
        report.rows += 1
        if progress:
            progress(1)
        if isinstance(raw, ValueError):
            report.rejected.append((number, str(raw)))
            continue
        try:
            event = validate_event(raw, now, max_age_seconds=MAX_IMPORT_AGE_SECONDS)
        except ValueError as exc:
            report.rejected.append((number, str(exc)))
            continue
        sender = context_of(number) if context_of else context
        if event.timestamp < raw_cutoff:
            old_items.append(unpack(collector.to_item(event, sender,
                                                      ttl_seconds=settings.raw_retention_hours * 3600)))
        else:
            recent.append((event, sender))
    old_items.sort(key=lambda item: item["timestamp"])
    sessions: dict = {}
    for start in range(0, len(old_items), CHUNK):
        result = aggregator.apply(old_items[start:start + CHUNK], now=now, realtime=False,
                                  sessions=sessions, save_sessions=False)
        report.rolled_up += result.counted
        report.filtered += result.bots
        report.duplicates += result.duplicates
    # Only visits that recent events may still continue need their state stored.
    aggregator.save_sessions(s for s in sessions.values()
                             if s.last >= raw_cutoff - config.SESSION_TIMEOUT_SECONDS)
    recent.sort(key=lambda pair: pair[0].timestamp)
    by_sender: dict[RequestContext, list] = {}
    for event, sender in recent:
        by_sender.setdefault(sender, []).append(event)
    for sender, events in by_sender.items():
        for start in range(0, len(events), 500):
            result = collector.store_events(events[start:start + 500], sender, now)
            report.stored_raw += result.accepted
            report.filtered += result.filtered
            report.duplicates += result.duplicates
    report.accepted = report.rolled_up + report.stored_raw
    return report


def import_file(path: Path, store: Store, fmt: str | None = None, show_progress: bool = True) -> ImportReport:
    """Import a JSONL or CSV file with a progress bar on stderr."""
    from tqdm import tqdm

    with tqdm(desc=f"importing {path.name}", unit=" rows", disable=not show_progress) as bar:
        return import_events(read_rows(path, fmt), store, progress=bar.update)
