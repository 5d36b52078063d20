"""The team's dashboard on AWS: the image recipe (infra/dashboard.Dockerfile) and its template
(infra/dashboard.yaml) pass their linters and keep the promises docs/deploy.md makes.

No image is built here (this machine has no container engine): instead the files the recipe copies
are laid out as the image would hold them and its entry point's imports run there with the
backend's libraries made unimportable.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from liveinsight import config

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "infra" / "dashboard.Dockerfile"
DOCKERIGNORE = REPO / "infra" / "dashboard.Dockerfile.dockerignore"
TEMPLATE = REPO / "infra" / "dashboard.yaml"
IMAGE_REQUIREMENTS = REPO / "requirements-dashboard.txt"
# What the Lambda zip and the local stack need and the dashboard must not.
BACKEND_ONLY = ("boto3", "botocore", "moto", "pydantic", "aws_lambda_powertools", "ua_parser", "crawlerdetect",
                "tqdm", "werkzeug")
ENTRYPOINT = ["python", "-m", "liveinsight", "dashboard", "--host", "0.0.0.0", "--port", "8501"]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    rows = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(row.split(None, 1)[0].upper(), row.split(None, 1)[1]) for row in rows]


def one(name: str) -> str:
    found = [args for instruction, args in instructions() if instruction == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


# ------------------------------------------------------------------ the image recipe


def test_hadolint_passes_on_the_recipe():
    result = subprocess.run(["hadolint", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_slim_python_3_11_running_as_an_unprivileged_user():
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", one("FROM"))
    user = one("USER")
    assert user not in ("0", "root") and not user.startswith(("0:", "root")), user


def test_the_image_runs_the_command_lines_dashboard_and_checks_streamlits_health_endpoint():
    assert json.loads(one("ENTRYPOINT")) == ENTRYPOINT
    assert "/_stcore/health" in one("HEALTHCHECK")
    assert one("EXPOSE") == "8501"


def test_the_image_installs_the_dashboards_pinned_libraries_and_none_of_the_backends():
    assert "-r requirements-dashboard.txt" in one("RUN")
    pins = [line for line in IMAGE_REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\[\],-]+==[\w.]+", pin) for pin in pins), pins
    names = {re.split(r"[\[=]", pin)[0].lower().replace("-", "_") for pin in pins}
    assert {"streamlit", "authlib", "requests"} <= names
    assert not names & set(BACKEND_ONLY)
    # requirements.txt (what the tests run against) includes the same file, so the pins cannot drift.
    assert "-r requirements-dashboard.txt" in (REPO / "requirements.txt").read_text().splitlines()


def image_files() -> list[Path]:
    """The repository files the recipe's COPY lines take, less what its .dockerignore leaves out."""
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(relative: str) -> bool:
        verdict = False
        for pattern in patterns:
            negated, pattern = pattern.startswith("!"), pattern.lstrip("!")
            bare = pattern.rstrip("/").removeprefix("**/")
            if (fnmatch.fnmatch(relative, pattern.rstrip("/")) or relative.startswith(pattern.rstrip("/") + "/")
                    or any(fnmatch.fnmatch(part, bare) for part in relative.split("/")) and pattern.startswith("**/")):
                verdict = not negated
        return verdict

    sources = [args.split()[:-1] for instruction, args in instructions() if instruction == "COPY"]
    files = []
    for source in (s for group in sources for s in group):
        path = REPO / source
        for file in ([path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())):
            relative = file.relative_to(REPO).as_posix()
            if not ignored(relative):
                files.append(file)
    return files


BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{{name}} is not in the dashboard's image", name=name)
        return None

sys.meta_path.insert(0, Blocker())
"""


def test_the_images_files_run_the_entry_point_without_the_backends_libraries(tmp_path):
    # GIVEN the files the image holds, and none of the backend's libraries importable
    app = tmp_path / "app"
    for file in image_files():
        target = app / file.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
    assert not (app / "liveinsight" / "local").exists() and (app / "dashboard.py").exists()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=BACKEND_ONLY))
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIVEINSIGHT_")}
    env["PYTHONPATH"] = str(site)
    # WHEN the entry point parses its command and every dashboard page runs once
    script = """
import sys
import liveinsight
assert liveinsight.__file__.startswith(sys.argv[1]), liveinsight.__file__
from liveinsight.cli import build_parser
assert build_parser().parse_args(["dashboard", "--host", "0.0.0.0"]).run.__name__ == "_dashboard"
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("dashboard.py", default_timeout=60)
at.run()
for page in ("pages/realtime.py", "pages/sources.py", "pages/top_pages.py", "pages/events.py", "pages/devices.py"):
    at.switch_page(page).run()
    assert not at.exception, (page, [e.message for e in at.exception])
print("ran", len(at.title), "titles")
"""
    result = subprocess.run([sys.executable, "-c", script, str(app)], cwd=app, env=env, capture_output=True,
                            text=True, timeout=300)
    # THEN nothing was missing (the API is unreachable here: the pages explain that, they do not fail)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ran 1 titles" in result.stdout


# ------------------------------------------------------------------ the template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_passes_on_the_dashboard_template():
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def container(template: dict[str, Any]) -> dict[str, Any]:
    (task,) = resources(template, "AWS::ECS::TaskDefinition").values()
    (definition,) = task["Properties"]["ContainerDefinitions"]
    return definition


def test_secrets_reach_the_container_only_from_secrets_manager(template):
    definition = container(template)
    injected = {s["Name"] for s in definition["Secrets"]}
    assert injected == {config.ENV_API_KEY, config.ENV_OIDC_CLIENT_SECRET, config.ENV_AUTH_COOKIE_SECRET}
    plain = {e["Name"] for e in definition["Environment"]}
    assert not plain & injected
    assert plain == {config.ENV_API_URL, config.ENV_DASHBOARD_URL, config.ENV_OIDC_METADATA_URL,
                     config.ENV_OIDC_CLIENT_ID, config.ENV_ALLOWED_USERS}
    # No task role: the dashboard itself holds no AWS credentials and talks to no AWS API.
    (task,) = resources(template, "AWS::ECS::TaskDefinition").values()
    assert "TaskRoleArn" not in task["Properties"]
    for name in ("ApiKeyValue", "OidcClientSecret"):
        assert template["Parameters"][name]["NoEcho"] is True


def test_the_load_balancer_is_internal_sticky_and_checks_streamlits_health(template):
    (balancer,) = resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert balancer["Properties"]["Scheme"] == "internal"
    (group,) = resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    attributes = {a["Key"]: a["Value"] for a in group["Properties"]["TargetGroupAttributes"]}
    assert attributes["stickiness.enabled"] == "true"
    assert group["Properties"]["HealthCheckPath"] == "/_stcore/health" and group["Properties"]["Port"] == 8501


def test_the_front_door_is_https_and_never_caches_the_dashboard(template):
    (distribution,) = resources(template, "AWS::CloudFront::Distribution").values()
    behavior = distribution["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
    outputs = template["Outputs"]
    assert outputs["OidcRedirectUri"]["Value"]["Fn::Sub"].endswith(config.OIDC_CALLBACK_PATH)


def test_the_task_runs_the_images_entry_point_on_arm64_in_the_smallest_fargate_size(template):
    definition = container(template)
    assert "Command" not in definition and "EntryPoint" not in definition
    assert definition["PortMappings"][0]["ContainerPort"] == 8501
    (task,) = resources(template, "AWS::ECS::TaskDefinition").values()
    assert task["Properties"]["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == ("256", "1024")


@pytest.mark.parametrize("path", [TEMPLATE, DOCKERFILE], ids=lambda p: p.name)
def test_no_account_specific_identifiers_in_the_dashboards_infrastructure(path):
    from test_infra import ACCOUNT_SPECIFIC

    text = path.read_text(encoding="utf-8")
    for pattern in ACCOUNT_SPECIFIC:
        assert not pattern.values[0].findall(text), (path.name, pattern.id)


def test_the_stack_can_create_a_cognito_pool_whose_client_returns_to_the_dashboard(template):
    assert template["Conditions"]["CreatesUserPool"] == {"Fn::Equals": [{"Ref": "CreateUserPool"}, "true"]}
    pool = template["Resources"]["UserPool"]
    assert pool["Condition"] == "CreatesUserPool"
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # No self sign-up.
    client = template["Resources"]["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is True and client["AllowedOAuthFlows"] == ["code"]
    assert client["CallbackURLs"] == [{"Fn::Sub": "https://${Distribution.DomainName}" + config.OIDC_CALLBACK_PATH}]
    # The pool client's secret reaches the container the same way a provider's does: through Secrets Manager.
    secret = template["Resources"]["OidcClientSecretSecret"]["Properties"]["SecretString"]
    assert secret == {"Fn::If": ["CreatesUserPool", {"Fn::GetAtt": ["UserPoolClient", "ClientSecret"]},
                                 {"Ref": "OidcClientSecret"}]}
    # Without the pool, the stack refuses to start without a provider.
    assertions = template["Rules"]["ProviderIsGiven"]["Assertions"]
    assert {a["Assert"]["Fn::Not"][0]["Fn::Equals"][0]["Ref"] for a in assertions} == {
        "OidcMetadataUrl", "OidcClientId", "OidcClientSecret"}
