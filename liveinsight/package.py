"""Build the one Lambda zip that serves every deployed function.

`python -m liveinsight package [--out dist/function.zip]` writes a zip with
`lambda_function.py` at its root, the `liveinsight` library without its dashboard and
local-stack wings, and the third-party packages the Lambda Python 3.11 runtime lacks,
installed as Linux x86_64 CPython 3.11 wheels whatever machine builds it.

boto3 and botocore are deliberately left out: the runtime provides them, and with them the
zip is 19 MB instead of 3 MB and a cold start 0.5-0.8 s slower (bench/sdk_in_zip.py). The
library uses only botocore's public API and its Lambda-path tests also run on the oldest
SDK the runtime may ship (requirements-lambda-oldest.txt); `docs/deploy.md` states the rule.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent
HANDLER_FILE = REPO_ROOT / "lambdas" / "lambda_function.py"
REQUIREMENTS_FILE = REPO_ROOT / "requirements.txt"
DEFAULT_OUT = Path("dist/function.zip")

# The Lambda runtime the zip targets (infra/template.yaml: python3.11, x86_64).
TARGET_PLATFORM = "manylinux2014_x86_64"
TARGET_IMPLEMENTATION = "cp"
TARGET_PYTHON_VERSION = "3.11"

# Third-party distributions the Lambda code path imports; their versions come from
# requirements.txt so the zip cannot drift from what the tests ran against.
LAMBDA_DISTRIBUTIONS = (
    "aws-lambda-powertools",
    "pydantic",
    "ua-parser",
    "ua-parser-builtins",
    "crawlerdetect",
    "tzdata",  # zoneinfo's zones where the runtime has no /usr/share/zoneinfo
)

# Provided by the runtime (boto3 and its dependencies); never shipped, so the zip does
# not shadow the runtime's copies on sys.path.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six")

# Distributions that must never be inside the zip: the dashboard's and the local stack's.
FORBIDDEN_DISTRIBUTIONS = (
    "pandas",
    "numpy",
    "plotly",
    "streamlit",
    "moto",
    "werkzeug",
    "flask",
    "requests",
    "tqdm",
    "pyarrow",
)

# Entries of the liveinsight package the Lambda never imports: two wings whole (the
# dashboard, with pandas, plotly, Streamlit and requests; the local stack, with the moto
# server and the HTTP gateway), the tracker script API Gateway never serves, and the
# command line's own files (the CLI, `python -m liveinsight`, this builder).
DASHBOARD_PACKAGE = "dashboard"
LOCAL_STACK_PACKAGE = "local"
COMMAND_LINE_MODULES = ("cli.py", "__main__.py", "package.py", "doctor.py")
EXCLUDED_PACKAGE_ENTRIES = frozenset((DASHBOARD_PACKAGE, LOCAL_STACK_PACKAGE, "static", *COMMAND_LINE_MODULES))

# Installed files that only cost space in the function: bytecode caches (Lambda's
# /var/task is read-only, so they are never written there either), console scripts,
# install bookkeeping and type stubs.
JUNK_DIRECTORIES = frozenset({"__pycache__", "bin"})
JUNK_DIST_INFO_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
JUNK_SUFFIXES = (".pyc", ".pyo", ".pyi")
# Powertools bundles the Swagger UI (0.4 MB zipped) for its enable_swagger(), which the
# API never calls; the test suite checks that it still does not.
JUNK_FILES = frozenset({
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js",
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui.min.css",
})

# Lambda's direct-upload limit and this project's own target.
TARGET_ZIP_BYTES = 5 * 1024 * 1024
LAMBDA_DIRECT_UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024

# A fixed timestamp makes the zip byte-for-byte reproducible (same CodeSha256).
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

_REQUIREMENT_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;#]+)")


class PackagingError(RuntimeError):
    """The zip could not be built; the message says what to fix."""


def normalize_name(name: str) -> str:
    """PEP 503 normalised distribution name (`Aws_Lambda.Powertools` → `aws-lambda-powertools`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(requirements: Path = REQUIREMENTS_FILE) -> dict[str, str]:
    """`name==version` pins from a requirements file, keyed by normalised name."""
    pins: dict[str, str] = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _REQUIREMENT_LINE.match(line)
        if match:
            pins[normalize_name(match.group(1))] = match.group(3)
    return pins


def lambda_requirements(requirements: Path = REQUIREMENTS_FILE) -> list[str]:
    """The pinned `name==version` specifiers of LAMBDA_DISTRIBUTIONS."""
    pins = read_pins(requirements)
    missing = [name for name in LAMBDA_DISTRIBUTIONS if normalize_name(name) not in pins]
    if missing:
        raise PackagingError(
            f"{requirements} has no `name==version` pin for {', '.join(missing)}; "
            "pin every Lambda dependency there so the zip matches the tested versions."
        )
    return [f"{name}=={pins[normalize_name(name)]}" for name in LAMBDA_DISTRIBUTIONS]


def pip_install_command(target: Path, requirements: Sequence[str]) -> list[str]:
    """The pip command that installs Linux x86_64 CPython 3.11 wheels into `target`."""
    return [
        sys.executable, "-m", "pip", "install",
        "--platform", TARGET_PLATFORM,
        "--implementation", TARGET_IMPLEMENTATION,
        "--python-version", TARGET_PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--quiet",
        "--target", str(target),
        *requirements,
    ]


def install_dependencies(target: Path, requirements: Sequence[str]) -> None:
    """pip-install the Lambda dependencies for the Lambda platform into `target`."""
    command = pip_install_command(target, requirements)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise PackagingError(
            "pip could not install the Lambda dependencies as manylinux x86_64 cp311 wheels "
            f"(is the package index reachable?).\ncommand: {' '.join(command)}\n{result.stderr.strip()}"
        )


def installed_distributions(site_dir: Path) -> dict[str, Path]:
    """Normalised distribution name → its .dist-info directory in `site_dir`."""
    found = {}
    for dist_info in site_dir.glob("*.dist-info"):
        name = dist_info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        found[normalize_name(name)] = dist_info
    return found


def remove_distribution(site_dir: Path, dist_info: Path) -> None:
    """Delete an installed distribution (every path its RECORD lists) and its dist-info."""
    record = dist_info / "RECORD"
    top_levels = set()
    if record.exists():
        for line in record.read_text(encoding="utf-8").splitlines():
            relative = line.split(",", 1)[0]
            if relative and not relative.startswith(".."):
                top_levels.add(Path(relative).parts[0])
    for top in top_levels:
        path = site_dir / top
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    shutil.rmtree(dist_info, ignore_errors=True)


def prune_site_dir(site_dir: Path) -> None:
    """Drop runtime-provided packages, then caches, scripts and install bookkeeping."""
    distributions = installed_distributions(site_dir)
    for name in RUNTIME_PROVIDED:
        if normalize_name(name) in distributions:
            remove_distribution(site_dir, distributions[normalize_name(name)])
    forbidden = sorted(set(installed_distributions(site_dir)) & {normalize_name(n) for n in FORBIDDEN_DISTRIBUTIONS})
    if forbidden:
        raise PackagingError(
            f"a Lambda dependency pulled in {', '.join(forbidden)}, which must not ship in the "
            "function zip; check LAMBDA_DISTRIBUTIONS in liveinsight/package.py."
        )
    for path in sorted(site_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in JUNK_DIRECTORIES:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and (
            path.suffix in JUNK_SUFFIXES
            or path.relative_to(site_dir).as_posix() in JUNK_FILES
            or (path.parent.name.endswith(".dist-info") and path.name in JUNK_DIST_INFO_FILES)
        ):
            path.unlink()


def library_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The liveinsight files the Lambda needs: everything but EXCLUDED_PACKAGE_ENTRIES and caches."""
    files = []
    for path in sorted(package_dir.rglob("*")):
        relative = path.relative_to(package_dir)
        if relative.parts[0] in EXCLUDED_PACKAGE_ENTRIES or "__pycache__" in relative.parts:
            continue
        if path.is_file() and path.suffix not in JUNK_SUFFIXES:
            files.append(path)
    return files


def _zip_entries(site_dir: Path, handler: Path, package_dir: Path) -> Iterable[tuple[str, Path]]:
    yield "lambda_function.py", handler
    for path in library_files(package_dir):
        yield f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}", path
    for path in sorted(site_dir.rglob("*")):
        if path.is_file():
            yield path.relative_to(site_dir).as_posix(), path


def write_zip(out: Path, entries: Iterable[tuple[str, Path]]) -> int:
    """Write a reproducible zip (sorted, fixed times, world-readable) and return its file count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for arcname, path in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_TIMESTAMP)
            # Lambda runs code as another user: files must be readable by all.
            info.external_attr = (0o100755 if path.suffix == ".so" else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
            count += 1
    return count


def build_zip(
    out: Path = DEFAULT_OUT,
    *,
    requirements: Path = REQUIREMENTS_FILE,
    handler: Path = HANDLER_FILE,
    package_dir: Path = PACKAGE_DIR,
) -> Path:
    """Build the function zip at `out` and return its path.

    Parameters
    ----------
    out: where to write the zip (parent directories are created).
    requirements: the requirements file whose pins select the dependency versions.
    handler: the Lambda entry module, stored as `lambda_function.py` at the zip root.
    package_dir: the `liveinsight` package directory.
    """
    if not handler.is_file():
        raise PackagingError(f"{handler} is missing: the zip needs the Lambda entry module.")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="liveinsight-package-") as tmp:
        site_dir = Path(tmp) / "site"
        install_dependencies(site_dir, lambda_requirements(requirements))
        prune_site_dir(site_dir)
        write_zip(out, _zip_entries(site_dir, handler, package_dir))
    return out


def describe_size(size: int) -> str:
    """`3.9 MB` style size for humans."""
    return f"{size / (1024 * 1024):.1f} MB"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `package` command's options to `parser`."""
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where to write the zip (default: {DEFAULT_OUT})"
    )


def run(args: argparse.Namespace) -> int:
    """Build the zip, print where and how big it is; returns the exit code."""
    try:
        out = build_zip(args.out)
    except PackagingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size = out.stat().st_size
    with zipfile.ZipFile(out) as archive:
        files = len(archive.namelist())
    print(f"wrote {out} ({describe_size(size)}, {files} files)")
    if size > LAMBDA_DIRECT_UPLOAD_LIMIT_BYTES:
        print("warning: over Lambda's 50 MB direct-upload limit; upload it through S3.", file=sys.stderr)
    elif size > TARGET_ZIP_BYTES:
        print(f"warning: over the {describe_size(TARGET_ZIP_BYTES)} target; check what grew.", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for `python -m liveinsight.package`."""
    parser = argparse.ArgumentParser(prog="liveinsight package", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
