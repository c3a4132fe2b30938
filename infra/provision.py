"""Provision `infra/template.yaml` into moto, playing the parts moto does not.

moto's CloudFormation creates the tables, topic and bucket from the template
and silently skips resource types it does not model. Of those, the ones the
application needs locally are created here through their own APIs, from the
same template properties:

- AWS::Cognito::UserPool, UserPoolClient, UserPoolGroup (the API's identity);
- AWS::SecretsManager::Secret (the cursor-signing key, the export's pseudonym
  key), each value handed to the variable the template sets from it;
- AWS::StepFunctions::StateMachine: moto's CloudFormation would make them,
  but such state machines cannot execute, so local_template leaves them out
  and they are created through the Step Functions API from the same ASL file
  (Metadata.DefinitionFile, infra/state_machines.py), after
  infra/moto_sfn.py switched moto's execution engine on.

Alarms, dashboards, API Gateway responses and the Glue catalog exist only in
the cloud (moto does not model them); `infra/gateway.py` mirrors the gateway
responses.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
import secrets
import string
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import yaml

from infra.state_machines import STATE_MACHINE, definition, state_machines

TEMPLATE = Path(__file__).with_name("template.yaml")
STAGE = "dev"
STACK = f"relasi-{STAGE}"


def load_template() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATE.read_text())


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def _named(value: Any) -> set[str]:
    """Logical ids and parameters a template fragment names (Ref, Fn::GetAtt, Fn::Sub)."""
    names: set[str] = set()
    if isinstance(value, list):
        for item in value:
            names |= _named(item)
    elif isinstance(value, dict):
        if set(value) == {"Ref"} and isinstance(value["Ref"], str):
            names.add(value["Ref"].split(".")[0])  # SAM's RestAPI.Stage names RestAPI
        elif set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            names.add(target.split(".")[0] if isinstance(target, str) else target[0])
        elif set(value) == {"Fn::Sub"}:
            body, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            names |= {m.split(".")[0] for m in _SUB_VARIABLE.findall(body)} - set(variables)
            names |= _named(variables)
        else:
            for item in value.values():
                names |= _named(item)
    return {n for n in names if not n.startswith("AWS::")}


# Types moto's CloudFormation models, but not well enough: created by provision() itself.
PLAYED_BY_API = frozenset({STATE_MACHINE})


def local_template(template: dict[str, Any]) -> dict[str, Any]:
    """The part of the merge template that moto's CloudFormation can deploy.

    infra/template.yaml is written for `chalice package --merge-template`: it
    adds properties to resources Chalice generates (entries without a Type,
    such as APIHandler's environment) and alarms, log groups and a dashboard
    that name Chalice's functions and API (APIHandler, CognitoIdToken,
    RestAPI). Those ids exist only in the packaged template, and moto fails
    the whole stack on a Ref/GetAtt/Sub to an id the template does not
    define, although it silently skips resource types it does not model.
    So this drops the Type-less entries and the resources the local stack
    creates through their own APIs (PLAYED_BY_API), then (until nothing
    changes) every resource and output that names an id no longer defined.
    Everything else is kept as written. The input is not modified.
    """
    result = copy.deepcopy(template)
    resources: dict[str, Any] = result.get("Resources", {})
    defined = set(result.get("Parameters", {}))
    kept = {
        name: r for name, r in resources.items() if isinstance(r, dict) and "Type" in r and r["Type"] not in PLAYED_BY_API
    }
    while True:
        known = defined | set(kept)
        unresolved = {
            name
            for name, r in kept.items()
            if not _named(r) <= known or not set(_depends_on(r)) <= known
        }
        if not unresolved:
            break
        kept = {name: r for name, r in kept.items() if name not in unresolved}
    result["Resources"] = kept
    known = defined | set(kept)
    if "Outputs" in result:
        result["Outputs"] = {name: o for name, o in result["Outputs"].items() if _named(o) <= known}
    return result


def _depends_on(resource: dict[str, Any]) -> list[str]:
    depends = resource.get("DependsOn", [])
    return [depends] if isinstance(depends, str) else list(depends)


@contextlib.contextmanager
def _quiet_moto() -> Iterator[None]:
    """moto warns and logs once per resource type its CloudFormation skips (Cognito, the secret,
    the email subscription); those are expected here and played below, so keep `make run` quiet."""
    moto_logger = logging.getLogger("moto")
    level = moto_logger.level
    moto_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Tried to parse .* not supported by moto", category=UserWarning)
            yield
    finally:
        moto_logger.setLevel(level)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in template["Resources"].items() if r.get("Type") == kind}


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


def _generated(props: dict[str, Any]) -> str:
    """A value like the one GenerateSecretString makes (its PasswordLength; letters and digits only)."""
    length = int(props.get("GenerateSecretString", {}).get("PasswordLength", 48))
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def _play_secrets(template: dict[str, Any]) -> dict[str, str]:
    """Each secret through the Secrets Manager API; returns the app's variables that name or hold them.

    `template` is the whole template: the variables are the ones its Type-less
    entries set on Chalice's functions from a secret: its value where the
    template resolves it at deploy time (`{{resolve:secretsmanager:...}}`; none
    does today), its ARN where it is a `Ref` that the function reads at run
    time (CURSOR_SECRET_ARN, PSEUDONYM_SECRET_ARN). A secret made by an earlier
    run of the stack keeps its value.
    """
    sm = boto3.client("secretsmanager")
    values: dict[str, str] = {}
    arns: dict[str, str] = {}
    for logical_id, props in _resources(template, "AWS::SecretsManager::Secret").items():
        name = _sub_stage(props["Name"])
        try:
            found = sm.get_secret_value(SecretId=name)
        except sm.exceptions.ResourceNotFoundException:
            found = {"SecretString": _generated(props)}
            found["ARN"] = sm.create_secret(Name=name, SecretString=found["SecretString"],
                                            Description=props["Description"])["ARN"]
        values[logical_id], arns[logical_id] = found["SecretString"], found["ARN"]
    env: dict[str, str] = {}
    for resource in template["Resources"].values():
        if "Type" not in resource:
            variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
            for variable, value in variables.items():
                named = _named(value) & set(values)
                if named:
                    (logical_id,) = named
                    env[variable] = arns[logical_id] if value == {"Ref": logical_id} else values[logical_id]
    return env


def _play_ses(template: dict[str, Any]) -> dict[str, str]:
    """The sender identity (moto's CloudFormation skips AWS::SES::EmailIdentity)."""
    domain = template["Parameters"]["SenderDomain"]["Default"]
    ses = boto3.client("sesv2")
    with contextlib.suppress(ses.exceptions.AlreadyExistsException):
        ses.create_email_identity(EmailIdentity=domain)
    return {"SENDER_EMAIL": f"no-reply@{domain}"}


def _play_sms() -> str:
    """The SMS configuration set (infra/sms_v2.py plays the SMS v2 API moto lacks; CloudFormation skips it)."""
    from infra import sms_v2

    name = f"relasi-{STAGE}"
    sms_v2.CONFIGURATION_SETS.add(name)
    return name


def _play_state_machines(template: dict[str, Any]) -> dict[str, str]:
    """Each state machine from its ASL file; returns the app's variables that name them.

    `template` is the whole template: the variables are the ones it sets on
    Chalice's functions (its Type-less entries) as a Ref to a state machine,
    e.g. ESCALATION_STATE_MACHINE_ARN.
    """
    sfn = boto3.client("stepfunctions")
    account = boto3.client("sts").get_caller_identity()["Account"]
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    arns: dict[str, str] = {}
    for logical_id, resource in state_machines(template).items():
        props = resource["Properties"]
        name = _sub_stage(props["StateMachineName"])
        if name in existing:
            sfn.update_state_machine(stateMachineArn=existing[name], definition=definition(resource))
            arns[logical_id] = existing[name]
        else:
            arns[logical_id] = sfn.create_state_machine(
                name=name,
                definition=definition(resource),
                roleArn=f"arn:aws:iam::{account}:role/{name}",  # moto's engine does not assume it
                type=props.get("StateMachineType", "STANDARD"),
            )["stateMachineArn"]
    env: dict[str, str] = {}
    for resource in template["Resources"].values():
        if "Type" not in resource:
            variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
            env.update({
                variable: arns[value["Ref"]]
                for variable, value in variables.items()
                if isinstance(value, dict) and value.get("Ref") in arns
            })
    return env


def provision() -> dict[str, str]:
    """Create (or find) every local resource; returns the app's environment variables."""
    template = local_template(load_template())
    cf = boto3.client("cloudformation")
    stacks = [s for s in cf.list_stacks()["StackSummaries"] if s["StackName"] == STACK and s["StackStatus"] != "DELETE_COMPLETE"]
    with _quiet_moto():  # moto re-reads the skipped resources when it resolves the outputs, too
        if not stacks:
            cf.create_stack(
                StackName=STACK,
                TemplateBody=json.dumps(template),
                Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}],
            )
        stack = cf.describe_stacks(StackName=STACK)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    env = {
        "STAGE": STAGE,
        "TABLE_NAME": outputs["TableName"],
        "IDEMPOTENCY_TABLE_NAME": outputs["IdempotencyTableName"],
        "ANALYTICS_TABLE_NAME": outputs["AnalyticsTableName"],
        "OPS_TOPIC_ARN": outputs["OpsTopicArn"],
        "EXPORT_BUCKET": outputs["ExportBucketName"],
        "STREAM_DLQ_URL": outputs["StreamDeadLetterQueueUrl"],
        "DEPARTMENT_TOPIC_ARN_PREFIX": outputs["DepartmentTopicArnPrefix"],
        # What POST /analytics/exports invokes: the @app.schedule(name="analytics-export") function, named as
        # Chalice names it; the local stack runs its handler itself (infra/scheduler.py invoke_middleware).
        "ANALYTICS_EXPORT_FUNCTION": f"relasi-{STAGE}-analytics-export",
        # No Cognito managed login here: the console's sign-in page shows its own form, which the local
        # gateway answers from moto's Cognito (infra/gateway.py, /_relasi/sign-in).
        "CONSOLE_LOGIN_URL": "",
        "CARRIER_SECRET_PREFIX": f"relasi-{STAGE}-carrier-",
        # The template's QuietHours parameter (its default), unless the shell chose (QUIET_HOURS=off make run).
        "QUIET_HOURS": os.environ.get("QUIET_HOURS") or str(template["Parameters"]["QuietHours"]["Default"]),
        # What the state machine's lambda:invoke names: the @app.lambda_function(name="campaign-sender"), run here
        # by infra/scheduler.py invoke_middleware.
        "CAMPAIGN_SENDER_FUNCTION": f"relasi-{STAGE}-campaign-sender",
        # A failed facts backfill waits this long for segments still running before its last sweep: here the
        # export function runs in this process and a segment's upload checks the backfill at once.
        "BACKFILL_SETTLE_SECONDS": "2",
        "SURVEY_CAP_DAYS": os.environ.get("SURVEY_CAP_DAYS") or str(template["Parameters"]["SurveyCapDays"]["Default"]),
        # Opt-out links point at the local gateway when the shell says where it is (make run sets LINK_BASE).
        "LINK_BASE": os.environ.get("LINK_BASE") or str(template["Parameters"]["LinkBase"]["Default"]),
        # SMS and email go through the stage's configuration sets, as in the cloud (infra/sms_v2.py plays SMS v2;
        # moto's SES takes the name and publishes no events: infra/receipts.py simulates both's).
        "SMS_CONFIGURATION_SET": _play_sms(),
        "EMAIL_CONFIGURATION_SET": f"relasi-{STAGE}",
    }
    env.update(_play_state_machines(load_template()))
    env.update(_play_cognito(template))
    env.update(_play_secrets(load_template()))
    env.update(_play_ses(template))
    return env
