"""The house by wing: which part of the code may import which, read from the code's own imports.

Backend (what the Lambda zip holds): everything under `liveinsight/` but `local/`, `dashboard/` and
the command line's files. Local stack: `liveinsight/local/`. Dashboard: `dashboard.py`, `pages/`,
`liveinsight/dashboard/`.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "liveinsight"
COMMAND_LINE = {"liveinsight.cli", "liveinsight.__main__", "liveinsight.package", "liveinsight.doctor"}
DASHBOARD_ONLY_LIBRARIES = {"pandas", "plotly", "streamlit", "requests"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    path = REPO / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or path.is_dir()


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (lazy imports inside functions too), made absolute."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from liveinsight import share` imports the module liveinsight.share, not the package's names
            submodules = {f"{source}.{alias.name}" for alias in node.names if is_module(f"{source}.{alias.name}")}
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(source)
    return found


def modules(*roots: Path) -> dict[str, set[str]]:
    files = [f for root in roots for f in ([root] if root.is_file() else sorted(root.rglob("*.py")))]
    return {module_name(f): imports_of(f) for f in files}


ALL = modules(PACKAGE, REPO / "pages", REPO / "dashboard.py")


def wing(module: str) -> str:
    if module.startswith(("liveinsight.dashboard", "pages")) or module == "dashboard":
        return "dashboard"
    if module.startswith("liveinsight.local") or module in COMMAND_LINE:
        return "local"
    return "backend"


def in_part(imported: str, part: str) -> bool:
    return imported == part or imported.startswith(part + ".")


def violations(rule) -> list[str]:
    return sorted(f"{module} imports {imported}" for module, imported_set in ALL.items()
                  for imported in imported_set if rule(module, imported))


def test_the_import_graph_is_read_from_every_wing():
    # the rules below would pass vacuously on an empty graph
    assert {"liveinsight.handler", "liveinsight.ingest.collector", "liveinsight.query.stats",
            "liveinsight.reports.report", "liveinsight.local.server", "liveinsight.dashboard.client",
            "pages.overview", "dashboard"} <= set(ALL)
    assert "liveinsight.query.stats" in ALL["liveinsight.reports.report"]
    assert "liveinsight.query.params" in ALL["liveinsight.handler"]


def test_the_backend_never_imports_the_dashboard_libraries_or_moto():
    assert violations(lambda m, i: wing(m) == "backend"
                      and any(in_part(i, lib) for lib in (*DASHBOARD_ONLY_LIBRARIES, "moto"))) == []


def test_nothing_but_the_dashboard_imports_streamlit():
    assert violations(lambda m, i: wing(m) != "dashboard" and in_part(i, "streamlit")) == []


def test_the_backend_never_imports_the_local_stack_or_the_dashboard():
    assert violations(lambda m, i: wing(m) == "backend"
                      and (in_part(i, "liveinsight.local") or in_part(i, "liveinsight.dashboard")
                           or i in COMMAND_LINE)) == []


def test_answering_never_imports_taking_in_or_the_aggregator():
    assert violations(lambda m, i: in_part(m, "liveinsight.query")
                      and any(in_part(i, part) for part in ("liveinsight.ingest", "liveinsight.aggregator",
                                                             "liveinsight.handler", "liveinsight.reports"))) == []


def test_reports_read_only_through_the_query_wing():
    assert violations(lambda m, i: in_part(m, "liveinsight.reports")
                      and any(in_part(i, part) for part in ("liveinsight.ingest", "liveinsight.aggregator",
                                                             "liveinsight.handler"))) == []


def test_stored_shapes_import_no_wing_above_them():
    assert violations(lambda m, i: in_part(m, "liveinsight.items") and in_part(i, "liveinsight")
                      and not any(in_part(i, part) for part in ("liveinsight.items", "liveinsight.config",
                                                                 "liveinsight.errors"))) == []


@pytest.mark.parametrize("page", sorted(m for m in ALL if m.startswith("pages") or m == "dashboard"))
def test_pages_reach_the_backend_only_through_the_dashboard_package(page):
    assert [i for i in ALL[page] if in_part(i, "liveinsight") and not in_part(i, "liveinsight.dashboard")] == []


def test_the_dashboard_package_uses_no_aws_client_or_store():
    assert violations(lambda m, i: wing(m) == "dashboard"
                      and any(in_part(i, part) for part in ("boto3", "botocore", "moto", "liveinsight.store",
                                                             "liveinsight.aggregator", "liveinsight.query",
                                                             "liveinsight.ingest", "liveinsight.handler"))) == []


def test_the_dashboard_reaches_the_backend_only_over_http():
    # Settings and error types are shared; anything else of the backend (share links' tokens among them:
    # the dashboard holds no secret and must not read a token it cannot verify) is the API's to answer.
    assert violations(lambda m, i: wing(m) == "dashboard" and in_part(i, "liveinsight")
                      and not any(in_part(i, part) for part in ("liveinsight.dashboard", "liveinsight.config",
                                                                 "liveinsight.errors"))) == []
