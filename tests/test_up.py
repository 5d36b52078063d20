"""`python -m liveinsight up --demo`: one command to a live demo, and Ctrl-C stops every child."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests

from test_serve import ROOT, ctrl_c_reaches_it, free_port


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,pgid="], capture_output=True, text=True).stdout
    rows = [tuple(map(int, line.split())) for line in out.splitlines() if line.strip()]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent, _ in rows if parent in frontier} - found
        found |= frontier
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")


READY_WITHIN_SECONDS = 300


def test_up_demo_serves_api_and_dashboard_with_a_week_of_history_and_stops_cleanly():
    api_port, dashboard_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", PYTHONUNBUFFERED="1")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "liveinsight", "up", "--demo", "--port", str(api_port),
         "--dashboard-port", str(dashboard_port), "--visits-per-day", "500"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=ctrl_c_reaches_it)
    try:
        lines = []
        # A hang guard, not a speed target: bench/dashboard.py --history-days prints how long up takes.
        while time.monotonic() - started < READY_WITHIN_SECONDS:
            line = process.stdout.readline()
            lines.append(line)
            if line.startswith("Dashboard"):
                break
            assert line or process.poll() is None, "".join(lines)
        else:
            raise AssertionError(f"up did not get ready within {READY_WITHIN_SECONDS} s:\n" + "".join(lines))

        api = f"http://127.0.0.1:{api_port}"
        data = requests.get(f"{api}/api/stats?period=7d", timeout=30).json()["data"]
        assert data["totals"]["sessions"] > 1000
        days_with_traffic = sum(1 for row in data["timeseries"] if row["events"] > 0)
        assert days_with_traffic >= 7
        # the demo's page groups, goals and funnel are defined
        defined = requests.get(f"{api}/api/definitions?site=shop.example.com", timeout=10).json()["data"]
        assert [g["name"] for g in defined["goals"]] == ["landing", "pricing", "signup", "purchase"]
        assert [f["steps"] for f in defined["funnels"]] == [["landing", "pricing", "signup", "purchase"]]
        deadline = time.monotonic() + 30
        while requests.get(f"http://127.0.0.1:{dashboard_port}/_stcore/health", timeout=5).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        # live demo traffic arrives
        deadline = time.monotonic() + 30
        while requests.get(f"{api}/api/realtime", timeout=10).json()["data"]["active_sessions"] == 0:
            assert time.monotonic() < deadline, "no live demo traffic"
            time.sleep(1)
        family = children_of(process.pid)
        assert len(family) >= 2  # the embedded store and the dashboard
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    time.sleep(0.5)
    assert [pid for pid in family if alive(pid)] == []


def test_up_refuses_a_busy_port_with_a_clear_message():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "liveinsight", "up", "--dashboard-port", str(port),
                                 "--port", str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use; choose another with --dashboard-port" in result.stderr
    assert "Traceback" not in result.stderr
