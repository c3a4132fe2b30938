"""The local stack plays Lambda's asynchronous Invoke of the app's own scheduled functions.

moto runs no Lambda code, so `POST /analytics/exports` (which invokes the
`analytics-export` function with InvocationType=Event) would start nothing
locally. The session's stack (tests/conftest.py, infra.local_stack.prepare,
no scheduler clock) answers such an Invoke on moto's port with 202 and runs
the job's handler in its own process (infra/scheduler.py invoke_middleware);
any other invocation still goes to moto. Also: the secrets the export needs
are provisioned like the cursor key.
"""

from __future__ import annotations

import json
import string
import time
import uuid
from typing import Any

import boto3
import pytest

DAY = "2024-01-02"  # a day no other test exports: nothing in the session's table is that old


def _lambda() -> Any:
    return boto3.client("lambda")  # AWS_ENDPOINT_URL points at the session's moto (prepare())


def scheduled_event(detail: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge-shaped event (Chalice's schedule wrapper reads every one of these keys)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Analytics export request",
            "source": "relasi.test", "account": "123456789012", "time": "2026-03-10T05:00:00Z",
            "region": "ap-southeast-3", "resources": [], "detail": detail}


def test_the_export_function_and_its_pseudonym_key_are_provisioned(stack: dict[str, str]) -> None:
    assert stack["ANALYTICS_EXPORT_FUNCTION"] == "relasi-dev-analytics-export"
    stored = boto3.client("secretsmanager").get_secret_value(SecretId="relasi-dev-pseudonym-key")
    assert stack["PSEUDONYM_SECRET_ARN"] == stored["ARN"]  # the function gets where the key is, not the key
    secret = stored["SecretString"]
    assert len(secret) == 48 and set(secret) <= set(string.ascii_letters + string.digits)
    assert secret not in stack.values()
    assert stack["CURSOR_SECRET_ARN"] != stored["ARN"]


def test_an_asynchronous_invoke_of_the_export_function_runs_the_export(stack: dict[str, str]) -> None:
    from chalicelib.domain.exports import CHANGED_DATASETS, DATASETS
    from chalicelib.persistence.analytics_results import get_run
    from chalicelib.persistence.export_files import read_manifest

    run_id = f"test-{uuid.uuid4().hex}"
    answer = _lambda().invoke(FunctionName=stack["ANALYTICS_EXPORT_FUNCTION"], InvocationType="Event",
                              Payload=json.dumps(scheduled_event({"date": DAY, "run_id": run_id})).encode())
    assert answer["StatusCode"] == 202 and answer["Payload"].read() == b""  # answered before the job is done
    deadline = time.monotonic() + 60
    run = get_run(DAY)
    while run is None or run["status"] != "succeeded":
        assert run is None or run["status"] in ("queued", "running"), run
        assert time.monotonic() < deadline, f"the export of {DAY} did not finish in time: {run}"
        time.sleep(0.1)
        run = get_run(DAY)
    assert run["run_id"] == run_id and run["trigger"] == "api"
    # a day that old is past the change log's 35 days: the snapshot only, its deltas and facts left alone
    assert set(run["datasets"]) == set(DATASETS) - set(CHANGED_DATASETS)
    for dataset in run["datasets"]:
        manifest = read_manifest(stack["EXPORT_BUCKET"], dataset, DAY)
        assert manifest is not None and manifest["run_id"] == run_id and manifest["rows"] == 0  # nothing that old

    from infra.scheduler import ROUTE

    invoked = [r for r in ROUTE.invocable.runs if r.trigger == "invoke"] if ROUTE.invocable else []
    assert invoked and invoked[-1].job == "analytics-export" and invoked[-1].ok


def test_other_invocations_still_reach_moto(stack: dict[str, str]) -> None:
    client = _lambda()
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="relasi-dev-no-such-function", InvocationType="Event", Payload=b"{}")
    with pytest.raises(client.exceptions.ResourceNotFoundException):  # a dry run is not played
        client.invoke(FunctionName=stack["ANALYTICS_EXPORT_FUNCTION"], InvocationType="DryRun", Payload=b"{}")
