"""`python -m liveinsight serve` end to end over real HTTP: the way users and the dashboard see it."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ctrl_c_reaches_it() -> None:
    """In the child before it starts: SIGINT back to its default, so the test's Ctrl-C reaches the command
    even when pytest runs as a shell's background job (whose children start with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_serve(*extra: str, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", PYTHONUNBUFFERED="1", **(env_extra or {}))
    process = subprocess.Popen([sys.executable, "-m", "liveinsight", "serve", "--port", str(port), *extra],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=ctrl_c_reaches_it)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "ready at" in line:
            return process, f"http://127.0.0.1:{port}"
        if not line and process.poll() is not None:
            break
    process.kill()
    pytest.fail(f"serve did not start: {process.stdout.read()}")


@pytest.fixture(scope="module")
def serve():
    process, url = start_serve("--api-key", "k-123")
    yield url, process
    stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop serve the way Ctrl-C does, so it stops its embedded store too."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_events_posted_over_http_show_up_in_stats(serve):
    url, _ = serve
    now = time.time()
    events = [{"event_type": "page_view", "session_id": "http-1", "timestamp": now - 5,
               "page_url": "https://shop.example.com/", "referrer": "https://github.com/acme/shop"},
              {"event_type": "page_view", "session_id": "http-1", "timestamp": now - 4,
               "page_url": "https://shop.example.com/pricing"},
              {"event_type": "purchase", "session_id": "http-1", "timestamp": now - 3, "props": {"value": 49}}]
    response = requests.post(f"{url}/api/events", data=json.dumps({"events": events}),
                             headers={"Content-Type": "text/plain", "User-Agent": FIREFOX}, timeout=10)
    assert response.status_code == 200
    assert response.json()["data"]["accepted"] == 3

    def stats():
        r = requests.get(f"{url}/api/stats?period=1h", headers={"X-API-Key": "k-123"}, timeout=10)
        data = r.json()["data"]
        return data if data["totals"]["events"] == 3 else None

    data = wait_for(stats)
    assert data, "rollups never reflected the events"
    assert data["totals"]["sessions"] == 1 and data["totals"]["page_views"] == 2
    assert data["sources"][0]["source"] == "GitHub"
    realtime = requests.get(f"{url}/api/realtime", headers={"Authorization": "Bearer k-123"}, timeout=10).json()
    assert realtime["data"]["active_sessions"] == 1


def test_the_key_is_required_and_preflight_is_open(serve):
    url, _ = serve
    assert requests.get(f"{url}/api/stats", timeout=10).status_code == 401
    response = requests.options(f"{url}/api/stats", headers={"Origin": "https://x.example"}, timeout=10)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_serve_stops_cleanly_on_ctrl_c(serve):
    url, process = serve
    os.kill(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "stopped" in output
    assert "Traceback" not in output
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/stats", timeout=2)


def test_a_busy_port_gets_a_clear_message():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "liveinsight", "serve", "--port", str(port)], cwd=ROOT,
                                capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, AWS_ACCESS_KEY_ID="l", AWS_SECRET_ACCESS_KEY="l"))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_can_use_an_existing_dynamodb_endpoint(tmp_path):
    from liveinsight.local.localstore import EmbeddedStore

    store = EmbeddedStore().start()
    try:
        created = subprocess.run([sys.executable, "-m", "liveinsight", "create-tables", "--endpoint-url",
                                  store.endpoint], cwd=ROOT, capture_output=True, text=True, timeout=60,
                                 env=dict(os.environ, AWS_ACCESS_KEY_ID="l", AWS_SECRET_ACCESS_KEY="l"))
        assert created.returncode == 0, created.stderr
        assert created.stdout.count(": created") == 3
        again = subprocess.run([sys.executable, "-m", "liveinsight", "create-tables", "--endpoint-url",
                                store.endpoint], cwd=ROOT, capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, AWS_ACCESS_KEY_ID="l", AWS_SECRET_ACCESS_KEY="l"))
        assert again.stdout.count(": already exists") == 3  # idempotent
        process, url = start_serve("--dynamodb-endpoint", store.endpoint)
        try:
            event = {"event_type": "page_view", "session_id": "ext", "page_url": "https://a.example/"}
            response = requests.post(f"{url}/api/events", json=event, headers={"User-Agent": FIREFOX}, timeout=10)
            assert response.json()["data"]["accepted"] == 1
            import boto3

            client = boto3.client("dynamodb", endpoint_url=store.endpoint, region_name="us-east-1",
                                  aws_access_key_id="l", aws_secret_access_key="l")
            items = client.scan(TableName="liveinsight-events-dev")["Items"]
            assert [i["session_id"]["S"] for i in items] == ["ext"]
        finally:
            stop(process)
    finally:
        store.stop()


def test_share_mints_a_link_that_the_running_stack_answers_without_the_key(tmp_path):
    # GIVEN serve with a key and no configured share secret (its own temp dir: the stack file is per machine)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEINSIGHT_SHARE_SECRET")}
    env["TMPDIR"] = str(tmp_path)
    env.pop("XDG_RUNTIME_DIR", None)
    process, url = start_serve("--api-key", "k-share", env_extra={"TMPDIR": str(tmp_path), "XDG_RUNTIME_DIR": ""})
    stack_file = tmp_path / f"liveinsight-{os.getuid()}" / "liveinsight-local-stack.json"
    try:
        # WHEN `share` is run next to it
        minted = subprocess.run([sys.executable, "-m", "liveinsight", "share", "--site", "a.example",
                                 "--expires", "1d"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
        assert minted.returncode == 0, minted.stderr
        recorded = json.loads(stack_file.read_text())
        assert stack_file.stat().st_mode & 0o777 == 0o600 and stack_file.parent.stat().st_mode & 0o777 == 0o700
        assert recorded["share_secret"] not in minted.stdout + minted.stderr
        link = minted.stdout.splitlines()[0]
        token = link.split("share=")[1].split("&")[0]
        # THEN the API answers the link without the key, and only for its site
        response = requests.get(f"{url}/api/stats", params={"share": token}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["share"]["site"] == "a.example"
        assert requests.get(f"{url}/api/stats", params={"share": token, "site": "b.example"},
                            timeout=10).status_code == 403
        assert requests.get(f"{url}/api/stats", timeout=10).status_code == 401
    finally:
        stop(process)
    # AND a stopped stack forgets its secret: links it signed die with it
    assert not stack_file.exists()
