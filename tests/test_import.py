"""History import: old events into rollups, recent ones as raw events, bad rows reported."""
from __future__ import annotations

import json
import time

import pytest

from conftest import page_view

NOW = time.time()
DAY = 86400


@pytest.fixture(autouse=True)
def fresh_clock():
    """Times relative to when each test runs, not to when the module was collected."""
    global NOW
    NOW = time.time()


@pytest.fixture
def importer(backend):
    from liveinsight.local.importer import import_events, read_rows

    def run(path, fmt=None):
        report = import_events(read_rows(path, fmt), backend.store)
        backend.aggregate()
        return report

    return run


def test_a_mixed_file_keeps_the_good_rows_and_reports_each_bad_one(backend, importer, tmp_path):
    rows = [
        json.dumps(page_view("old-1", "/", NOW - 10 * DAY, referrer="https://www.google.com/")),
        json.dumps(page_view("old-1", "/pricing", NOW - 10 * DAY + 60)),
        "{broken json",
        json.dumps({"event_type": "page_view", "session_id": "x"}),
        json.dumps(page_view("ancient", "/", NOW - 500 * DAY)),
        json.dumps(page_view("recent", "/docs", NOW - 3600)),
        "",
        json.dumps({"event_type": "signup", "session_id": "old-2", "timestamp": (NOW - 3 * DAY) * 1000}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(rows) + "\n")
    report = importer(path)
    assert report.rows == 7
    assert report.accepted == 4 and report.rolled_up == 3 and report.stored_raw == 1
    assert [row for row, _ in report.rejected] == [3, 4, 5]
    assert "not valid JSON" in report.rejected[0][1]
    assert "`page_url`" in report.rejected[1][1]
    assert "`timestamp`" in report.rejected[2][1]
    assert "4 accepted" in report.summary() and "row 4: `page_url`" in report.summary()
    data = backend.stats("period=30d")
    assert data["totals"] == {"visitors": 3, "events": 4, "page_views": 3, "sessions": 3,
                              "bounce_rate": pytest.approx(1 / 3, abs=1e-3),
                              "avg_session_duration": 20.0, "views_per_session": 1.0, "time_on_page": None, "scroll_depth": None}
    assert len(backend.raw_events()) == 1  # only the recent event is stored raw


def test_csv_files_import_too(backend, importer, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "event_type,session_id,timestamp,page_url,referrer,props\n"
        f"page_view,c1,{int(NOW - 40 * DAY)},https://shop.example.com/,https://news.ycombinator.com/,\n"
        f"purchase,c1,{int(NOW - 40 * DAY) + 30},https://shop.example.com/pay,,\"{{\"\"value\"\": 49}}\"\n"
        "page_view,c2,not-a-time,https://shop.example.com/,,\n"
    )
    report = importer(path)
    assert report.accepted == 2
    assert report.rejected == [(4, "`timestamp` is 'not-a-time'; accepted: epoch seconds or milliseconds")]
    start = int(NOW - 45 * DAY)
    data = backend.stats(f"from={start}&to={start + 10 * DAY}")
    assert data["totals"]["sessions"] == 1 and data["totals"]["events"] == 2
    assert data["sources"] == [{"source": "Hacker News", "sessions": 1, "page_views": 1, "visitors": 1}]
    assert data["event_types"][0] == {"event_type": "page_view", "count": 1}


def test_import_from_the_command_line_reports_rows(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "bad.jsonl"
    path.write_text("nope\n")
    result = subprocess.run([sys.executable, "-m", "liveinsight", "import", str(path), "--format", "jsonl",
                             "--dynamodb-endpoint", "http://127.0.0.1:9"],
                            capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent,
                            env={"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                                 "HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "1 rows: 0 accepted" in result.stdout and "row 1: not valid JSON" in result.stdout
