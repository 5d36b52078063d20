"""`python -m liveinsight package`: one small zip that serves every deployed function.

The zip is built once per session (it downloads Linux wheels), unpacked into an empty
directory and imported in a subprocess that sees nothing but that directory and boto3,
as on Lambda; the subprocess serves the three routes and the stream batch against a
moto server started here. Never real AWS: fake credentials, local endpoints only.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from liveinsight import package

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN_TOP_LEVEL = {"pandas", "numpy", "plotly", "streamlit", "moto", "werkzeug", "flask", "requests",
                       "tqdm", "pyarrow", "boto3", "botocore", "s3transfer"}
FORBIDDEN_IMPORT = re.compile(
    r"^\s*(?:import|from)\s+(pandas|plotly|streamlit|moto|requests|werkzeug|liveinsight\.dashboard)\b", re.M)
# What the Lambda Python 3.11 runtime puts beside our code: boto3 and its dependencies.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
API_KEY = "test-read-key-0123456789"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def function_zip(tmp_path_factory) -> Path:
    """The function zip, built once for the whole test session."""
    return package.build_zip(tmp_path_factory.mktemp("dist") / "function.zip")


@pytest.fixture(scope="session")
def zip_names(function_zip) -> list[str]:
    with zipfile.ZipFile(function_zip) as archive:
        return archive.namelist()


@pytest.fixture(scope="session")
def unpacked(function_zip, tmp_path_factory) -> Path:
    """The zip unpacked into an otherwise empty directory, as Lambda's /var/task."""
    target = tmp_path_factory.mktemp("task")
    with zipfile.ZipFile(function_zip) as archive:
        archive.extractall(target)
    return target


@pytest.fixture(scope="session")
def runtime_site(tmp_path_factory) -> Path:
    """A site directory holding only boto3 and its dependencies (the Lambda runtime's share)."""
    site = tmp_path_factory.mktemp("runtime-site")
    for name in RUNTIME_MODULES:
        module = importlib.import_module(name)
        source = Path(module.__file__)
        source = source.parent if source.name == "__init__.py" else source
        (site / source.name).symlink_to(source)
    return site


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server() -> str:
    """A moto server in its own process; yields its URL."""
    port = _free_port()
    env = {**os.environ, **FAKE_AWS}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the moto server did not start")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# ------------------------------------------------------------------ contents


def test_zip_is_within_the_size_target(function_zip):
    assert function_zip.stat().st_size <= package.TARGET_ZIP_BYTES


def test_handler_is_at_the_zip_root_beside_the_library(zip_names):
    assert "lambda_function.py" in zip_names
    assert "liveinsight/__init__.py" in zip_names
    for module in ("handler.py", "ingest/collector.py", "aggregator.py", "query/stats.py", "query/realtime.py",
                   "reports/scheduled.py", "items/rollups.py", "store.py", "tables.py", "config.py"):
        assert f"liveinsight/{module}" in zip_names, module


@pytest.mark.parametrize("wing, a_module", [(package.DASHBOARD_PACKAGE, "client.py"),
                                             (package.LOCAL_STACK_PACKAGE, "server.py")])
def test_the_dashboard_and_local_stack_wings_are_left_out_whole(zip_names, wing, a_module):
    # GIVEN the wing as it is in the repository
    assert (REPO / "liveinsight" / wing / a_module).is_file()
    # THEN no entry of it ships, whatever files it holds
    assert not [n for n in zip_names if n.startswith(f"liveinsight/{wing}/")]


@pytest.mark.parametrize("module", package.COMMAND_LINE_MODULES)
def test_command_line_modules_are_left_out(zip_names, module):
    assert f"liveinsight/{module}" not in zip_names


def test_library_files_skip_only_the_top_level_dashboard_folder(tmp_path):
    # GIVEN a package with a dashboard folder and a deeper folder that happens to share its name
    for relative in ("__init__.py", "dashboard/__init__.py", "dashboard/ui.py", "reports/dashboard/summary.py",
                     "__pycache__/store.cpython-311.pyc"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("")
    # WHEN the Lambda's share of it is listed
    files = {path.relative_to(tmp_path).as_posix() for path in package.library_files(tmp_path)}
    # THEN only the top-level dashboard folder (and caches) are left out
    assert files == {"__init__.py", "reports/dashboard/summary.py"}


def test_no_dashboard_local_stack_or_runtime_distributions_inside(zip_names):
    # GIVEN every top-level name in the zip, distributions by their import name
    top_level = {name.split("/", 1)[0].split("-", 1)[0].lower() for name in zip_names}
    # THEN none of pandas, plotly, streamlit, moto, ... (nor the runtime's boto3) ship
    assert not top_level & FORBIDDEN_TOP_LEVEL, sorted(top_level & FORBIDDEN_TOP_LEVEL)
    assert not any(n.startswith(("pandas", "plotly", "streamlit", "moto")) for n in zip_names)


def test_shipped_library_never_imports_the_dashboard_stack(function_zip, zip_names):
    with zipfile.ZipFile(function_zip) as archive:
        for name in zip_names:
            if name.endswith(".py") and (name.startswith("liveinsight/") or name == "lambda_function.py"):
                found = FORBIDDEN_IMPORT.findall(archive.read(name).decode("utf-8"))
                assert not found, f"{name} imports {found}"


def test_swagger_ui_is_left_out_because_the_api_never_serves_it(zip_names):
    assert not set(package.JUNK_FILES) & set(zip_names)
    for path in [*(REPO / "liveinsight").rglob("*.py"), REPO / "lambdas" / "lambda_function.py"]:
        assert ".enable_swagger(" not in path.read_text(encoding="utf-8"), path.name


def test_no_bytecode_caches_or_console_scripts(zip_names):
    assert not [n for n in zip_names if "__pycache__" in n or n.endswith((".pyc", ".pyo")) or n.startswith("bin/")]


def test_dependencies_are_the_pinned_linux_wheels(zip_names):
    # GIVEN the versions requirements.txt pins
    pins = package.read_pins(REPO / "requirements.txt")
    shipped = {}
    for name in zip_names:
        match = re.match(r"^([^/]+)-([^-/]+)\.dist-info/METADATA$", name)
        if match:
            shipped[package.normalize_name(match.group(1))] = match.group(2)
    # THEN every Lambda dependency ships at exactly that version
    for distribution in package.LAMBDA_DISTRIBUTIONS:
        assert shipped.get(package.normalize_name(distribution)) == pins[package.normalize_name(distribution)]
    # AND compiled extensions are CPython 3.11 Linux x86_64 builds
    extensions = [n for n in zip_names if n.endswith(".so")]
    assert extensions, "pydantic-core's extension is missing"
    assert all("cpython-311-x86_64-linux-gnu" in n for n in extensions), extensions


def test_files_are_world_readable_and_timestamps_fixed(function_zip):
    with zipfile.ZipFile(function_zip) as archive:
        for info in archive.infolist():
            assert (info.external_attr >> 16) & 0o444 == 0o444, info.filename
            assert info.date_time == package.ZIP_TIMESTAMP, info.filename


def test_missing_pin_is_reported(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("boto3==1.0\npydantic==2.0\n")
    with pytest.raises(package.PackagingError, match="aws-lambda-powertools"):
        package.lambda_requirements(requirements)


def test_pins_are_read_with_extras_and_comments(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\nmoto[server,dynamodb]==5.2.5\nUA_Parser==1.0.2  # note\nloose>=1\n")
    assert package.read_pins(requirements) == {"moto": "5.2.5", "ua-parser": "1.0.2"}


def test_cli_hook_prints_path_and_size(function_zip, monkeypatch, capsys, tmp_path):
    # GIVEN build_zip stubbed to the session's zip (no second download)
    monkeypatch.setattr(package, "build_zip", lambda out: function_zip)
    # WHEN the command runs
    assert package.main(["--out", str(tmp_path / "f.zip")]) == 0
    # THEN it says where the zip is and how big
    assert re.search(r"wrote .*function\.zip \(\d+\.\d MB, \d+ files\)", capsys.readouterr().out)


# ------------------------------------------------------------------ the zip serves the API

SERVE_SCRIPT = r"""
import json, sys, time
assert not any("site-packages" in p for p in sys.path), sys.path

import boto3
from liveinsight.config import Settings
from liveinsight.tables import create_tables
import lambda_function
import liveinsight

task = sys.argv[1]
assert liveinsight.__file__.startswith(task), liveinsight.__file__
settings = Settings.from_env()
create_tables(boto3.client("dynamodb"), settings)


class Context:
    function_name = "liveinsight-event-collector-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:liveinsight-test"
    aws_request_id = "test-request"


def request(method, path, body=None, query=None, headers=None):
    headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
               "Content-Type": "application/json", **(headers or {})}
    event = {
        "resource": path, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query, "multiValueQueryStringParameters":
            {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None, "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "path": "/test" + path, "stage": "test",
                           "requestId": "test-request", "identity": {"sourceIp": "203.0.113.9"}},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }
    response = lambda_function.lambda_handler(event, Context())
    return {"status": response["statusCode"], "body": json.loads(response["body"]) if response.get("body") else None}


now = time.time()
results = {}
results["post"] = request("POST", "/api/events", {"events": [
    {"event_type": "page_view", "session_id": "zip-s1", "timestamp": now - 60,
     "page_url": "https://example.com/pricing", "referrer": "https://www.google.com/"},
    {"event_type": "signup", "session_id": "zip-s1", "timestamp": now - 30,
     "page_url": "https://example.com/pricing"},
]})
results["options"] = request("OPTIONS", "/api/stats", headers={"Origin": "https://example.com"})

# The stream aggregator: the events table's stream batch, as Lambda's event source delivers it.
streams = boto3.client("dynamodbstreams")
arn = boto3.client("dynamodb").describe_table(TableName=settings.events_table)["Table"]["LatestStreamArn"]
records = []
for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records += streams.get_records(ShardIterator=iterator)["Records"]
stream_event = {"Records": [dict(r, eventSource="aws:dynamodb", eventSourceARN=arn) for r in records]}
results["stream_records"] = len(records)
results["stream"] = lambda_function.lambda_handler(stream_event, Context())

results["realtime"] = request("GET", "/api/realtime", headers={"X-API-Key": sys.argv[2]})
results["stats"] = request("GET", "/api/stats", query={"period": "1h"}, headers={"X-API-Key": sys.argv[2]})
results["stats_without_key"] = request("GET", "/api/stats")
heavy = [m for m in ("pandas", "plotly", "streamlit", "moto", "requests") if m in sys.modules]
results["heavy_modules"] = heavy
print("RESULT " + json.dumps(results, default=str))
"""


@pytest.fixture(scope="session")
def served(unpacked, runtime_site, moto_server, tmp_path_factory) -> dict:
    """Run the unpacked zip against moto with only boto3 beside it; returns what it answered."""
    suffix = str(int(time.time() * 1000))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(unpacked), str(runtime_site)]),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        **FAKE_AWS,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_server,
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": moto_server,
        "AWS_ENDPOINT_URL": moto_server,  # any other service too: never real AWS
        "EVENTS_TABLE": f"zip-events-{suffix}",
        "SESSIONS_TABLE": f"zip-sessions-{suffix}",
        "STATS_TABLE": f"zip-stats-{suffix}",
        "LIVEINSIGHT_API_KEY": API_KEY,
        "LIVEINSIGHT_ALLOWED_ORIGINS": "*",
        "POWERTOOLS_METRICS_NAMESPACE": "LiveInsightTest",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    completed = subprocess.run(
        [sys.executable, "-S", "-c", SERVE_SCRIPT, str(unpacked), API_KEY],
        cwd=unpacked, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    (line,) = [l for l in completed.stdout.splitlines() if l.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


def test_zip_collects_events(served):
    assert served["post"]["status"] == 200, served["post"]
    assert served["post"]["body"]["data"]["accepted"] == 2


def test_zip_answers_preflight_without_a_key(served):
    assert served["options"]["status"] == 204


def test_zip_aggregates_the_stream_batch(served):
    assert served["stream_records"] == 2
    assert served["stream"].get("batchItemFailures", []) == []


def test_zip_serves_realtime(served):
    assert served["realtime"]["status"] == 200, served["realtime"]
    data = served["realtime"]["body"]["data"]
    assert data["active_sessions"] == 1


def test_zip_serves_stats(served):
    assert served["stats"]["status"] == 200, served["stats"]
    totals = served["stats"]["body"]["data"]["totals"]
    assert (totals["events"], totals["page_views"], totals["sessions"]) == (2, 1, 1)


def test_zip_requires_the_key_on_reads(served):
    assert served["stats_without_key"]["status"] == 401


def test_zip_imports_nothing_from_the_dashboard(served):
    assert served["heavy_modules"] == []
