"""What shipping boto3/botocore inside the function zip would cost: zip size and cold start.

Builds the zip twice with liveinsight/package.py — as shipped (the runtime provides the SDK)
and with the pinned boto3, botocore and their dependencies inside — and prints each zip's
size, its unpacked size and the cold start of the handler: a fresh interpreter that sees only
the unpacked zip (plus, for the shipped zip, a separate SDK directory standing in for the
runtime's /var/runtime), imports `lambda_function`, answers a CORS preflight and builds the
DynamoDB client, as the first request of a new Lambda environment does. Median of --repeat
runs. Lambda itself also downloads and unpacks the zip before the first import; that part
grows with the zip's size and cannot be measured here.

Usage: python bench/sdk_in_zip.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")

COLD_START = r"""
import json, os, sys, time
started = time.perf_counter()
import lambda_function
imported = time.perf_counter()
event = json.load(open(sys.argv[1]))
answer = lambda_function.lambda_handler(event, None)
assert answer["statusCode"] == 204, answer
from liveinsight import handler
handler.services().store.client
done = time.perf_counter()
import botocore
print(json.dumps({"import_ms": (imported - started) * 1000, "first_ms": (done - started) * 1000,
                  "botocore": botocore.__version__, "from": os.path.dirname(botocore.__file__)}))
"""


def unpacked_bytes(zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path) as archive:
        return sum(info.file_size for info in archive.infolist())


def build(out: Path, with_sdk: bool) -> Path:
    from liveinsight import package

    if not with_sdk:
        return package.build_zip(out)
    pins = package.read_pins()
    original = (package.LAMBDA_DISTRIBUTIONS, package.RUNTIME_PROVIDED)
    package.LAMBDA_DISTRIBUTIONS = original[0] + ("boto3", "botocore")
    package.RUNTIME_PROVIDED = ()
    try:
        assert "boto3" in pins and "botocore" in pins
        return package.build_zip(out)
    finally:
        package.LAMBDA_DISTRIBUTIONS, package.RUNTIME_PROVIDED = original


def runtime_sdk(target: Path) -> Path:
    """The pinned SDK in a directory of its own, standing in for the runtime's copy (byte-compiled, as there)."""
    import compileall

    from liveinsight import package

    pins = package.read_pins()
    package.install_dependencies(target, [f"boto3=={pins['boto3']}", f"botocore=={pins['botocore']}"])
    compileall.compile_dir(str(target), quiet=1)
    return target


def cold_start(code_dir: Path, extra: list[Path]) -> dict:
    """One new interpreter: the zip's code has no bytecode (the zip ships none and /var/task is read-only)."""
    event = ROOT / "tests" / "events" / "apigw_options_preflight.json"
    env = {"PYTHONPATH": ":".join(str(p) for p in [code_dir, *extra]), "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "POWERTOOLS_METRICS_DISABLED": "true", "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    # -s: no user site; -S: no site-packages, so only the zip (and the stand-in runtime SDK) is importable.
    result = subprocess.run([sys.executable, "-s", "-S", "-c", COLD_START, str(event)], env=env,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liveinsight-sdk-bench-") as tmp:
        tmp = Path(tmp)
        variants = []
        for label, with_sdk in (("zip as shipped (runtime SDK)", False), ("zip with boto3+botocore", True)):
            zip_path = build(tmp / f"{with_sdk}.zip", with_sdk)
            code = tmp / f"code-{with_sdk}"
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(code)
            extra = [] if with_sdk else [runtime_sdk(tmp / "runtime-sdk")]
            variants.append((label, zip_path, code, extra, []))
        for _ in range(args.repeat):  # alternate, so the machine's load hits both alike
            for _label, _zip, code, extra, runs in variants:
                runs.append(cold_start(code, extra))
        rows = [(label, zip_path.stat().st_size, unpacked_bytes(zip_path),
                 {"import_ms": statistics.median(r["import_ms"] for r in runs),
                  "first_ms": statistics.median(r["first_ms"] for r in runs)})
                for label, zip_path, _code, _extra, runs in variants]
    print(f"{'variant':32} {'zip MB':>7} {'unpacked MB':>12} {'import ms':>10} {'first answer ms':>16}")
    for label, size, unpacked, timing in rows:
        print(f"{label:32} {size / 2**20:7.1f} {unpacked / 2**20:12.1f} {timing['import_ms']:10.0f} "
              f"{timing['first_ms']:16.0f}")
    print(f"boto3/botocore in the zip: +{(rows[1][1] - rows[0][1]) / 2**20:.1f} MB zipped, "
          f"+{(rows[1][2] - rows[0][2]) / 2**20:.1f} MB unpacked (Lambda's limit: 50 MB zipped, 250 MB unpacked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
