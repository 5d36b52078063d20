"""infra/template.yaml: lints, transforms offline, and matches liveinsight/tables.py.

Nothing here talks to AWS: the SAM transform runs with a fixed managed-policy map and
fake credentials, and the tables are created in moto's CloudFormation.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from liveinsight.config import Settings
from liveinsight.tables import TTL_ATTRIBUTE, table_definitions

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "infra" / "template.yaml"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
STAGE = "dev"
REGION = "us-east-1"

# Logical id in the template for each table name in liveinsight.tables.
TABLE_RESOURCES = {"events": "EventsTable", "sessions": "SessionsTable", "stats": "StatsTable"}
FUNCTIONS = {
    "EventCollectorFunction": "liveinsight-event-collector-dev",
    "RealtimeApiFunction": "liveinsight-realtime-api-dev",
    "StatsApiFunction": "liveinsight-stats-api-dev",
    "StreamAggregatorFunction": "liveinsight-stream-aggregator-dev",
    "RealtimeAggregatorFunction": "liveinsight-realtime-aggregator-dev",
    "ReportFunction": "liveinsight-reports-dev",
}
DYNAMODB_WRITE_ACTIONS = {
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
}


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    """Fake credentials and a fixed region, so nothing can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The SAM template as plain JSON-like data (intrinsics in their long form)."""
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))


@pytest.fixture(scope="module")
def transformed(template) -> dict[str, Any]:
    """The template after the SAM transform, done offline by aws-sam-translator."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(template)
    # The translator only accepts S3 code locations; `sam deploy` uploads the local zip.
    sam["Globals"]["Function"]["CodeUri"] = "s3://example-bucket/function.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        translator = Translator(managed_policy_map={}, sam_parser=Parser())
        return translator.translate(sam, parameter_values={"Stage": STAGE})


def resolve(value: Any, parameters: dict[str, str]) -> Any:
    """Resolve `Fn::Sub` over parameters and `Ref` to a parameter, enough for names."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{(\w+)\}", lambda m: parameters[m.group(1)], value["Fn::Sub"])
    if isinstance(value, dict) and "Ref" in value and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    return value


def normalized_table(properties: dict[str, Any]) -> dict[str, Any]:
    """The parts of a table definition the code relies on, in a comparable form."""
    stream = properties.get("StreamSpecification") or {}
    enabled = stream.get("StreamEnabled", bool(stream.get("StreamViewType")))
    return {
        "TableName": properties["TableName"],
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": sorted(properties["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "GlobalSecondaryIndexes": sorted(
            (
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in properties.get("GlobalSecondaryIndexes", [])
            ),
            key=lambda i: i["IndexName"],
        ),
        "StreamViewType": stream.get("StreamViewType") if enabled else None,
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }


def policy_statements(transformed: dict[str, Any], function: str, keep_if: bool = False) -> list[dict[str, Any]]:
    """A function role's statements; one under a condition (`Fn::If`) counts as granted unless `keep_if`."""
    role = transformed["Resources"][f"{function}Role"]["Properties"]
    statements = []
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement and not keep_if:
                statements.extend(s for s in statement["Fn::If"][1:] if "Action" in s)
            else:
                statements.append(statement)
    return statements


def actions_on(statements: list[dict[str, Any]], table_logical_id: str) -> set[str]:
    """DynamoDB actions a role's statements allow on a table (or its indexes/streams)."""
    found = set()
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if table_logical_id in json.dumps(resources):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            found.update(a for a in actions if a.startswith("dynamodb:"))
    return found


# ------------------------------------------------------------------ lint


def test_cfn_lint_passes_on_the_template():
    # GIVEN the SAM template WHEN cfn-lint checks it (offline) THEN it finds nothing.
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(TEMPLATE, config=ManualArgs(regions=[REGION]))
    assert [str(m) for m in matches] == []


def test_cfn_lint_passes_on_the_transformed_template(transformed, tmp_path):
    from cfnlint.api import ManualArgs, lint_file

    path = tmp_path / "transformed.json"
    path.write_text(json.dumps(transformed))
    matches = lint_file(path, config=ManualArgs(regions=[REGION]))
    assert [str(m) for m in matches] == []


# ------------------------------------------------------------------ one source of truth


def test_template_declares_exactly_the_tables_of_the_code(template):
    declared = {k for k, v in template["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"}
    assert declared == set(TABLE_RESOURCES.values())
    assert set(table_definitions(Settings())) == set(TABLE_RESOURCES)


@pytest.mark.parametrize("name", sorted(TABLE_RESOURCES))
def test_template_table_matches_table_definitions(template, name):
    # GIVEN the code's CreateTable arguments for the dev stage
    expected = normalized_table(table_definitions(Settings())[name])
    # WHEN the template's table is resolved for the same stage
    properties = template["Resources"][TABLE_RESOURCES[name]]["Properties"]
    actual = normalized_table({**properties, "TableName": resolve(properties["TableName"], {"Stage": STAGE})})
    # THEN keys, attributes, indexes, stream and billing are the same
    assert actual == expected


@pytest.mark.parametrize("name", sorted(TABLE_RESOURCES))
def test_template_table_expires_items_on_the_code_ttl_attribute(template, name):
    ttl = template["Resources"][TABLE_RESOURCES[name]]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_moto_cloudformation_creates_the_tables_the_code_expects(transformed):
    # GIVEN only the DynamoDB tables of the transformed template (moto cannot run the rest)
    import boto3
    from moto import mock_aws

    stack = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Stage": transformed["Parameters"]["Stage"]},
        "Resources": {k: v for k, v in transformed["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"},
    }
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        # WHEN the stack is created for the dev stage
        cloudformation.create_stack(
            StackName="liveinsight-tables", TemplateBody=json.dumps(stack),
            Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}],
        )
        # THEN every table describes as the code would have created it
        for name, definition in table_definitions(Settings()).items():
            table = dynamodb.describe_table(TableName=definition["TableName"])["Table"]
            described = normalized_table({
                **table,
                "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
                "GlobalSecondaryIndexes": table.get("GlobalSecondaryIndexes", []),
            })
            assert described == normalized_table(definition), name
            if name == "events":
                assert table["LatestStreamArn"]
        # moto's CloudFormation ignores TimeToLiveSpecification; the template test covers it.


# ------------------------------------------------------------------ functions and API


def test_every_function_runs_the_one_zip_handler(transformed):
    resources = transformed["Resources"]
    for logical_id, name in FUNCTIONS.items():
        properties = resources[logical_id]["Properties"]
        assert resolve(properties["FunctionName"], {"Stage": STAGE}) == name
        assert properties["Handler"] == "lambda_function.lambda_handler"
        assert properties["Runtime"] == "python3.11"
        assert properties["Architectures"] == ["x86_64"]  # the zip holds x86_64 wheels
        env = properties["Environment"]["Variables"]
        assert {"EVENTS_TABLE", "SESSIONS_TABLE", "STATS_TABLE", "LIVEINSIGHT_ALLOWED_ORIGINS",
                "LIVEINSIGHT_RAW_RETENTION_HOURS"} <= set(env)
        assert "AWS_REGION" not in env  # reserved: the runtime sets it


def test_seeded_definitions_reach_every_function_and_the_stats_function_may_keep_only_definitions_items(
        transformed, template):
    # GIVEN the Definitions parameter (LIVEINSIGHT_DEFINITIONS: page groups, goals, funnels seeded at deploy)
    from fnmatch import fnmatchcase

    from liveinsight import config
    from liveinsight.items import definitions

    assert template["Parameters"]["Definitions"]["Default"] == ""
    for logical_id in FUNCTIONS:
        env = transformed["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert env[config.ENV_DEFINITIONS] == {"Ref": "Definitions"}, logical_id
    # THEN the stats function's grant on definitions items matches their key, and no other item's
    grant = next(s for s in policy_statements(transformed, "StatsApiFunction") if s.get("Sid") == "KeepDefinitions")
    patterns = grant["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    for key in (definitions.key("shop.example.com"), definitions.pending_key("shop.example.com")):
        assert any(fnmatchcase(key["pk"], pattern) for pattern in patterns), key
    for other in ("view", "sites", "shop.example.com#*#-", "salt#2026-11-28", "rt#shop.example.com#0"):
        assert not any(fnmatchcase(other, pattern) for pattern in patterns), other


def test_api_functions_keep_the_deployed_memory_and_timeout(transformed):
    for logical_id in ("EventCollectorFunction", "RealtimeApiFunction", "StatsApiFunction"):
        properties = transformed["Resources"][logical_id]["Properties"]
        assert (properties["MemorySize"], properties["Timeout"]) == (256, 30)


def test_no_route_needs_a_gateway_key_so_share_links_reach_the_functions(transformed):
    # The read functions check the API key or a share link themselves (tests/test_share.py).
    paths = transformed["Resources"]["Api"]["Properties"]["Body"]["paths"]
    assert set(paths) == {"/api/events", "/api/realtime", "/api/stats", "/api/views", "/api/views/{name}",
                          "/api/definitions", "/api/definitions/{kind}/{name}", "/api/sites/{site}/zone"}
    for path in paths.values():
        for method in path.values():
            assert "security" not in method
    assert not [k for k, v in transformed["Resources"].items() if v["Type"].startswith("AWS::ApiGateway::UsagePlan")]
    for function in ("RealtimeApiFunction", "StatsApiFunction"):
        env = transformed["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert env["LIVEINSIGHT_API_KEY_SECRET_ARN"] == {"Ref": "ApiKeySecret"}


def test_the_api_key_lives_in_secrets_manager_and_only_the_readers_may_read_it(transformed):
    resources = transformed["Resources"]
    assert resources["ApiKeySecret"]["Properties"]["SecretString"] == {"Ref": "ApiKeyValue"}
    for logical_id, resource in resources.items():
        if logical_id != "ApiKeySecret":  # the key's value is in no environment variable, no other resource
            assert {"Ref": "ApiKeyValue"} not in list(_values(resource)), logical_id
    for function in FUNCTIONS:
        grants = [st for st in policy_statements(transformed, function) if "ApiKeySecret" in json.dumps(st["Resource"])]
        readers = function in ("RealtimeApiFunction", "StatsApiFunction")
        assert grants == ([{"Sid": "ReadApiKey", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                            "Resource": {"Ref": "ApiKeySecret"}}] if readers else []), function


def _values(node):
    """Every dict and list nested in a resource (to look for a reference anywhere in it)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)


def test_read_routes_are_throttled_per_route_at_the_stage(template):
    settings = template["Resources"]["Api"]["Properties"]["MethodSettings"]
    by_route = {(s["ResourcePath"], s["HttpMethod"]): s for s in settings}
    for route in ("/~1api~1realtime", "/~1api~1stats"):
        read = by_route[(route, "GET")]
        assert read["ThrottlingRateLimit"] == {"Ref": "ReadRateLimit"}
        assert read["ThrottlingBurstLimit"] == {"Ref": "ReadBurstLimit"}
    assert by_route[("/*", "*")]["ThrottlingRateLimit"] == {"Ref": "CollectRateLimit"}


def test_share_secret_is_generated_and_only_the_readers_may_read_it(transformed):
    resources = transformed["Resources"]
    secrets = [k for k, v in resources.items() if v["Type"] == "AWS::SecretsManager::Secret"]
    assert sorted(secrets) == ["ApiKeySecret", "OriginSecret", "ShareSecret", "SlackWebhookSecret"]
    generated = resources["ShareSecret"]["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32 and "SecretString" not in resources["ShareSecret"]["Properties"]
    for function in FUNCTIONS:
        env = resources[function]["Properties"]["Environment"]["Variables"]
        # Other functions may hold their own secrets; none may read the share secret.
        grants = [st for st in policy_statements(transformed, function) if "ShareSecret" in json.dumps(st["Resource"])]
        if function in ("RealtimeApiFunction", "StatsApiFunction"):
            assert env["LIVEINSIGHT_SHARE_SECRET_ARN"] == {"Ref": "ShareSecret"}
            assert grants == [{"Sid": "ReadShareSecret", "Effect": "Allow",
                               "Action": ["secretsmanager:GetSecretValue"], "Resource": {"Ref": "ShareSecret"}}]
        else:
            assert "LIVEINSIGHT_SHARE_SECRET_ARN" not in env and grants == []
    assert transformed["Outputs"]["ShareSecretArn"]["Value"] == {"Ref": "ShareSecret"}


def test_gateway_refusals_use_the_error_envelope(transformed):
    responses = transformed["Resources"]["Api"]["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    assert responses["API_KEY_INVALID"]["statusCode"] == "401"
    for response in responses.values():
        assert "gatewayresponse.header.Access-Control-Allow-Origin" in response["responseParameters"]
        assert '"status": "error"' in response["responseTemplates"]["application/json"]


def test_stage_and_names_follow_the_stage_parameter(template):
    parameters = template["Parameters"]
    assert {"Stage", "AllowedOrigins", "RawRetentionHours"} <= set(parameters)
    assert parameters["Stage"]["Default"] == STAGE
    assert template["Resources"]["Api"]["Properties"]["StageName"] == {"Ref": "Stage"}


# ------------------------------------------------------------------ stream aggregator


def test_stream_aggregator_mapping(transformed):
    mapping = transformed["Resources"]["StreamAggregatorEventSource"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["EventsTable", "StreamArn"]}
    assert mapping["FunctionName"] == {"Ref": "StreamAggregatorFunction"}
    assert mapping["StartingPosition"] == "LATEST"
    # a failed batch comes back whole (items record applied positions per shard, which the
    # tumbling window's `shardId` names): never bisected
    assert mapping["BisectBatchOnFunctionError"] is False
    assert mapping["TumblingWindowInSeconds"] > 0
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert {"BatchSize", "MaximumBatchingWindowInSeconds", "MaximumRetryAttempts",
            "MaximumRecordAgeInSeconds", "DestinationConfig"} <= set(mapping)


def test_two_consumers_read_the_stream_at_their_own_windows(template, transformed):
    resources = transformed["Resources"]
    rollups = resources["StreamAggregatorEventSource"]["Properties"]
    realtime = resources["RealtimeAggregatorEventSource"]["Properties"]
    assert realtime["EventSourceArn"] == rollups["EventSourceArn"]  # one stream, two readers per shard
    assert realtime["FunctionName"] == {"Ref": "RealtimeAggregatorFunction"}
    assert realtime["MaximumBatchingWindowInSeconds"] == {"Ref": "RealtimeBatchingWindowSeconds"}
    assert rollups["MaximumBatchingWindowInSeconds"] == {"Ref": "AggregatorBatchingWindowSeconds"}
    parameters = template["Parameters"]
    assert parameters["RealtimeBatchingWindowSeconds"]["MaxValue"] <= 1
    assert parameters["AggregatorBatchingWindowSeconds"]["Default"] == 60
    # the realtime lane is whole-batch, in order, per shard, like the rollup lane
    assert realtime["BisectBatchOnFunctionError"] is False and realtime["ParallelizationFactor"] == 1
    assert realtime["TumblingWindowInSeconds"] > 0
    assert realtime["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    for logical_id, consumer in (("StreamAggregatorFunction", "rollups"), ("RealtimeAggregatorFunction", "realtime")):
        assert resources[logical_id]["Properties"]["Environment"]["Variables"]["LIVEINSIGHT_STREAM_CONSUMER"] == consumer


def test_realtime_consumer_policy_is_exactly_what_it_calls(transformed, backend):
    # GIVEN every DynamoDB call the realtime consumer makes on a batch, recorded at the client
    import time

    from conftest import page_view
    from liveinsight.local.server import StreamPoller

    calls: set[tuple[str, str]] = set()

    def record(model, params, **_):
        tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
        calls.update((model.name, table) for table in tables)

    now = time.time()
    backend.post({"events": [page_view("s", "/", now), page_view("b", "/", now, user_agent="curl/8.4.0")]})
    poller = StreamPoller(backend.store.settings, backend.handler, consumer="realtime")
    poller.poll_once()  # the poller's own stream and checkpoint calls are not the function's
    backend.post({"events": [page_view("s", "/x", now + 1)]})
    from liveinsight import aggregator, handler

    # a cold container (a warm one merges into the items it put itself, without reading them)
    handler.services().aggregator.written = aggregator.WrittenItems(aggregator.WRITTEN_ITEMS_KEPT)
    backend.store.client.meta.events.register("before-parameter-build.dynamodb", record)
    poller.poll_once()
    backend.store.client.meta.events.unregister("before-parameter-build.dynamodb", record)
    # THEN the template allows exactly those table actions (plus the first batch's site registration)
    settings = backend.store.settings
    statements = policy_statements(transformed, "RealtimeAggregatorFunction")
    calls.add(("UpdateItem", settings.stats_table))
    for table, logical_id in ((settings.stats_table, "StatsTable"), (settings.sessions_table, "SessionsTable")):
        assert actions_on(statements, logical_id) == {f"dynamodb:{op}" for op, t in calls if t == table}, logical_id


# ------------------------------------------------------------------ least privilege


def test_no_role_gets_wildcard_dynamodb_access(transformed):
    for function in FUNCTIONS:
        for statement in policy_statements(transformed, function):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a in ("*", "dynamodb:*") for a in actions), function
            assert statement["Resource"] != "*", function
        managed = transformed["Resources"][f"{function}Role"]["Properties"]["ManagedPolicyArns"]
        assert all(arn.endswith("/AWSLambdaBasicExecutionRole") for arn in managed), function


def test_collector_writes_events_and_only_the_salt_and_site_registry_items_of_stats(transformed):
    statements = policy_statements(transformed, "EventCollectorFunction")
    assert actions_on(statements, "EventsTable") == {"dynamodb:BatchWriteItem"}
    assert actions_on(statements, "SessionsTable") == set()
    salt, registry, definitions, zones = [s for s in statements if "StatsTable" in json.dumps(s["Resource"])]
    assert set(salt["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert salt["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["salt#*"]
    assert set(registry["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert registry["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == ["sites", "sites-new"]
    assert definitions["Action"] == ["dynamodb:GetItem"]  # the goals' revenue properties, read only
    assert definitions["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["*#def"]
    assert zones["Action"] == ["dynamodb:Query"]  # the site's zone (its visitor ids' date), read only
    assert zones["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == ["zone"]


def test_collector_policy_is_exactly_what_the_collector_calls(transformed, backend):
    # GIVEN every DynamoDB call the collector makes, recorded at the client
    import time

    from conftest import page_view

    calls: set[tuple[str, str]] = set()
    stats_keys: list[str] = []

    def record(model, params, **_):
        tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
        calls.update((model.name, table) for table in tables)
        if params.get("TableName") == backend.store.settings.stats_table:
            key = params.get("Key") or params.get("Item") or {"pk": params["ExpressionAttributeValues"][":pk"]}
            stats_keys.append(key["pk"]["S"])

    backend.store.client.meta.events.register("before-parameter-build.dynamodb", record)
    # WHEN it stores a batch with a tracker event, a cookieless event (the daily salt), a bot and an event
    # with properties (the site's goals, for a revenue property)
    now = time.time()
    cookieless = {"event_type": "page_view", "page_url": "https://shop.example.com/", "timestamp": now}
    purchase = {"event_type": "purchase", "session_id": "s", "page_url": "https://shop.example.com/", "timestamp": now,
                "props": {"amount": 5}}
    code, _ = backend.post({"events": [page_view("s", "/", now), cookieless,
                                       page_view("b", "/", now, user_agent="curl/8.4.0"), purchase]})
    assert code == 200
    # THEN the template allows exactly those actions on exactly those tables, and nothing else
    settings = backend.store.settings
    tables = {settings.events_table: "EventsTable", settings.stats_table: "StatsTable",
              settings.sessions_table: "SessionsTable"}
    statements = policy_statements(transformed, "EventCollectorFunction")
    for table, logical_id in tables.items():
        assert actions_on(statements, logical_id) == {f"dynamodb:{op}" for op, t in calls if t == table}, logical_id
    assert stats_keys and all(key.startswith("salt#") or key in ("sites", "sites-new", "zone") or key.endswith("#def")
                              for key in stats_keys)
    assert "shop.example.com#def" in stats_keys and "zone" in stats_keys  # the site's zone salts its visitor ids
    assert {"sites", "sites-new"} <= set(stats_keys)  # the site was new: it was admitted


# ------------------------------------------------------------------ alarms reach someone; logs keep no IP


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(transformed):
    resources = transformed["Resources"]
    topic = resources["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlarmTopicKey", "Arn"]}  # not alias/aws/sns
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    [cloudwatch] = [s for s in statements if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"]
    assert cloudwatch["Effect"] == "Allow"
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch["Action"])
    assert any("AWS" in s["Principal"] and s["Action"] == "kms:*" for s in statements), "the account keeps control"


def test_every_alarm_notifies_the_topic(transformed):
    alarms = [r["Properties"] for r in transformed["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 8
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], alarm["AlarmName"]


def test_api_access_logs_do_not_record_the_source_ip(template):
    setting = template["Resources"]["Api"]["Properties"]["AccessLogSetting"]["Fn::If"][1]
    log_format = setting["Format"]
    json.loads(log_format.replace("$context.", "context_"))  # still one JSON object per request
    for leak in ("sourceIp", "identity.", "userAgent", "querystring", "caller", "user"):
        assert leak not in log_format, leak
    assert "$context.requestId" in log_format and "$context.status" in log_format


@pytest.mark.parametrize("function", ["RealtimeApiFunction", "StatsApiFunction"])
def test_readers_only_query_the_stats_table(transformed, function, backend):
    # GIVEN every DynamoDB call a read route makes (with data, all sites and one, filtered)
    import time

    from conftest import page_view

    backend.post({"events": [page_view("s", "/", time.time())]})
    backend.aggregate()
    calls: set[tuple[str, str]] = set()
    got: list[str] = []

    def record(model, params, **_):
        calls.add((model.name, params.get("TableName", "")))
        if model.name == "GetItem":
            got.append(params["Key"]["pk"]["S"])

    backend.store.client.meta.events.register("before-parameter-build.dynamodb", record)
    route = "/api/realtime" if function == "RealtimeApiFunction" else "/api/stats"
    for query in ("", "?site=shop.example.com", "?page=/"):
        assert backend.get(route + query)[0] == 200
    # THEN the function may do exactly that: Query the stats table, nothing on sessions or events
    # (the stats function also keeps the team's saved views, in their own partition only, and reads a
    # site's definitions: its goals)
    statements = policy_statements(transformed, function)
    table = backend.store.settings.stats_table
    assert calls == ({("Query", table)} if function == "RealtimeApiFunction" else {("Query", table), ("GetItem", table)})
    assert all(key.endswith("#def") for key in got)
    read = [s for s in statements if s.get("Sid") == "ReadRollups"]
    assert actions_on(read, "StatsTable") == {"dynamodb:Query"}
    views = [s for s in statements if s.get("Sid") == "KeepSavedViews"]
    if function == "StatsApiFunction":
        assert set(views[0]["Action"]) == {"dynamodb:PutItem", "dynamodb:DeleteItem"}
        assert views[0]["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == ["view"]
        zones = [s for s in statements if s.get("Sid") == "KeepSiteZones"]  # PUT /api/sites/{site}/zone
        assert set(zones[0]["Action"]) == {"dynamodb:PutItem"}
        assert zones[0]["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == ["zone"]
    else:
        assert views == []
    definitions = [s for s in statements if s.get("Sid") == "KeepDefinitions"]
    if function == "StatsApiFunction":
        assert set(definitions[0]["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem"}
        assert definitions[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["*#def", "#recount"]
    else:
        assert definitions == []
    assert actions_on(statements, "SessionsTable") == set()
    assert actions_on(statements, "EventsTable") == set()


def test_aggregator_reads_the_stream_and_writes_sessions_and_rollups(transformed):
    statements = policy_statements(transformed, "StreamAggregatorFunction")
    assert actions_on(statements, "EventsTable") == {
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
        "dynamodb:Query",  # a recount marker's session's raw events
    }
    for table in ("StatsTable", "SessionsTable"):
        assert DYNAMODB_WRITE_ACTIONS & actions_on(statements, table)
        assert "dynamodb:BatchGetItem" in actions_on(statements, table)


def _schedules(transformed) -> dict[str, dict]:
    return {logical_id: r["Properties"] for logical_id, r in transformed["Resources"].items()
            if r["Type"] == "AWS::Events::Rule" and "ReportFunction" in json.dumps(r["Properties"]["Targets"])}


def test_reports_and_alerts_run_on_schedules_the_handler_understands(transformed):
    from liveinsight.reports.scheduled import is_scheduled_event

    assert len(_schedules(transformed)) == 4
    by_input = {}
    for props in _schedules(transformed).values():
        (target,) = props["Targets"]
        payload = json.loads(target["Input"])
        assert is_scheduled_event(payload)
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0  # a retry would mail the report twice
        by_input[json.dumps(payload, sort_keys=True)] = props
    weekly = by_input['{"liveinsight": "report", "period": "7d"}']
    daily = by_input['{"liveinsight": "report", "period": "1d"}']
    alerts = by_input['{"liveinsight": "alerts"}']
    assert weekly["ScheduleExpression"] == {"Ref": "ReportSchedule"}
    assert daily["State"] == {"Fn::If": ["DailyReportEnabled", "ENABLED", "DISABLED"]}
    assert alerts["ScheduleExpression"] == "rate(15 minutes)"
    assert by_input['{"liveinsight": "recount"}']["ScheduleExpression"] == "rate(5 minutes)"


def test_the_slack_webhook_is_a_secret_never_an_environment_variable(template, transformed):
    assert template["Parameters"]["SlackWebhookUrl"]["NoEcho"] is True
    secret = template["Resources"]["SlackWebhookSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["SecretString"] == {"Ref": "SlackWebhookUrl"}
    for logical_id in FUNCTIONS:
        env = transformed["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert "SlackWebhookUrl" not in json.dumps(env)
    env = transformed["Resources"]["ReportFunction"]["Properties"]["Environment"]["Variables"]
    assert env["LIVEINSIGHT_SLACK_WEBHOOK_SECRET"] == {"Fn::If": ["HasSlack", {"Ref": "SlackWebhookSecret"}, ""]}


def test_the_report_function_reads_rollups_keeps_alert_state_and_may_mail_only_as_the_sender(transformed):
    statements = policy_statements(transformed, "ReportFunction", keep_if=True)
    plain = [s for s in statements if "Fn::If" not in s]
    conditional = {s["Fn::If"][1]["Sid"]: (s["Fn::If"][0], s["Fn::If"][1]) for s in statements if "Fn::If" in s}
    assert actions_on(plain, "StatsTable") == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}
    (put,) = [s for s in plain if s["Action"] == ["dynamodb:PutItem"]]
    assert put["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["alert#*", "*#def"]}}
    assert actions_on(plain, "EventsTable") == {"dynamodb:Scan", "dynamodb:PutItem"}  # the recount's markers
    assert actions_on(plain, "SessionsTable") == set()
    condition, mail = conditional["SendReportMail"]
    assert condition == "HasReportEmail" and mail["Action"] == "ses:SendEmail"
    assert mail["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "ReportSender"}}}
    condition, secret = conditional["ReadSlackWebhook"]
    assert condition == "HasSlack" and secret["Action"] == "secretsmanager:GetSecretValue"
    assert secret["Resource"] == {"Ref": "SlackWebhookSecret"}


# ------------------------------------------------------------------ logs and alarms


def test_the_recount_job_and_the_rollup_consumer_may_do_exactly_what_a_recount_calls(transformed, backend):
    # GIVEN a page view of the blog at 04:00 yesterday, and a page group of the blog defined at 05:00
    from conftest import collect, midnight, page_view
    from fnmatch import fnmatchcase

    from liveinsight import handler
    from liveinsight.definitions import DefinitionsStore

    day = midnight(1)
    collect(backend, [page_view("s", "/blog/a", day + 4 * 3600)], now=day + 4 * 3600)
    backend.aggregate()
    DefinitionsStore(backend.store, clock=lambda: day + 5 * 3600).put("shop.example.com", "page_groups", "Blog",
                                                                       {"pattern": "/blog/**"})
    handler.services().aggregator.definitions.clear()
    calls: set[tuple[str, str]] = set()
    keys: list[str] = []

    def record(model, params, **_):
        tables = [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
        calls.update((model.name, table) for table in tables)
        if model.name == "PutItem" and params["TableName"] == backend.store.settings.stats_table:
            keys.append(params["Item"]["pk"]["S"])

    # WHEN the schedule runs the recount job (as the reports function), then the rollup consumer takes its marker
    backend.store.client.meta.events.register("before-parameter-build.dynamodb", record)
    result = backend.handler({"liveinsight": "recount"}, None)
    backend.store.client.meta.events.unregister("before-parameter-build.dynamodb", record)
    assert [(r["name"], r["visitors"]) for r in result["recounted"]] == [("Blog", 1)]
    job, job_keys = set(calls), list(keys)
    calls.clear()
    backend.store.client.meta.events.register("before-parameter-build.dynamodb", record)
    from liveinsight.local.server import StreamPoller

    StreamPoller(backend.store.settings, backend.handler, consumer="rollup").poll_once()
    backend.store.client.meta.events.unregister("before-parameter-build.dynamodb", record)
    # THEN the reports function may make every call the job made (its stats puts: definitions items only)
    settings = backend.store.settings
    tables = {settings.events_table: "EventsTable", settings.stats_table: "StatsTable",
              settings.sessions_table: "SessionsTable"}
    statements = policy_statements(transformed, "ReportFunction")
    for table, logical_id in tables.items():
        assert {f"dynamodb:{op}" for op, t in job if t == table} <= actions_on(statements, logical_id), logical_id
    put = next(s for s in statements if s.get("Sid") == "KeepAlertState")
    patterns = put["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert job_keys and all(any(fnmatchcase(key, p) for p in patterns) for key in job_keys), job_keys
    # AND the rollup consumer may Query the marked session's raw events
    assert ("Query", settings.events_table) in calls
    statements = policy_statements(transformed, "StreamAggregatorFunction")
    for table, logical_id in tables.items():
        assert {f"dynamodb:{op}" for op, t in calls if t == table} <= actions_on(statements, logical_id), logical_id


def test_every_function_logs_to_a_group_with_retention(transformed):
    resources = transformed["Resources"]
    for logical_id, name in FUNCTIONS.items():
        group = resources[logical_id]["Properties"]["LoggingConfig"]["LogGroup"]
        group_properties = resources[group["Ref"]]["Properties"]
        assert resolve(group_properties["LogGroupName"], {"Stage": STAGE}) == f"/aws/lambda/{name}"
        assert group_properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def _alarm_metrics(transformed) -> list[tuple[str, str, str]]:
    """(namespace, metric, dimension value or logical id) for every alarm metric."""
    found = []
    for resource in transformed["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resource["Properties"]
        metrics = [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
        if "MetricName" in properties:
            metrics.append(properties)
        for metric in metrics:
            target = json.dumps(metric.get("Dimensions", []))
            found.append((metric["Namespace"], metric["MetricName"], target))
    return found


def test_alarms_cover_errors_api_throttling_duration_and_iterator_age(transformed):
    metrics = _alarm_metrics(transformed)

    def has(namespace, metric, target=""):
        return any(n == namespace and m == metric and target in t for n, m, t in metrics)

    for function in FUNCTIONS:
        assert has("AWS/Lambda", "Errors", function), function
    assert has("AWS/ApiGateway", "4XXError") and has("AWS/ApiGateway", "5XXError")
    for table in TABLE_RESOURCES.values():
        assert has("AWS/DynamoDB", "WriteThrottleEvents", table) and has("AWS/DynamoDB", "ReadThrottleEvents", table)
    assert has("AWS/DynamoDB", "WriteThrottleEvents", "ActivityIndex")
    assert has("AWS/Lambda", "Duration")
    assert has("AWS/Lambda", "IteratorAge", "StreamAggregatorFunction")
    assert has("AWS/Lambda", "IteratorAge", "RealtimeAggregatorFunction")


# ------------------------------------------------------------------ never commit identifiers

ACCOUNT_SPECIFIC = [
    pytest.param(re.compile(r"(?<![\d.])\d{12}(?!\d)"), id="account-number"),
    pytest.param(re.compile(r"\b(?!example)[a-z0-9]{10}\.execute-api\."), id="api-id"),
    pytest.param(re.compile(r"\bE[A-Z0-9]{12,13}\b"), id="cloudfront-distribution-id"),
    pytest.param(re.compile(r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:\d{12}:"), id="arn-with-account"),
]


@pytest.mark.parametrize("pattern", ACCOUNT_SPECIFIC)
def test_no_account_specific_identifiers(pattern):
    for path in (TEMPLATE, DEPLOY_DOC):
        if path.exists():
            assert not pattern.findall(path.read_text(encoding="utf-8")), path.name


# ------------------------------------------------------------------ what only a real deploy would show


def test_a_failed_first_deploy_can_be_retried(template):
    """The rollback of the deploy that created the stats table deletes it again; later it is kept."""
    stats = template["Resources"]["StatsTable"]
    assert stats["DeletionPolicy"] == "RetainExceptOnCreate"
    assert stats["UpdateReplacePolicy"] == "Retain"
    # deletion protection would make that rollback fail to delete the table ("already exists" next time)
    assert "DeletionProtectionEnabled" not in stats["Properties"]


def test_lambda_never_retries_a_report_run(transformed):
    """EventBridge's RetryPolicy does not cover Lambda's own asynchronous retries (two by default)."""
    configs = [r["Properties"] for r in transformed["Resources"].values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    (config,) = [c for c in configs if c["FunctionName"] == {"Ref": "ReportFunction"}]
    assert config["MaximumRetryAttempts"] == 0


def test_failed_stream_batches_raise_an_alarm(transformed):
    from liveinsight.handler import BATCH_ITEM_FAILURES_METRIC, SERVICE

    alarm = transformed["Resources"]["StreamAggregatorBatchItemFailuresAlarm"]["Properties"]
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    reported = stats["reported"]
    assert (reported["Namespace"], reported["MetricName"]) == ("LiveInsight", BATCH_ITEM_FAILURES_METRIC)
    dimensions = {d["Name"]: d["Value"] for d in reported["Dimensions"]}
    assert dimensions == {"service": SERVICE, "function": {"Fn::Sub": "liveinsight-stream-aggregator-${Stage}"}}
    assert resolve(dimensions["function"], {"Stage": STAGE}) == FUNCTIONS["StreamAggregatorFunction"]
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    assert "FILL(reported, 0)" in expression and "FILL(crashed, 0)" in expression
    assert "bisect" not in alarm["AlarmDescription"].lower()
    assert not any("StreamAggregatorErrorsAlarm" == logical_id for logical_id in transformed["Resources"])


def test_parked_records_raise_an_alarm_per_stage(transformed):
    from liveinsight.handler import RECORDS_PARKED_METRIC, SERVICE

    alarm = transformed["Resources"]["RecordsParkedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("LiveInsight", RECORDS_PARKED_METRIC)
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions == {"service": SERVICE, "function": {"Fn::Sub": "liveinsight-stream-aggregator-${Stage}"}}
    assert "liveinsight replay" in alarm["AlarmDescription"]
