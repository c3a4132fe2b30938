"""Starting Step Functions executions exactly once per name, for every workflow."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.aws import client, error_code


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution `name` of a standard state machine."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def start_once(state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    """Start an execution named `name`; if it was started before (a redelivered record,
    a retried consumer, a double fire) return that one. Returns the execution ARN."""
    return start_or_find(state_machine_arn, name, payload)[0]


def start_or_find(state_machine_arn: str, name: str, payload: dict[str, Any]) -> tuple[str, bool]:
    """start_once, and whether this call started it (False: it existed already)."""
    try:
        response = client("stepfunctions").start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
    except Exception as error:
        if error_code(error) == "ExecutionAlreadyExists":
            return execution_arn(state_machine_arn, name), False
        raise
    return str(response["executionArn"]), True


ENDED_UNFINISHED = ("FAILED", "ABORTED", "TIMED_OUT")


def status_of(arn: str) -> str:
    """An execution's status, its metadata only: no input or output, so no kms:Decrypt on the workflows' key
    (reading those is personal-data access, docs/security.md)."""
    return str(client("stepfunctions").describe_execution(executionArn=arn, includedData="METADATA_ONLY")["status"])
