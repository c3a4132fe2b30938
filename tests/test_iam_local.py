"""The local stack runs each function with its packaged IAM policy enforced and its packaged environment
checked (infra/iam_local.py): a call or a setting the deployed function would not have fails here too.

The suite's other tests drive every function through the local stack (the API and its authorizer through the
gateway, the stream consumer through the pump, the schedules and asynchronous invocations through the
scheduler, inbound SMS through the app's handler map), so a missing permission or variable fails the test that
takes that path. These tests show the mechanism itself holds: what is denied, what a condition allows, and
that the environment the local stack gives is the packaged one.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from infra import iam_local


@pytest.fixture(scope="module")
def enforcer(stack: dict[str, str]) -> iam_local.Enforcer:
    found = iam_local.enforcer()
    if found is None and not iam_local.available() and os.environ.get("CI") != "true":
        pytest.skip("no node or no `npm ci` here: the local stack ran without IAM enforcement (`make test` "
                    "installs the pinned @cloud-copilot/iam-simulate with npm)")
    assert found is not None, "the local stack must enforce IAM in the suite (node and `npm ci`)"
    return found


def test_every_packaged_function_is_known_with_its_own_role_and_policy(enforcer: iam_local.Enforcer) -> None:
    functions = enforcer.functions
    assert {"APIHandler", "CognitoIdToken", "TableChanges", "InboundSms", "DailyReminders", "AnalyticsExport",
            "ErasureSweeper", "EscalationStateMachine", "ReminderStateMachine", "CountersReconcile",
            "StreamRedrive", "LateDeliveries", "CampaignSender", "CampaignStateMachine", "MessageEvents",
            "ExportBackfillStateMachine"} == set(functions)
    assert len({f.role for f in functions.values()}) == len(functions)  # no function shares another's role
    assert all(f.policies for f in functions.values())
    # the template's own policy (the SES sender identity follows the SenderDomain parameter) is attached too
    assert [p["name"] for p in functions["TableChanges"].policies] == [
        "TableChangesRolePolicy", "send-email-from-the-sender-identity", "start-encrypted-workflows"]
    # and each state machine's executions run under its own role
    assert functions["EscalationStateMachine"].role == "EscalationStateMachineRole"
    assert functions["ReminderStateMachine"].handler == "states:relasi-dev-reminders"


def test_the_local_stack_gives_each_function_its_packaged_environment(
        stack: dict[str, str], enforcer: iam_local.Enforcer) -> None:
    assert iam_local.os_environment_gaps() == {}
    for function in enforcer.functions.values():
        for name, value in function.environment.items():
            assert os.environ[name] == value, (function.logical_id, name)
    # and nothing is read that no function is given: the inbound SMS function has only the CRM table
    assert "ANALYTICS_TABLE_NAME" not in enforcer.functions["InboundSms"].environment
    assert enforcer.functions["InboundSms"].environment["TABLE_NAME"] == stack["TABLE_NAME"]


def _put(table: str, pk: str) -> Any:
    return boto3.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": "IAM-TEST"}})


def test_a_call_its_policy_does_not_allow_is_denied_as_aws_denies_it(
        stack: dict[str, str], enforcer: iam_local.Enforcer) -> None:
    with iam_local.acting_as("InboundSms"):
        _put(stack["TABLE_NAME"], "OPTOUT#+6281100000001")  # its condition: leading keys OPTOUT#*
        with pytest.raises(ClientError) as denied:
            _put(stack["TABLE_NAME"], "C#someone")
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "dynamodb:PutItem" in str(denied.value) and "InboundSmsRole" in str(denied.value)
        with pytest.raises(ClientError):
            _put(stack["ANALYTICS_TABLE_NAME"], "OPTOUT#+6281100000001")  # another table
    assert boto3.client("dynamodb").get_item(  # the denied write never reached the table
        TableName=stack["TABLE_NAME"], Key={"pk": {"S": "C#someone"}, "sk": {"S": "IAM-TEST"}}).get("Item") is None
    sm = boto3.client("secretsmanager")
    with iam_local.acting_as("APIHandler"):
        assert sm.get_secret_value(SecretId=stack["CURSOR_SECRET_ARN"])["SecretString"]  # `-??????` matches
        with pytest.raises(ClientError):  # only the export may read the pseudonym key
            sm.get_secret_value(SecretId=stack["PSEUDONYM_SECRET_ARN"])
        with pytest.raises(ClientError):  # the API sends no messages
            boto3.client("sns").publish(TopicArn=stack["OPS_TOPIC_ARN"], Message="x")
    with iam_local.acting_as("AnalyticsExport"):
        s3 = boto3.client("s3")
        s3.list_objects_v2(Bucket=stack["EXPORT_BUCKET"], Prefix="exports/")
        with pytest.raises(ClientError) as listing:  # s3:prefix condition: the exports only
            s3.list_objects_v2(Bucket=stack["EXPORT_BUCKET"], Prefix="other/")
        assert listing.value.response["Error"]["Code"] == "AccessDenied"
    # outside any function (the test harness, provisioning) nothing is checked
    _put(stack["TABLE_NAME"], "C#harness")


def test_a_setting_missing_from_a_functions_packaged_environment_fails_its_read(
        stack: dict[str, str], enforcer: iam_local.Enforcer) -> None:
    from chalicelib.config import settings

    with iam_local.acting_as("InboundSms"):
        assert settings().table_name == stack["TABLE_NAME"]
        with pytest.raises(iam_local.MissingSetting, match=r"InboundSms reads settings\(\)\.analytics_table_name"):
            _ = settings().analytics_table_name
    with iam_local.acting_as("APIHandler"), pytest.raises(iam_local.MissingSetting, match="PSEUDONYM_SECRET_ARN"):
        _ = settings().pseudonym_secret_arn
    assert settings().analytics_table_name == stack["ANALYTICS_TABLE_NAME"]  # outside any function


def test_threads_a_function_starts_run_as_that_function(stack: dict[str, str], enforcer: iam_local.Enforcer) -> None:
    import threading

    seen: list[str | None] = []
    with iam_local.acting_as("AnalyticsExport"):
        thread = threading.Thread(target=lambda: seen.append(iam_local.FUNCTION.get()))
        thread.start()
        thread.join()
    outside = threading.Thread(target=lambda: seen.append(iam_local.FUNCTION.get()))
    outside.start()
    outside.join()
    assert seen == ["AnalyticsExport", None]


@pytest.mark.parametrize(("prefix", "operation", "params", "expected"), [
    ("dynamodb", "Query", {"TableName": "t", "IndexName": "timeline", "KeyConditionExpression": "a = :a",
                           "ExpressionAttributeValues": {":a": {"S": "x"}}},
     [("dynamodb:Query", "arn:aws:dynamodb:r:123456789012:table/t/index/timeline", ())]),
    ("dynamodb", "Query", {"TableName": "t", "KeyConditionExpression": "#p = :p AND begins_with(sk, :s)",
                           "ExpressionAttributeNames": {"#p": "pk"},
                           "ExpressionAttributeValues": {":p": {"S": "C#1"}, ":s": {"S": "X#"}}},
     [("dynamodb:Query", "arn:aws:dynamodb:r:123456789012:table/t", (("dynamodb:LeadingKeys", ("C#1",)),))]),
    ("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "a", "Item": {"pk": {"S": "P"}}}},
        {"ConditionCheck": {"TableName": "b", "Key": {"pk": {"S": "Q"}}}}]},
     [("dynamodb:PutItem", "arn:aws:dynamodb:r:123456789012:table/a", (("dynamodb:LeadingKeys", ("P",)),)),
      ("dynamodb:ConditionCheckItem", "arn:aws:dynamodb:r:123456789012:table/b",
       (("dynamodb:LeadingKeys", ("Q",)),))]),
    ("dynamodb", "BatchWriteItem", {"RequestItems": {"t": [{"DeleteRequest": {"Key": {"pk": {"S": "A"}}}},
                                                           {"PutRequest": {"Item": {"pk": {"S": "B"}}}}]}},
     [("dynamodb:BatchWriteItem", "arn:aws:dynamodb:r:123456789012:table/t",
       (("dynamodb:LeadingKeys", ("A", "B")),))]),
    ("dynamodb", "GetRecords", {"ShardIterator": "arn:aws:dynamodb:r:1:table/t/stream/2026-01-01T00:00:00.000|1|AAA"},
     [("dynamodb:GetRecords", "arn:aws:dynamodb:r:1:table/t/stream/2026-01-01T00:00:00.000", ())]),
    ("lambda", "Invoke", {"FunctionName": "f"}, [("lambda:InvokeFunction", "arn:aws:lambda:r:123456789012:function:f", ())]),
    ("sqs", "SendMessage", {"QueueUrl": "http://127.0.0.1:1/123456789012/q"},
     [("sqs:SendMessage", "arn:aws:sqs:r:123456789012:q", ())]),
    ("sns", "Publish", {"PhoneNumber": "+62811"}, [("sns:Publish", "arn:aws:sns:r:123456789012:phone-number", ())]),
    ("ses", "SendEmail", {"FromEmailAddress": "no-reply@relasi.example"},
     [("ses:SendEmail", "arn:aws:ses:r:123456789012:identity/relasi.example", ())]),
    ("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "exports/x"},
     [("s3:ListBucket", "arn:aws:s3:::b", (("s3:prefix", ("exports/x",)),))]),
])
def test_an_api_call_becomes_the_iam_requests_aws_authorizes(
        prefix: str, operation: str, params: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    assert [(r.action, r.resource, r.context) for r in iam_local.requests_of(prefix, operation, params, "r")] \
        == expected
