"""The deployable side: `make package` output, IAM policies, the template against the code, the local stack's view of it.

Only the first group is slow: it runs `python -m infra.package` once (Chalice
builds the Lambda bundle, downloading Lambda-platform wheels) and lints the
result with cfn-lint. Everything else reads files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.domain.shipments import CARRIERS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
PACKAGED = ROOT / "build" / "package" / "sam.yaml"  # YAML: Chalice follows the merge template's format
REGION = "ap-southeast-3"

# The resources `chalice package` generates that infra/template.yaml merges into or names.
CHALICE_IDS = {
    "APIHandler": "AWS::Serverless::Function",
    "CognitoIdToken": "AWS::Serverless::Function",
    "RestAPI": "AWS::Serverless::Api",
    "TableChanges": "AWS::Serverless::Function",  # @app.on_dynamodb_record(name="table_changes")
    "DailyReminders": "AWS::Serverless::Function",  # @app.schedule(name="daily-reminders")
    "AnalyticsExport": "AWS::Serverless::Function",  # @app.schedule(name="analytics-export")
    "ErasureSweeper": "AWS::Serverless::Function",  # @app.schedule(name="erasure-sweeper")
    "CountersReconcile": "AWS::Serverless::Function",  # @app.schedule(name="counters-reconcile")
    "LateDeliveries": "AWS::Serverless::Function",  # @app.schedule(name="late-deliveries")
    "StreamRedrive": "AWS::Serverless::Function",  # @app.lambda_function(name="stream-redrive")
    "CampaignSender": "AWS::Serverless::Function",  # @app.lambda_function(name="campaign-sender")
    "InboundSms": "AWS::Serverless::Function",  # @app.on_sns_message(name="inbound_sms")
    "MessageEvents": "AWS::Serverless::Function",  # @app.on_sns_message(name="message_events")
}
# Resources `chalice package` generates that the template only names (no merge entry of its own).
CHALICE_NAMED = {"TableChangesRole": "AWS::IAM::Role", "StreamRedriveRole": "AWS::IAM::Role", "ApiHandlerRole": "AWS::IAM::Role"}

# cfn-lint findings accepted on purpose: rule id -> why. Errors and warnings fail the test unless
# listed here; so does I3011 (a stateful resource a stack update or deletion could lose; docs/operations.md).
ACCEPTED_LINT: dict[str, str] = {}
REQUIRED_INFORMATIONAL = {"I3011"}


def _template() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATE.read_text())


def _load_packaged(text: str) -> dict[str, Any]:
    """The packaged template; Chalice writes long-form intrinsics, but accept short tags too."""

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            return {name: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", tag)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader subclass


# --------------------------------------------------------------------------
# (a) make package + cfn-lint
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged() -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "infra.package"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, f"infra.package failed:\n{run.stdout}\n{run.stderr}"
    assert "build/package/sam.yaml" in run.stdout
    assert PACKAGED.is_file() and (PACKAGED.parent / "deployment.zip").is_file()
    return _load_packaged(PACKAGED.read_text())


def test_the_bundle_holds_every_runtime_dependency_built_for_lambda(packaged: dict[str, Any]) -> None:
    """Chalice leaves out, with a warning only, a requirement that has no wheel for Lambda's platform
    (manylinux2014, Amazon Linux 2's glibc 2.26 for python3.11): the bundle must hold each pinned version."""
    import re
    import zipfile

    names = zipfile.ZipFile(PACKAGED.parent / "deployment.zip").namelist()
    installed = {m.group(1).lower().replace("_", "-"): m.group(2) for n in names
                 if (m := re.match(r"^([A-Za-z0-9_.]+)-([^-/]+)\.dist-info/METADATA$", n))}
    pinned = {m.group(1).lower().replace("_", "-"): m.group(2)
              for line in (ROOT / "requirements.txt").read_text().splitlines()
              if (m := re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([^\s#]+)", line))}
    assert {name: installed.get(name) for name in pinned} == pinned
    shared_libraries = [n for n in names if n.endswith(".so")]
    assert any(n.startswith("duckdb/") or n.startswith("_duckdb") for n in shared_libraries)


def test_packaged_template_passes_cfn_lint(packaged: dict[str, Any]) -> None:
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    matches = lint(PACKAGED.read_text(), config=ManualArgs(regions=[REGION], include_checks=["I"]))
    findings = [
        f"{m.rule.id} line {m.linenumber}: {m.message}"
        for m in matches
        if (m.rule.id[0] in "EW" or m.rule.id in REQUIRED_INFORMATIONAL) and m.rule.id not in ACCEPTED_LINT
    ]
    assert findings == []


def test_stateful_resources_survive_stack_deletion_and_replacement(packaged: dict[str, Any]) -> None:
    """What holds customers' data, their credentials or what failed to be handled is never deleted by a
    stack update or deletion (docs/operations.md); the tables and the user pool refuse deletion too."""
    stateful = {"AWS::DynamoDB::Table", "AWS::Cognito::UserPool", "AWS::SecretsManager::Secret",
                "AWS::S3::Bucket", "AWS::SQS::Queue"}
    resources = packaged["Resources"]
    found = {name: r for name, r in resources.items() if r["Type"] in stateful}
    assert {"CrmTable", "IdempotencyTable", "AnalyticsTable", "UserPool", "CursorSecret", "PseudonymSecret",
            "ExportBucket", "StreamDeadLetterQueue"} <= set(found)
    for name, r in found.items():
        assert (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy")) == ("Retain", "Retain"), name
        if r["Type"] == "AWS::DynamoDB::Table":
            assert r["Properties"].get("DeletionProtectionEnabled") is True, name
    assert resources["UserPool"]["Properties"].get("DeletionProtection") == "ACTIVE"


def test_merge_entries_land_on_chalice_resources(packaged: dict[str, Any]) -> None:
    merge_entries = {name for name, r in _template()["Resources"].items() if "Type" not in r}
    assert merge_entries == set(CHALICE_IDS)
    resources = packaged["Resources"]
    assert {name: resources[name]["Type"] for name in CHALICE_IDS} == CHALICE_IDS
    assert {name: resources[name]["Type"] for name in CHALICE_NAMED} == CHALICE_NAMED
    api_env = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert {
        "TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "USER_POOL_ID", "USER_POOL_CLIENT_ID",
        "CURSOR_SECRET_ARN", "ANALYTICS_EXPORT_FUNCTION", "STAGE", "BRANCHES", "TIMEZONE",  # the last 3: config.json
    } <= set(api_env)
    # the API sends no message, starts no workflow and writes no export: it is not told where those go
    assert not {"OPS_TOPIC_ARN", "EXPORT_BUCKET", "ESCALATION_STATE_MACHINE_ARN", "DEPARTMENT_TOPIC_ARN_PREFIX",
                "SENDER_EMAIL"} & set(api_env)
    assert api_env["CURSOR_SECRET_ARN"] == {"Ref": "CursorSecret"}  # read at run time, like the pseudonym key
    assert api_env["ANALYTICS_EXPORT_FUNCTION"] == {"Ref": "AnalyticsExport"}
    export = resources["AnalyticsExport"]["Properties"]
    assert {"TABLE_NAME", "ANALYTICS_TABLE_NAME", "EXPORT_BUCKET", "PSEUDONYM_SECRET_ARN", "TIMEZONE", "STAGE"} <= set(
        export["Environment"]["Variables"])
    # the keys are read at run time: no function's configuration holds one
    assert export["Environment"]["Variables"]["PSEUDONYM_SECRET_ARN"] == {"Ref": "PseudonymSecret"}
    for name, resource in resources.items():
        assert "resolve:secretsmanager" not in json.dumps(resource), name
    readers = {}
    for name, r in resources.items():
        if r["Type"] == "AWS::IAM::Role" and "secretsmanager:GetSecretValue" in json.dumps(r):
            readers[name] = [arn for s in r["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                             if s["Action"] == ["secretsmanager:GetSecretValue"] for arn in s["Resource"]]
    # each reads its own keys only: the export the pseudonym key, the API's role the cursor key and the carriers'
    assert readers.pop("AnalyticsExportRole") == ["arn:aws:secretsmanager:*:*:secret:relasi-prod-pseudonym-key-??????"]
    assert readers.pop("ApiHandlerRole") == ["arn:aws:secretsmanager:*:*:secret:relasi-prod-cursor-secret-??????"] + [
        f"arn:aws:secretsmanager:*:*:secret:relasi-prod-carrier-{c}-??????" for c in CARRIERS] + [
        "arn:aws:secretsmanager:*:*:secret:relasi-prod-link-key-??????"]
    # the link key: the campaign sender signs opt-out links, the stream consumer (and its redrive) survey links
    for signer in ("CampaignSenderRole", "TableChangesRole", "StreamRedriveRole"):
        assert readers.pop(signer) == ["arn:aws:secretsmanager:*:*:secret:relasi-prod-link-key-??????"], signer
    assert all(r == ["arn:aws:secretsmanager:*:*:secret:relasi-prod-cursor-secret-??????"] for r in readers.values())
    assert (export["Timeout"], export["MemorySize"]) == (900, 1769)
    # the name the API may invoke (.chalice/policy-prod.json), not one CloudFormation makes up
    assert export["FunctionName"] == {"Fn::Sub": "relasi-${Stage}-analytics-export"}
    invoke = [s for s in json.loads((ROOT / ".chalice" / "policy-prod.json").read_text())["Statement"]
              if s["Action"] == ["lambda:InvokeFunction"]]
    assert [s["Resource"] for s in invoke] == [["arn:aws:lambda:*:*:function:relasi-prod-analytics-export"],
                                               ["arn:aws:lambda:*:*:function:relasi-prod-campaign-sender"]]
    assert resources["AnalyticsExportRole"]["Properties"]["Policies"][0]["PolicyDocument"] == json.loads(
        (ROOT / ".chalice" / "policy-analytics-export-prod.json").read_text())
    authorizer_env = resources["CognitoIdToken"]["Properties"]["Environment"]["Variables"]
    assert {"USER_POOL_ID", "USER_POOL_CLIENT_ID", "STAGE"} <= set(authorizer_env)
    assert "GatewayResponses" in resources["RestAPI"]["Properties"]
    assert "DefinitionBody" in resources["RestAPI"]["Properties"]  # Chalice's routes survived the merge


def test_alarms_notify_the_ops_topic(packaged: dict[str, Any]) -> None:
    alarms = {n: r["Properties"] for n, r in packaged["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) == 25
    # the one metric the nightly run counts when it needed a facts backfill and could not start it
    watched = alarms["ExportBackfillNotStartedAlarm"]
    assert (watched["Namespace"], watched["MetricName"]) == ("Relasi", "FactsBackfillAutoStartFailed")
    assert 'count("FactsBackfillAutoStartFailed")' in (ROOT / "chalicelib" / "workflows" / "backfill.py").read_text()
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "OpsTopic"}]
        assert props["OKActions"] == [{"Ref": "OpsTopic"}]
    # alarms cannot publish to a topic encrypted with the AWS managed key
    assert packaged["Resources"]["OpsTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "OpsTopicKey"}


DEPARTMENTS = ("sales", "service", "quality_control", "shipment", "finance", "customer_care")


def test_state_machines_are_deployed_from_their_asl_files(packaged: dict[str, Any]) -> None:
    """The ASL file is the one source: the packaged template carries it, infra/template.yaml only names it."""
    machines = {n: r for n, r in packaged["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine"}
    assert set(machines) == {"EscalationStateMachine", "ReminderStateMachine", "CampaignStateMachine",
                             "ExportBackfillStateMachine"}
    for name, resource in machines.items():
        asl_file = ROOT / resource["Metadata"]["DefinitionFile"]
        assert json.loads(resource["Properties"]["DefinitionString"]) == json.loads(asl_file.read_text())
        assert "DefinitionString" not in _template()["Resources"][name]["Properties"]
    stream_env = packaged["Resources"]["TableChanges"]["Properties"]["Environment"]["Variables"]
    assert stream_env["ESCALATION_STATE_MACHINE_ARN"] == {"Ref": "EscalationStateMachine"}
    alarm = packaged["Resources"]["EscalationExecutionsFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "EscalationStateMachine"}}]


def _dataset_columns(dataset: str) -> list[dict[str, str]]:
    from chalicelib.domain.exports import column_sets

    return [{"Name": c.name, "Type": c.glue_type, "Comment": c.comment} for c in column_sets()[dataset]]


def test_every_export_dataset_has_one_glue_table_with_its_columns(packaged: dict[str, Any]) -> None:
    """DATASETS and FACT_DATASETS are the one source of the columns: the template names a dataset per table,
    packaging writes them in."""
    from chalicelib.config import EXPORT_EARLIEST_DATE
    from chalicelib.domain.exports import FACT_DATASETS, column_sets
    from chalicelib.persistence.export_files import ATHENA_PREFIX, partition_prefix, symlink_prefix

    written = {n: r for n, r in _template()["Resources"].items() if r.get("Type") == "AWS::Glue::Table"}
    assert sorted(r["Metadata"]["RelasiDataset"] for r in written.values()) == sorted(column_sets())  # one each
    for resource in written.values():
        assert "Columns" not in resource["Properties"]["TableInput"]["StorageDescriptor"]
    tables = {n: r for n, r in packaged["Resources"].items() if r["Type"] == "AWS::Glue::Table"}
    assert set(tables) == set(written)
    database = packaged["Resources"]["AnalyticsDatabase"]
    assert database["Type"] == "AWS::Glue::Database"
    for resource in tables.values():
        dataset = resource["Metadata"]["RelasiDataset"]
        assert resource["Properties"]["DatabaseName"] == {"Ref": "AnalyticsDatabase"}
        table = resource["Properties"]["TableInput"]
        assert table["Name"] == dataset and table["TableType"] == "EXTERNAL_TABLE"
        descriptor = table["StorageDescriptor"]
        assert descriptor["Columns"] == _dataset_columns(dataset)
        assert all(len(c["Comment"]) <= 255 for c in descriptor["Columns"])  # Glue's limit
        assert [k["Name"] for k in table["PartitionKeys"]] == ["dt"]
        parameters = table["Parameters"]
        if dataset in FACT_DATASETS:  # facts: the parts themselves, each run adding its own to the day they happened
            # Parquet files (chalicelib/persistence/parquet.py), read by column
            assert descriptor["SerdeInfo"]["SerializationLibrary"] \
                == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
            assert descriptor["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
            assert descriptor["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
            assert parameters["classification"] == "parquet" and "compressionType" not in parameters
            assert descriptor["Location"] == {"Fn::Sub": f"s3://${{ExportBucket}}/exports/{dataset}/parquet/"}
            assert parameters["storage.location.template"] == {
                "Fn::Sub": "s3://${ExportBucket}/" + partition_prefix(dataset, "${!dt}")}
        else:  # the symlink files the export switches (chalicelib/persistence/export_files.py), not the parts
            assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
            assert parameters["classification"] == "json" and parameters["compressionType"] == "gzip"
            assert descriptor["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
            assert descriptor["Location"] == {"Fn::Sub": f"s3://${{ExportBucket}}/{ATHENA_PREFIX}/{dataset}/"}
            assert parameters["storage.location.template"] == {
                "Fn::Sub": "s3://${ExportBucket}/" + symlink_prefix(dataset, "${!dt}")}
        assert {k: parameters[k] for k in ("projection.enabled", "projection.dt.type", "projection.dt.format")} == {
            "projection.enabled": "true", "projection.dt.type": "date", "projection.dt.format": "yyyy-MM-dd"}
        # Athena sees every date POST /analytics/exports accepts, today in Jakarta while it is yesterday in UTC too
        assert parameters["projection.dt.range"] == f"{EXPORT_EARLIEST_DATE},NOW+1DAYS"
    (rule,) = packaged["Resources"]["ExportBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "exports/" and rule["Status"] == "Enabled" and rule["ExpirationInDays"] >= 366
    from chalicelib.config import BACKFILL_REFRESH_DAYS

    # facts are written once: the nightly run's refresh backfill rewrites them well before the bucket expires them
    assert rule["ExpirationInDays"] >= BACKFILL_REFRESH_DAYS + 60


def test_merge_template_fills_glue_columns_from_datasets_only(tmp_path: Path) -> None:
    from infra.glue_tables import with_columns
    from infra.package import merge_template

    merged = yaml.safe_load(merge_template(tmp_path).read_text())
    for resource in merged["Resources"].values():
        if resource.get("Type") == "AWS::Glue::Table":
            dataset = resource["Metadata"]["RelasiDataset"]
            assert resource["Properties"]["TableInput"]["StorageDescriptor"]["Columns"] == _dataset_columns(dataset)
    table = {"Type": "AWS::Glue::Table", "Metadata": {"RelasiDataset": "rfm"},
             "Properties": {"TableInput": {"StorageDescriptor": {}}}}
    assert with_columns({"Resources": {"T": table}})["Resources"]["T"]["Properties"]["TableInput"][
        "StorageDescriptor"]["Columns"] == _dataset_columns("rfm")
    assert "Columns" not in table["Properties"]["TableInput"]["StorageDescriptor"]  # the input is left alone
    with pytest.raises(ValueError, match="RelasiDataset"):
        with_columns({"Resources": {"T": {**table, "Metadata": {"RelasiDataset": "invoices"}}}})
    copied = {**table, "Properties": {"TableInput": {"StorageDescriptor": {"Columns": []}}}}
    with pytest.raises(ValueError, match="DATASETS only"):
        with_columns({"Resources": {"T": copied}})


def test_escalation_reaches_only_complaints_and_the_ops_topics() -> None:
    resources = _template()["Resources"]
    topics = {
        r["Properties"]["TopicName"]["Fn::Sub"]: n for n, r in resources.items() if r.get("Type") == "AWS::SNS::Topic"
    }
    department_topics = {f"relasi-${{Stage}}-ops-{d}": topics.get(f"relasi-${{Stage}}-ops-{d}") for d in DEPARTMENTS}
    assert None not in department_topics.values()
    for logical_id in department_topics.values():
        assert resources[logical_id]["Properties"]["KmsMasterKeyId"] == {"Ref": "OpsTopicKey"}
    prefix = resources["TableChanges"]["Properties"]["Environment"]["Variables"]["DEPARTMENT_TOPIC_ARN_PREFIX"]["Fn::Sub"]
    assert prefix.endswith(":relasi-${Stage}-ops-")
    role = resources["EscalationStateMachineRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    (policy,) = role["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert statements["ReadAndEscalateComplaints"]["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert statements["ReadAndEscalateComplaints"]["Resource"] == {"Fn::GetAtt": ["CrmTable", "Arn"]}
    assert statements["AlertOps"]["Action"] == "sns:Publish"
    assert statements["AlertOps"]["Resource"] == [{"Ref": "OpsTopic"}] + [{"Ref": n} for n in department_topics.values()]
    assert statements["EncryptAlerts"]["Resource"] == {"Fn::GetAtt": ["OpsTopicKey", "Arn"]}
    assert set(statements) == {"ReadAndEscalateComplaints", "AlertOps", "EncryptAlerts", "WorkflowKey", "DeliverErrorLogs"}


# --------------------------------------------------------------------------
# (b) least-privilege policies
# --------------------------------------------------------------------------


def _policy_files() -> list[tuple[str, str]]:
    """Every policy file the config names, per stage and per function."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    found = []
    for stage, settings in config["stages"].items():
        found.append((stage, settings["iam_policy_file"]))
        for function in settings.get("lambda_functions", {}).values():
            if "iam_policy_file" in function:
                found.append((stage, function["iam_policy_file"]))
    return found


@pytest.mark.parametrize(("stage", "file_name"), _policy_files())
def test_policy_has_no_wildcard_action_or_resource(stage: str, file_name: str) -> None:
    policy_file = ROOT / ".chalice" / file_name
    policy = json.loads(policy_file.read_text())
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        assert actions and resources
        for action in actions:
            assert "*" not in action, f"{policy_file.name}: wildcard action {action}"
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", action), action
        for resource in resources:
            if resource == "*":
                # The one exception: SMS to a phone number (Publish with PhoneNumber) has no resource ARN.
                assert actions == ["sns:Publish"] and resources == ["*"], f"{policy_file.name}: {statement.get('Sid')}"
                assert statement.get("Sid") == "SmsToPhoneNumbersNeedResourceStar"
                continue
            service = resource.split(":")[2]
            assert all(a.split(":")[0] == service for a in actions)
            if service == "dynamodb":
                assert re.fullmatch(
                    rf"arn:aws:dynamodb:\*:\*:table/relasi-{stage}(-idempotency|-analytics|/index/(\*|[a-z_]+)|/stream/\*)?",
                    resource,
                ), f"{policy_file.name}: {resource}"
            else:
                assert resource in _SCOPED_RESOURCES[service](stage), f"{policy_file.name}: {resource}"
        if "s3:ListBucket" in actions:  # the bucket's listing only under the exports
            assert statement["Condition"] == {"StringLike": {"s3:prefix": ["exports/*"]}}, policy_file.name


# What a policy may name outside DynamoDB, per service.
_SCOPED_RESOURCES = {
    "logs": lambda stage: {"arn:aws:logs:*:*:log-group:/aws/lambda/relasi-*"},
    "sqs": lambda stage: {f"arn:aws:sqs:*:*:relasi-{stage}-stream-dlq", f"arn:aws:sqs:*:*:relasi-{stage}-inbound-sms-dlq",
                          f"arn:aws:sqs:*:*:relasi-{stage}-message-events-dlq"},
    "sns": lambda stage: {f"arn:aws:sns:*:*:relasi-{stage}-ops", f"arn:aws:sns:*:*:relasi-{stage}-ops-*"},
    # SendTextMessage through the stage's configuration set, from a registered sender id, number or pool
    "sms-voice": lambda stage: {f"arn:aws:sms-voice:*:*:configuration-set/relasi-{stage}",
                                "arn:aws:sms-voice:*:*:sender-id/*", "arn:aws:sms-voice:*:*:phone-number/*",
                                "arn:aws:sms-voice:*:*:pool/*"},
    "states": lambda stage: {f"arn:aws:states:*:*:stateMachine:relasi-{stage}-escalation",
                             f"arn:aws:states:*:*:execution:relasi-{stage}-escalation:*",
                             f"arn:aws:states:*:*:stateMachine:relasi-{stage}-reminders",
                             f"arn:aws:states:*:*:execution:relasi-{stage}-reminders:*",
                             f"arn:aws:states:*:*:stateMachine:relasi-{stage}-campaigns",
                             f"arn:aws:states:*:*:stateMachine:relasi-{stage}-export-backfill"},
    # none for "ses": the sender identity follows the SenderDomain parameter (the template's SendEmailPolicy)
    "s3": lambda stage: {f"arn:aws:s3:::relasi-{stage}-exports-*", f"arn:aws:s3:::relasi-{stage}-exports-*/exports/*"},
    "lambda": lambda stage: {f"arn:aws:lambda:*:*:function:relasi-{stage}-analytics-export",
                             f"arn:aws:lambda:*:*:function:relasi-{stage}-campaign-sender"},
    "secretsmanager": lambda stage: {f"arn:aws:secretsmanager:*:*:secret:relasi-{stage}-pseudonym-key-??????",
                                     f"arn:aws:secretsmanager:*:*:secret:relasi-{stage}-cursor-secret-??????",
                                     f"arn:aws:secretsmanager:*:*:secret:relasi-{stage}-link-key-??????"} | {
        f"arn:aws:secretsmanager:*:*:secret:relasi-{stage}-carrier-{c}-??????" for c in CARRIERS},
}


def test_stream_consumer_reports_item_failures_and_dead_letters(packaged: dict[str, Any]) -> None:
    """The stream mapping Chalice generates, as infra/template.yaml completes it (infra/pump.py plays it locally)."""
    from infra.pump import BATCH_SIZE, MAXIMUM_RETRY_ATTEMPTS

    resources = packaged["Resources"]
    function = resources["TableChanges"]["Properties"]
    assert function["Handler"] == "app.on_table_change"
    mapping = function["Events"]["TableChangesDynamodbEventSource"]
    assert mapping["Type"] == "DynamoDB"
    props = mapping["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["CrmTable", "StreamArn"]}  # not app.py's placeholder
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BatchSize"] == BATCH_SIZE
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["MaximumRetryAttempts"] == MAXIMUM_RETRY_ATTEMPTS
    assert props["BisectBatchOnFunctionError"] is True
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]}
    queue = resources["StreamDeadLetterQueue"]["Properties"]
    assert queue["QueueName"] == {"Fn::Sub": "relasi-${Stage}-stream-dlq"}
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    env = function["Environment"]["Variables"]
    assert {"TABLE_NAME", "ESCALATION_STATE_MACHINE_ARN", "DEPARTMENT_TOPIC_ARN_PREFIX", "SENDER_EMAIL"} <= set(env)
    # its own role, from .chalice/policy-stream-<stage>.json
    role = resources["TableChangesRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert role == json.loads((ROOT / ".chalice" / "policy-stream-prod.json").read_text())
    alarms = {r["Properties"].get("MetricName"): r["Properties"] for r in resources.values()
              if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms["ApproximateNumberOfMessagesVisible"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["StreamDeadLetterQueue", "QueueName"]}}]
    assert alarms["ApproximateNumberOfMessagesVisible"]["Threshold"] == 0
    assert alarms["IteratorAge"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "TableChanges"}}]
    assert alarms["IteratorAge"]["Threshold"] == 60000


# --------------------------------------------------------------------------
# (c) the template's indexes are the code's
# --------------------------------------------------------------------------


def test_template_gsis_match_the_models() -> None:
    from chalicelib.persistence.tables import INDEXES

    table = _template()["Resources"]["CrmTable"]["Properties"]
    declared: dict[str, tuple[str, str | None]] = {}
    for gsi in table["GlobalSecondaryIndexes"]:
        keys = {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
        declared[gsi["IndexName"]] = (keys["HASH"], keys.get("RANGE"))
        assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert declared == INDEXES
    attribute_types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    used = {"pk", "sk"} | {a for pair in INDEXES.values() for a in pair if a}
    assert attribute_types == dict.fromkeys(used, "S")  # CloudFormation rejects unused definitions


# --------------------------------------------------------------------------
# (d) what the local stack deploys into moto
# --------------------------------------------------------------------------

_CHALICE_NAME = re.compile(r"\b(" + "|".join([*CHALICE_IDS, *CHALICE_NAMED]) + r")\b")


def test_local_template_keeps_what_moto_can_deploy() -> None:
    from moto.cloudformation.parsing import get_model_map

    from infra.provision import _named, local_template

    template = _template()
    original = json.dumps(template, sort_keys=True)
    local = local_template(template)
    assert json.dumps(template, sort_keys=True) == original  # input untouched

    resources = template["Resources"]
    chalice_bound = {n for n, r in resources.items() if "Type" not in r or _CHALICE_NAME.search(json.dumps(r))}
    # state machines are created through the Step Functions API (moto cannot execute CloudFormation's),
    # so they and what names them (the failed-executions alarm) are left out too
    played = {n for n, r in resources.items() if r.get("Type") == "AWS::StepFunctions::StateMachine"}
    played |= {n for n, r in resources.items() if _named(r) & played}
    assert played == {"EscalationStateMachine", "EscalationExecutionsFailedAlarm", "TableChanges",
                      "ReminderStateMachine", "RemindersExecutionsUnfinishedAlarm", "DailyReminders",
                      "StreamRedrive", "CampaignStateMachine", "CampaignExecutionsFailedAlarm", "APIHandler",
                      "ExportBackfillStateMachine", "ExportBackfillFailedAlarm", "AnalyticsExport"}
    chalice_bound |= played
    assert set(local["Resources"]) == set(resources) - chalice_bound
    assert {n: r for n, r in local["Resources"].items()} == {n: resources[n] for n in local["Resources"]}
    moto_types = set(get_model_map())
    for name, resource in resources.items():
        if resource.get("Type") in moto_types and name not in chalice_bound:
            assert name in local["Resources"]
    # the application's own resources all stay
    assert {"CrmTable", "IdempotencyTable", "UserPool", "UserPoolClient", "CursorSecret", "PseudonymSecret", "OpsTopic",
            "ExportBucket", "AnalyticsDatabase"} <= set(local["Resources"])
    assert not _CHALICE_NAME.search(json.dumps(local))
    assert local["Outputs"] == template["Outputs"]  # none of today's outputs names a Chalice resource


def test_local_template_follows_every_reference_form() -> None:
    from infra.provision import local_template

    template = {
        "Parameters": {"Stage": {"Type": "String"}},
        "Resources": {
            "Fn": {"Properties": {"Environment": {"Variables": {"A": "b"}}}},  # merge entry: no Type
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": {"Fn::Sub": "t-${Stage}-${AWS::Region}"}}},
            "ByRef": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Ref": "Api.Stage"}}},
            "ByGetAtt": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::GetAtt": "Fn.Arn"}}},
            "BySub": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::Sub": "x-${Fn.Arn}"}}},
            "BySubMap": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": {"Fn::Sub": ["${Name}-${!Literal}", {"Name": {"Ref": "Api"}}]}},
            },
            "SubLocal": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": {"Fn::Sub": ["${Name}-${!Literal}-${Table}", {"Name": "n"}]}},
            },
            "ByDependsOn": {"Type": "AWS::SNS::Topic", "DependsOn": ["Table", "Fn"], "Properties": {}},
            "Transitive": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "ByRef"}}},
        },
        "Outputs": {
            "Kept": {"Value": {"Ref": "Table"}},
            "Dropped": {"Value": {"Fn::GetAtt": ["Transitive", "TopicName"]}},
        },
    }
    local = local_template(template)
    assert set(local["Resources"]) == {"Table", "SubLocal"}
    assert set(local["Outputs"]) == {"Kept"}


_DEPLOY_LOCALLY = """
import json, boto3
from moto import mock_aws
from infra.provision import _quiet_moto, load_template, local_template
with mock_aws(), _quiet_moto():
    cf = boto3.client("cloudformation")
    cf.create_stack(StackName="relasi-infratest", TemplateBody=json.dumps(local_template(load_template())),
                    Parameters=[{"ParameterKey": "Stage", "ParameterValue": "infratest"}])
    stack = cf.describe_stacks(StackName="relasi-infratest")["Stacks"][0]
    table = boto3.client("dynamodb").describe_table(TableName="relasi-infratest")["Table"]
    print(json.dumps({"status": stack["StackStatus"], "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]},
                      "indexes": sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"])}))
"""


def test_local_template_deploys_into_moto() -> None:
    # In a child process: mock_aws resets moto's in-process backends on exit, which would wipe
    # the session's local stack (tests/conftest.py) that shares them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    run = subprocess.run([sys.executable, "-c", _DEPLOY_LOCALLY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # moto's notes about the resource types it skips are silenced
    result = json.loads(run.stdout)
    assert result["status"] == "CREATE_COMPLETE"
    assert result["outputs"]["TableName"] == "relasi-infratest"
    # what infra/provision.py reads (moto leaves out outputs of types it skips, e.g. the user pool)
    assert {"TableName", "IdempotencyTableName", "OpsTopicArn", "ExportBucketName", "DepartmentTopicArnPrefix"} <= set(
        result["outputs"]
    )
    assert result["outputs"]["DepartmentTopicArnPrefix"] == f"arn:aws:sns:{REGION}:123456789012:relasi-infratest-ops-"
    from chalicelib.persistence.tables import INDEXES

    assert result["indexes"] == sorted(INDEXES)


# --------------------------------------------------------------------------
# gateway responses: the cloud says what infra/gateway.py says locally
# --------------------------------------------------------------------------


def test_gateway_responses_mirror_the_local_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalice.local import ForbiddenError, InvalidAuthorizerError, NotAuthorizedError

    from chalicelib.config import settings

    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "http://localhost:3000")
    settings.cache_clear()

    from chalicelib.api.problems import PROBLEM_JSON, problem_body
    from infra.gateway import _as_problem

    responses = _template()["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    assert set(responses) == {"UNAUTHORIZED", "ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX",
                              "THROTTLED"}
    for name, response in responses.items():
        assert response["ResponseParameters"] == {"Headers": {
            "Content-Type": f"'{PROBLEM_JSON}'",
            "Access-Control-Allow-Origin": "method.request.header.Origin",
            "Vary": "'Origin'",
            "Cache-Control": "'no-store'",
            **({"Retry-After": "'1'"} if name == "THROTTLED" else {}),
        }}
        assert set(response["ResponseTemplates"]) == {"application/json"}
    assert json.loads(body := str(responses["THROTTLED"]["ResponseTemplates"]["application/json"])) == problem_body(
        429, "The API is busy; retry shortly."), body

    def body(response_type: str) -> str:
        return str(responses[response_type]["ResponseTemplates"]["application/json"])

    # Rendered by the local gateway, byte for byte.
    for response_type, error in (
        ("UNAUTHORIZED", NotAuthorizedError({}, b"")),
        ("ACCESS_DENIED", ForbiddenError({}, b"")),
        ("MISSING_AUTHENTICATION_TOKEN", ForbiddenError({}, b"")),  # Chalice's answer to an unknown route
        ("DEFAULT_5XX", InvalidAuthorizerError({}, b"")),
    ):
        rendered = _as_problem(error, {"Origin": "http://localhost:3000"})
        assert rendered.headers["Content-Type"] == PROBLEM_JSON
        assert rendered.headers["Cache-Control"] == "no-store"
        assert rendered.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert "Access-Control-Allow-Origin" not in _as_problem(error, {"Origin": "https://evil.example"}).headers
        assert body(response_type).encode() == rendered.body
        if not response_type.startswith("DEFAULT_"):
            assert responses[response_type]["StatusCode"] == str(error.CODE)
    # No local counterpart (Chalice's gateway makes no other 4xx); same wording.
    assert json.loads(body("DEFAULT_4XX")) == problem_body(400, "The request was refused.")
    # API Gateway keeps its own status (429, 502, 504...) for the defaults.
    assert "StatusCode" not in responses["DEFAULT_4XX"] and "StatusCode" not in responses["DEFAULT_5XX"]
    monkeypatch.undo()
    settings.cache_clear()


def test_inbound_sms_has_its_own_least_privilege_role_and_fails_loudly(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    function = resources["InboundSms"]["Properties"]
    assert function["Handler"] == "app.on_inbound_sms"
    assert function["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": "CrmTable"}
    topic = function["Events"]["InboundSmsSnsSubscription"]["Properties"]["Topic"]
    assert topic == {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:relasi-prod-inbound-sms"}
    assert resources["InboundSmsTopic"]["Properties"]["TopicName"] == {"Fn::Sub": "relasi-${Stage}-inbound-sms"}
    invoke = function["EventInvokeConfig"]
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["InboundSmsDeadLetterQueue", "Arn"]}
    role = resources["InboundSmsRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert role == json.loads((ROOT / ".chalice" / "policy-inbound-sms-prod.json").read_text())
    assert role != json.loads((ROOT / ".chalice" / "policy-prod.json").read_text())
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert any(a["MetricName"] == "Errors" and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "InboundSms"}}]
               for a in alarms)
    assert any(a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["InboundSmsDeadLetterQueue", "QueueName"]}}]
               for a in alarms)
    groups = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert {"LogGroupName": {"Fn::Sub": "/aws/lambda/${InboundSms}"}, "RetentionInDays": 30} in groups
    policy = resources["InboundSmsTopicPolicy"]["Properties"]
    assert policy["Topics"] == [{"Ref": "InboundSmsTopic"}]
    assert policy["PolicyDocument"]["Statement"][0]["Principal"] == {"Service": "sms-voice.amazonaws.com"}


def test_sending_events_reach_their_own_function_through_one_topic(packaged: dict[str, Any]) -> None:
    """SMS receipts (the End User Messaging configuration set) and SES deliveries, bounces and complaints (the
    SES one) publish to MessageEventsTopic; the MessageEvents function reads it with a role of its own, retried,
    dead-lettered and alarmed like the inbound SMS function; the senders send through both configuration sets."""
    resources = packaged["Resources"]
    function = resources["MessageEvents"]["Properties"]
    assert function["Handler"] == "app.on_message_event"
    topic = function["Events"]["MessageEventsSnsSubscription"]["Properties"]["Topic"]
    assert topic == {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:relasi-prod-message-events"}
    assert resources["MessageEventsTopic"]["Properties"]["TopicName"] == {"Fn::Sub": "relasi-${Stage}-message-events"}
    sms = resources["SmsConfigurationSet"]["Properties"]["EventDestinations"][0]
    assert sms["SnsDestination"] == {"TopicArn": {"Ref": "MessageEventsTopic"}} and sms["Enabled"] is True
    email = resources["EmailEventsDestination"]["Properties"]
    assert email["ConfigurationSetName"] == {"Ref": "EmailConfigurationSet"}
    assert email["EventDestination"]["SnsDestination"] == {"TopicARN": {"Ref": "MessageEventsTopic"}}
    assert {"bounce", "complaint", "delivery"} <= set(email["EventDestination"]["MatchingEventTypes"])
    principals = resources["MessageEventsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Principal"]
    assert set(principals["Service"]) == {"sms-voice.amazonaws.com", "ses.amazonaws.com"}
    invoke = function["EventInvokeConfig"]
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["MessageEventsDeadLetterQueue", "Arn"]}
    role = resources["MessageEventsRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert role == json.loads((ROOT / ".chalice" / "policy-message-events-prod.json").read_text())
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert any(a["MetricName"] == "Errors" and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "MessageEvents"}}]
               for a in alarms)
    for sender in ("TableChanges", "StreamRedrive", "CampaignSender"):
        env = resources[sender]["Properties"]["Environment"]["Variables"]
        assert env["SMS_CONFIGURATION_SET"] == {"Ref": "SmsConfigurationSet"}, sender
        assert env["EMAIL_CONFIGURATION_SET"] == {"Ref": "EmailConfigurationSet"}, sender


def test_per_deployment_values_come_from_parameters_in_policies_too(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    for name in ("policy-stream-prod.json", "policy-stream-dev.json", "policy-prod.json", "policy-dev.json"):
        assert "relasi.example" not in (ROOT / ".chalice" / name).read_text(), name
    send = resources["SendEmailPolicy"]["Properties"]
    assert send["Roles"] == [{"Ref": "TableChangesRole"}, {"Ref": "StreamRedriveRole"}, {"Ref": "CampaignSenderRole"}]
    identities, configuration_set = send["PolicyDocument"]["Statement"][0]["Resource"][:2], \
        send["PolicyDocument"]["Statement"][0]["Resource"][2:]
    assert all("${SenderDomain}" in r["Fn::Sub"] for r in identities)
    assert configuration_set == [
        {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${EmailConfigurationSet}"}]
    api_env = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api_env["CORS_ALLOWED_ORIGINS"] == {"Ref": "CorsAllowedOrigins"}
    stream_env = resources["TableChanges"]["Properties"]["Environment"]["Variables"]
    assert stream_env["SENDER_EMAIL"] == {"Fn::Sub": "no-reply@${SenderDomain}"}


def test_api_gateway_keeps_an_access_log_without_query_strings(packaged: dict[str, Any]) -> None:
    api = packaged["Resources"]["RestAPI"]
    setting = api["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(setting["Format"])  # one JSON object per line
    assert fields["requestId"] == "$context.requestId"  # the application log's correlation_id
    assert fields["route"] == "$context.resourcePath"
    assert {"status", "gatewayError", "authorizerError", "wafStatus"} <= set(fields)
    for forbidden in ("$context.path", "querystring", "$input", "$context.identity.sourceIp", "$context.domainName"):
        assert forbidden not in setting["Format"], forbidden
    assert api["DependsOn"] == "ApiGatewayAccount"
    account = packaged["Resources"]["ApiGatewayAccount"]["Properties"]
    assert account["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}


def test_workflows_are_encrypted_with_their_own_key_and_log_errors_without_data(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    key = resources["WorkflowKey"]
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert key["Properties"]["EnableKeyRotation"] is True
    logs = resources["WorkflowLogGroup"]
    assert logs["Properties"]["RetentionInDays"] == 90 and logs["DeletionPolicy"] == "Retain"
    for name in ("EscalationStateMachine", "ReminderStateMachine", "CampaignStateMachine"):
        props = resources[name]["Properties"]
        assert props["EncryptionConfiguration"]["Type"] == "CUSTOMER_MANAGED_KMS_KEY"
        assert props["EncryptionConfiguration"]["KmsKeyId"] == {"Fn::GetAtt": ["WorkflowKey", "Arn"]}
        assert props["LoggingConfiguration"]["Level"] == "ERROR"
        assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
        assert props["LoggingConfiguration"]["Destinations"] == [
            {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["WorkflowLogGroup", "Arn"]}}}]
        role = resources[props["RoleArn"]["Fn::GetAtt"][0]]["Properties"]["Policies"][0]["PolicyDocument"]
        by_sid = {s["Sid"]: s for s in role["Statement"]}
        assert by_sid["WorkflowKey"]["Resource"] == {"Fn::GetAtt": ["WorkflowKey", "Arn"]}
    # who starts executions may encrypt their input; no function may read an execution's data back (its history,
    # or its input and output: DescribeExecution without kms:Decrypt on the key gives the metadata only)
    start = resources["StartWorkflowsPolicy"]["Properties"]
    assert start["Roles"] == [{"Ref": "TableChangesRole"}, {"Ref": "StreamRedriveRole"}, {"Ref": "DailyRemindersRole"},
                              {"Ref": "ApiHandlerRole"},  # the API starts campaigns and backfills
                              {"Ref": "AnalyticsExportRole"}]  # the nightly export starts the backfill it needs
    assert start["PolicyDocument"]["Statement"][0]["Action"] == "kms:GenerateDataKey"
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role" or name.endswith("StateMachineRole"):
            continue
        text = json.dumps(resource["Properties"].get("Policies", []))
        assert "states:GetExecutionHistory" not in text, name
        assert "kms:Decrypt" not in text, name


def test_drift_and_unfinished_reminders_are_alarmed_and_the_operator_jobs_have_their_own_roles(
        packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    unfinished = resources["RemindersExecutionsUnfinishedAlarm"]["Properties"]
    summed = {q["MetricStat"]["Metric"]["MetricName"] for q in unfinished["Metrics"] if "MetricStat" in q}
    assert summed == {"ExecutionsFailed", "ExecutionsAborted", "ExecutionsTimedOut"}
    (expression,) = [q for q in unfinished["Metrics"] if "Expression" in q]
    assert set(expression["Expression"].replace("+", " ").split()) == {q["Id"] for q in unfinished["Metrics"]
                                                                        if "MetricStat" in q}
    drift = resources["CounterDriftAlarm"]["Properties"]
    assert (drift["Namespace"], drift["MetricName"], drift["Threshold"]) == ("Relasi", "CounterDriftConfirmed", 0)
    for function, policy in (("CountersReconcile", "policy-counters-reconcile-prod.json"),
                             ("StreamRedrive", "policy-stream-redrive-prod.json")):
        env = resources[function]["Properties"]["Environment"]["Variables"]
        assert env["STREAM_DLQ_URL"] == {"Ref": "StreamDeadLetterQueue"}
        role = resources[f"{function}Role"]["Properties"]["Policies"][0]["PolicyDocument"]
        assert role == json.loads((ROOT / ".chalice" / policy).read_text())
        assert resources[f"{function}LogGroup"]["Properties"]["RetentionInDays"] == 30
    assert resources["StreamRedrive"]["Properties"]["FunctionName"] == {"Fn::Sub": "relasi-${Stage}-stream-redrive"}
