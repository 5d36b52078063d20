"""Every command in docs/deploy.md, checked without AWS: it parses, and it names what the template creates.

Each shell block and each inline `aws …`, `sam …` or `python -m liveinsight …` is split into
commands (loops expanded, `cd` followed), and each command is checked against what it
addresses: our own CLI's parser; the AWS CLI's operations and options as botocore's service
models define them (installed, offline); `sam deploy` run where the template (and so
`samconfig.toml`) lives; resource names, parameters, environment variables and the stream
mapping's settings against infra/template.yaml. A command of a kind this file does not know
fails the test, so a new one cannot slip into the docs unchecked.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path, PurePosixPath

import pytest

from test_infra import DEPLOY_DOC, REPO, STAGE, TEMPLATE, resolve  # noqa: F401  (fixtures below)
from test_infra import template, transformed  # noqa: F401

PLACEHOLDER = re.compile(r"<([^<>\n]+)>")
INLINE = re.compile(r"`((?:aws|sam|python -m liveinsight) [^`]+)`")
BLOCK = re.compile(r"^[ \t]*```bash\n(.*?)^[ \t]*```", re.S | re.M)
SEPARATORS = {"&&", ";", "|", "||"}
# Options every `aws` command takes (the CLI's own, not the operation's).
AWS_GLOBAL_OPTIONS = {"--region", "--query", "--output", "--cli-binary-format", "--profile", "--no-cli-pager"}
# Options the AWS CLI adds to an operation by a customization, not found in the service model.
AWS_CUSTOM_OPTIONS = {
    ("lambda", "create-function"): {"--zip-file"},
    ("lambda", "invoke"): {"outfile"},
    ("cloudfront", "create-invalidation"): {"--paths"},
}
# High-level commands with no service operation behind them (checked by hand instead).
AWS_HIGH_LEVEL = {("s3", "cp"), ("ecr", "get-login-password")}
DASHBOARD_TEMPLATE = REPO / "infra" / "dashboard.yaml"
SHELL_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
# Commands the doc names only to say not to run them.
NOT_TO_RUN = {("sam", "build")}
SAM_DEPLOY_OPTIONS = {"--guided", "--stack-name", "--parameter-overrides", "--capabilities", "--config-env",
                      "--no-confirm-changeset"}
OTHER_TOOLS = {"openssl", "echo", "head", "export", "streamlit", "curl", "cd", "docker"}


def doc_commands() -> list[tuple[str, list[str]]]:
    """(where in the doc, argv) for every command: blocks first, then inline ones, in order."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    found: list[tuple[str, list[str]]] = []
    for block in BLOCK.finditer(text):
        where = f"line {text[:block.start()].count(chr(10)) + 2}"
        found.extend((where, argv) for argv in split_script(block.group(1)))
    for span in INLINE.finditer(text):
        where = f"line {text[:span.start()].count(chr(10)) + 1} (inline)"
        found.extend((where, argv) for argv in split_script(" ".join(span.group(1).split())))
    return found


def split_script(script: str) -> list[list[str]]:
    """Shell text as argv lists: continuations joined, comments dropped, `for … do … done` expanded."""
    script = PLACEHOLDER.sub(lambda m: "dev" if m.group(1) == "stage" else "PLACEHOLDER", script)
    lines = script.replace("\\\n", " ").splitlines()
    commands: list[list[str]] = []
    loop: tuple[str, list[str], list[str]] | None = None
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "for":
            assert words[2] == "in" and words[-1] == "do", line
            values = [v.rstrip(";") for v in words[3:-1]]
            loop = (words[1], [v for v in values if v], [])
            continue
        if words == ["done"]:
            assert loop is not None
            variable, values, body = loop
            for value in values:
                for text in body:
                    commands.extend(split_line(text.replace(f"${variable}", value).replace(f"${{{variable}}}", value)))
            loop = None
            continue
        if loop is not None:
            loop[2].append(line)
        else:
            commands.extend(split_line(line))
    assert loop is None, "a for loop without done"
    return commands


def split_line(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars="&|;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands, current = [], []
    for token in lexer:
        if token in SEPARATORS:
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands


COMMANDS = doc_commands()


def load_template(path: Path) -> dict:
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def template_names(template) -> set[str]:
    """Every name the API and dashboard templates give a resource for Stage=dev, and the two stacks'."""
    names = {f"liveinsight-{STAGE}", f"liveinsight-dashboard-{STAGE}"}  # the stacks, as the doc names them

    def walk(value):
        if isinstance(value, dict):
            text = value.get("Fn::Sub")
            if isinstance(text, str) and set(re.findall(r"\$\{([\w:]+)\}", text)) <= {"Stage"}:
                names.add(resolve(value, {"Stage": STAGE}))
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(template["Resources"])
    if DASHBOARD_TEMPLATE.exists():
        walk(load_template(DASHBOARD_TEMPLATE)["Resources"])
    return {n.rsplit("/", 1)[-1] for n in names}


def option_map(argv: list[str]) -> dict[str, list[str]]:
    """`--name value…` options (a flag maps to [])."""
    options: dict[str, list[str]] = {}
    name = None
    for word in argv:
        if word.startswith("--"):
            name = word
            options[name] = []
        elif name is not None:
            options[name].append(word)
    return options


def test_the_doc_has_the_commands_this_file_checks():
    kinds = {" ".join(argv[:3]) if argv[0] == "python" else " ".join(argv[:2]) for _, argv in COMMANDS}
    assert {"python -m liveinsight", "sam deploy", "aws lambda", "aws dynamodb", "aws sqs", "curl -s"} <= kinds
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[f"{w}: {' '.join(a[:3])}" for w, a in COMMANDS])
def test_every_command_in_the_deploy_doc_is_valid(where, argv, template):
    names = template_names(template)
    for word in argv:
        for name in re.findall(r"\bliveinsight-[a-z0-9-]+-dev\b", word):
            assert name in names or name.endswith("-dev.zip"), f"{where}: {name} is not a name the template creates"
    tool = argv[0]
    if SHELL_ASSIGNMENT.match(tool) and len(argv) == 1:
        return  # a shell variable the next commands use
    if tool == "python":
        check_liveinsight(where, argv)
    elif tuple(argv[:2]) in NOT_TO_RUN:
        assert "don't run `" + " ".join(argv) + "`" in " ".join(DEPLOY_DOC.read_text().split())
    elif tool == "sam":
        check_sam(where, argv, template)
    elif tool == "aws":
        check_aws(where, argv, template)
    else:
        assert tool in OTHER_TOOLS, f"{where}: no check for {' '.join(argv)}; add one to tests/test_deploy_doc.py"
        if tool == "curl":
            url = next(w for w in argv if "LIVEINSIGHT_API_URL" in w)
            assert url.removeprefix("$LIVEINSIGHT_API_URL") in ("/api/events", "/api/realtime", "/api/stats")
        if tool == "streamlit":
            assert argv[1] == "run" and (REPO / argv[2]).is_file()
        if tool == "docker":
            assert argv[1] in ("login", "build", "push"), f"{where}: docker {argv[1]}"
            if argv[1] == "build":
                assert (REPO / argv[argv.index("-f") + 1]).is_file(), f"{where}: no such Dockerfile"


def check_liveinsight(where: str, argv: list[str]) -> None:
    from liveinsight.cli import build_parser

    assert argv[:3] == ["python", "-m", "liveinsight"], where
    try:
        build_parser().parse_args(argv[3:])
    except SystemExit:
        pytest.fail(f"{where}: `{' '.join(argv)}` does not parse")


def check_sam(where: str, argv: list[str], template) -> None:
    assert argv[1] in ("deploy", "logs"), f"{where}: sam {argv[1]} is not a documented step"
    options = option_map(argv)
    if argv[1] == "logs":
        assert set(options) <= {"--stack-name", "--tail"}
        return
    assert set(options) <= SAM_DEPLOY_OPTIONS, f"{where}: {set(options) - SAM_DEPLOY_OPTIONS}"
    for pair in options.get("--parameter-overrides", []):
        assert pair.split("=", 1)[0] in template["Parameters"], f"{where}: {pair} is not a template parameter"


def test_sam_deploy_runs_where_the_template_and_its_samconfig_are():
    """SAM reads template.yaml and keeps samconfig.toml in the directory it runs in; the doc cds there."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    deploys = 0
    for block in BLOCK.finditer(text):
        cwd = PurePosixPath(".")
        for argv in split_script(block.group(1)):
            if argv[0] == "cd":
                cwd = PurePosixPath(str(cwd / argv[1]).replace("infra/..", "."))
            elif argv[:2] == ["sam", "deploy"]:
                deploys += 1
                assert (REPO / cwd / "template.yaml").resolve() == TEMPLATE.resolve(), f"sam deploy in {cwd}"
                assert "--template-file" not in argv  # its samconfig.toml would land next to that file instead
        assert cwd == PurePosixPath("."), "a block must end where it started (the repo root)"
    assert deploys == 2  # the guided first deploy and the next ones
    assert "samconfig.toml" in (REPO / ".gitignore").read_text().split()


def check_aws(where: str, argv: list[str], template) -> None:
    import botocore.session
    from botocore import xform_name

    service, operation = argv[1], argv[2]
    if (service, operation) in AWS_HIGH_LEVEL:
        return
    if (service, operation) == ("cloudformation", "deploy"):  # the CLI's own command: a template and its parameters
        options = option_map(argv[3:])
        (path,) = options["--template-file"]
        parameters = load_template(REPO / path)["Parameters"]
        for pair in options.get("--parameter-overrides", []):
            assert pair.split("=", 1)[0] in parameters, f"{where}: {pair} is not a parameter of {path}"
        return
    model = botocore.session.get_session().get_service_model(service)
    if operation == "wait":
        waiters = botocore.session.get_session().get_waiter_model(service)
        assert argv[3] in {xform_name(w, "-") for w in waiters.waiter_names}, f"{where}: no waiter {argv[3]}"
        return
    by_cli_name = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in by_cli_name, f"{where}: aws {service} has no {operation}"
    op = model.operation_model(by_cli_name[operation])
    members = {xform_name(m, "-") for m in (op.input_shape.members if op.input_shape else {})}
    allowed = {f"--{m}" for m in members} | {f"--no-{m}" for m in members} | AWS_GLOBAL_OPTIONS
    allowed |= AWS_CUSTOM_OPTIONS.get((service, operation), set())
    options = option_map(argv[3:])
    assert set(options) <= allowed, f"{where}: aws {service} {operation} has no {set(options) - allowed}"
    if (service, operation) == ("lambda", "create-event-source-mapping"):
        check_mapping(where, options, template)
    if (service, operation) == ("lambda", "create-function"):
        check_aggregator_function(where, options, template)
    if (service, operation) == ("lambda", "update-function-configuration"):
        check_environment(where, options, template)


def check_mapping(where: str, options: dict[str, list[str]], template) -> None:
    """Path 2b's mapping has the template's settings, with the template's default batch size and window."""
    mapping = template["Resources"]["StreamAggregatorEventSource"]["Properties"]
    parameters = template["Parameters"]

    def expected(name: str):
        value = mapping[name]
        return str(parameters[value["Ref"]]["Default"]) if isinstance(value, dict) and "Ref" in value else value

    for prop, option in (("StartingPosition", "--starting-position"), ("BatchSize", "--batch-size"),
                         ("MaximumBatchingWindowInSeconds", "--maximum-batching-window-in-seconds"),
                         ("TumblingWindowInSeconds", "--tumbling-window-in-seconds"),
                         ("ParallelizationFactor", "--parallelization-factor"),
                         ("MaximumRetryAttempts", "--maximum-retry-attempts"),
                         ("MaximumRecordAgeInSeconds", "--maximum-record-age-in-seconds")):
        assert options.get(option) == [str(expected(prop))], f"{where}: {option} differs from the template's {prop}"
    assert mapping["BisectBatchOnFunctionError"] is False and "--no-bisect-batch-on-function-error" in options
    assert "--bisect-batch-on-function-error" not in options
    assert options["--function-response-types"] == mapping["FunctionResponseTypes"]
    assert options["--destination-config"][0].startswith("OnFailure={Destination=")


def check_aggregator_function(where: str, options: dict[str, list[str]], template) -> None:
    function = template["Resources"]["StreamAggregatorFunction"]["Properties"]
    globals_ = template["Globals"]["Function"]
    assert options["--runtime"] == [globals_["Runtime"]]
    assert options["--handler"] == [globals_["Handler"]]
    assert options["--architectures"] == globals_["Architectures"]
    assert options["--memory-size"] == [str(function["MemorySize"])]
    assert options["--timeout"] == [str(function["Timeout"])]


def check_environment(where: str, options: dict[str, list[str]], template) -> None:
    """The hand-built functions get every variable the template gives them, with the template's table names."""
    from liveinsight import config

    (variables,) = options["--environment"]
    pairs = dict(p.split("=", 1) for p in variables.removeprefix("Variables={").removesuffix("}").split(","))
    known = {value for name, value in vars(config).items() if name.startswith("ENV_")}
    assert set(pairs) <= known | {"EVENTS_TABLE", "SESSIONS_TABLE", "STATS_TABLE"}, f"{where}: {set(pairs) - known}"
    tables = {"EVENTS_TABLE": "EventsTable", "SESSIONS_TABLE": "SessionsTable", "STATS_TABLE": "StatsTable"}
    for variable, logical_id in tables.items():
        name = resolve(template["Resources"][logical_id]["Properties"]["TableName"], {"Stage": STAGE})
        assert pairs[variable] == name, f"{where}: {variable}={pairs[variable]}, the template names it {name}"
