"""Provision `infra/template.yaml` into moto, playing the parts moto does not.

moto's CloudFormation creates the tables, topic and bucket from the template
and silently skips resource types it does not model. Of those, the ones the
application needs locally are created here through their own APIs, from the
same template properties:

- AWS::Cognito::UserPool, UserPoolClient, UserPoolGroup (the API's identity);
- AWS::SecretsManager::Secret (the cursor-signing key).

Alarms, dashboards and API Gateway responses exist only in the cloud (moto
does not model them); `infra/gateway.py` mirrors the gateway responses.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import boto3
import yaml

TEMPLATE = Path(__file__).with_name("template.yaml")
STAGE = "dev"
STACK = f"relasi-{STAGE}"


def load_template() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATE.read_text())


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in template["Resources"].items() if r["Type"] == kind}


def _sub_stage(value: Any) -> Any:
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"]).replace("${Stage}", STAGE)
    return value


def _play_cognito(template: dict[str, Any]) -> dict[str, str]:
    idp = boto3.client("cognito-idp")
    (_, pool_props), = _resources(template, "AWS::Cognito::UserPool").items()
    pool_name = _sub_stage(pool_props["UserPoolName"])
    existing = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == pool_name]
    if existing:
        pool_id = existing[0]["Id"]
    else:
        pool_id = idp.create_user_pool(
            PoolName=pool_name,
            Policies=pool_props["Policies"],
            AdminCreateUserConfig=pool_props["AdminCreateUserConfig"],
            Schema=pool_props["Schema"],
        )["UserPool"]["Id"]
        for _, group in _resources(template, "AWS::Cognito::UserPoolGroup").items():
            idp.create_group(GroupName=group["GroupName"], UserPoolId=pool_id, Description=group["Description"])
    (_, client_props), = _resources(template, "AWS::Cognito::UserPoolClient").items()
    clients = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    mine = [c for c in clients if c["ClientName"] == client_props["ClientName"]]
    if mine:
        client_id = mine[0]["ClientId"]
    else:
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=client_props["ClientName"],
            GenerateSecret=False,
            ExplicitAuthFlows=client_props["ExplicitAuthFlows"],
            ReadAttributes=client_props["ReadAttributes"],
            WriteAttributes=client_props["WriteAttributes"],
        )["UserPoolClient"]["ClientId"]
    return {"USER_POOL_ID": pool_id, "USER_POOL_CLIENT_ID": client_id}


def _play_secret(template: dict[str, Any]) -> dict[str, str]:
    sm = boto3.client("secretsmanager")
    (_, props), = _resources(template, "AWS::SecretsManager::Secret").items()
    name = _sub_stage(props["Name"])
    try:
        value = sm.get_secret_value(SecretId=name)["SecretString"]
    except sm.exceptions.ResourceNotFoundException:
        value = secrets.token_urlsafe(36)
        sm.create_secret(Name=name, SecretString=value, Description=props["Description"])
    return {"CURSOR_SECRET": value}


def provision() -> dict[str, str]:
    """Create (or find) every local resource; returns the app's environment variables."""
    template = load_template()
    cf = boto3.client("cloudformation")
    stacks = [s for s in cf.list_stacks()["StackSummaries"] if s["StackName"] == STACK and s["StackStatus"] != "DELETE_COMPLETE"]
    if not stacks:
        cf.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}],
        )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName=STACK)["Stacks"][0].get("Outputs", [])}
    env = {
        "STAGE": STAGE,
        "TABLE_NAME": outputs["TableName"],
        "IDEMPOTENCY_TABLE_NAME": outputs["IdempotencyTableName"],
        "OPS_TOPIC_ARN": outputs["OpsTopicArn"],
        "EXPORT_BUCKET": outputs["ExportBucketName"],
    }
    env.update(_play_cognito(template))
    env.update(_play_secret(template))
    return env
