"""The facts backfill: what the change log never brought to a nightly run, exported once, segment by segment.

Through the HTTP API and the local stack's Step Functions (moto runs
chalicelib/workflows/backfill.asl.json; its lambda:invoke tasks run the
analytics-export function's handler here, infra/scheduler.py): history from
before the change log (made through the API at past moments, `clock.at`,
while no stream consumer runs) is exported by the backfill into the days it
happened, once; history imported today (logged today) and today's own facts
are left to the nightly run; a failed segment is retried alone and a
backfill that fails for good leaves nothing; the nightly runs of the days the
backfill owns write no facts, and what owned them before is deleted.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.domain.clock import at
from chalicelib.domain.exports import FACTS_SCHEMA_VERSION
from tests.test_export_facts import ZONE, export, fact_parts, mine, part_rows, planted, pseudonym, today

pytestmark = pytest.mark.usefixtures("stack")

BRANCH = "surabaya"


def backfill(caller: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    started = caller.post("/analytics/backfills", body or {})
    assert started.status_code == 202, started.body
    assert started.headers["Location"] == f"/analytics/backfills/{started.json['id']}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        got = caller.get(started.headers["Location"])
        assert got.status_code == 200, got.body
        if got.json["status"] != "running":
            return dict(got.json)
        time.sleep(0.2)
    raise AssertionError("the backfill did not finish")


def keys_of(bucket: str, prefix: str) -> set[str]:
    s3 = boto3.client("s3")
    return {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])}


def backfill_parts(bucket: str, backfill_id: str) -> set[str]:
    return {k for k in keys_of(bucket, "exports/") if f"/b{backfill_id}-" in k}


def done_writing(put: dict[str, Any]) -> str | None:
    """The segment whose last write this is, when it wrote parts: its manifest saying it is complete and listing
    parts (whichever segment the data hashed into). None for any other put."""
    key = str(put["Key"])
    if "/_backfill/" in key and key.rsplit("/", 1)[1].startswith("s") and b'"complete": true' in put["Body"] \
            and b'"key":' in put["Body"]:
        return key.rsplit("/", 1)[1][1:4]
    return None


def execution_status(backfill_id: str) -> str:
    """Its state machine's execution, once it has ended (a failed one sweeps after its wait)."""
    sfn = boto3.client("stepfunctions")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
               if m["name"].endswith("-export-backfill"))
    execution = f"{arn.replace(':stateMachine:', ':execution:')}:backfill-{backfill_id}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = str(sfn.describe_execution(executionArn=execution)["status"])
        if status != "RUNNING":
            return status
        time.sleep(0.2)
    raise AssertionError("the execution did not end")


def backfill_records(stack: dict[str, str]) -> dict[str, dict[str, Any]]:
    items = boto3.client("dynamodb").query(
        TableName=stack["ANALYTICS_TABLE_NAME"], KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "BACKFILL"}}, ConsistentRead=True)["Items"]
    return {i["sk"]["S"]: i for i in items}


@pytest.fixture(scope="module")
def history(stack: dict[str, str], as_user: Any, catalog: Any, stream_pump: Any) -> Any:
    """Made while the stream consumer is paused (the change log never sees it: history from before it): a customer's contacts, complaint
    and delivered order of 40-60 days ago, and a contact made today. Afterwards: the backfills' records and
    files go, so that the other modules' nightly runs own their facts again."""
    with stream_pump.paused():
        admin, manager = as_user("admin"), as_user(f"manager.{BRANCH}")
        now = datetime.now(UTC)
        with at(now - timedelta(days=60)):
            old = admin.new_customer(name="Sari Lama", branch_id=BRANCH)
        contacts = [now - timedelta(days=60), now - timedelta(days=45)]
        for moment in contacts:
            with at(moment):
                made = manager.post(f"/customers/{old['id']}/interactions", {
                    "channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": "Asked about tyres"})
                assert made.status_code == 201, made.body
        with at(now - timedelta(days=50)):
            complaint = manager.post(f"/customers/{old['id']}/complaints", {
                "category": "service", "severity": "medium", "subject": "Slow", "description": "It took long"}).json
        with at(now - timedelta(days=49)):
            moved = manager.patch(f"/complaints/{complaint['id']}", {"status": "acknowledged"},
                                  headers={"If-Match": f'"v{complaint["version"]}"'})
            assert moved.status_code == 200, moved.body
        delivered_at = now - timedelta(days=40)
        with at(delivered_at - timedelta(days=2)):
            order = admin.post(f"/customers/{old['id']}/orders", {"channel": "showroom", "lines": [
                {"sku": "ORD-OIL", "qty": 2, "tax_rate": "0.11"}, {"sku": "ORD-FILTER", "qty": 1, "tax_rate": "0.11"}]}).json
            assert admin.patch(f"/orders/{order['id']}", {"status": "confirmed"},
                               headers={"If-Match": '"v1"'}).status_code == 200
            parcel = admin.post(f"/orders/{order['id']}/shipments", {
                "carrier": "jne", "tracking_number": f"BKF{time.time_ns() % 10**9}",
                "lines": [{"line_no": 1, "qty": 2}, {"line_no": 2, "qty": 1}]}).json
        for status in ("picked_up", "in_transit", "out_for_delivery", "delivered"):
            with at(delivered_at):
                assert admin.post(f"/shipments/{parcel['id']}/events", {"status": status}).status_code == 201
        assert admin.get(f"/orders/{order['id']}").json["status"] == "delivered"
        fresh = admin.new_customer(name="Tono Baru", branch_id=BRANCH)  # today: tonight's run's, by its time
        assert manager.post(f"/customers/{fresh['id']}/interactions", {
            "channel": "phone", "direction": "outbound", "kind": "sales_talk", "summary": "Offer"}).status_code == 201
    yield {"old": old, "complaint": complaint, "order": order, "contacts": contacts, "delivered_at": delivered_at,
           "fresh": fresh}
    bucket, table = stack["EXPORT_BUCKET"], stack["ANALYTICS_TABLE_NAME"]
    leftovers = sorted(k for k in keys_of(bucket, "exports/")
                       if k.rsplit("/", 1)[1].startswith("b") or k.startswith("exports/_backfill/"))
    for start in range(0, len(leftovers), 1000):
        boto3.client("s3").delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in
                                                                             leftovers[start:start + 1000]]})
    dynamodb = boto3.client("dynamodb")
    for item in dynamodb.query(TableName=table, KeyConditionExpression="pk = :pk",
                               ExpressionAttributeValues={":pk": {"S": "BACKFILL"}})["Items"]:
        dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


@pytest.fixture(scope="module")
def imported(stack: dict[str, str], history: dict[str, Any], as_user: Any, stream_pump: Any) -> Any:
    """History of 30 days ago imported today while the stream consumer runs: the change log has it under today."""
    admin, manager = as_user("admin"), as_user(f"manager.{BRANCH}")
    moment = datetime.now(UTC) - timedelta(days=30)
    with at(moment):
        customer = admin.new_customer(name="Rina Impor", branch_id=BRANCH)
        made = manager.post(f"/customers/{customer['id']}/interactions", {
            "channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": "Imported"})
        assert made.status_code == 201, made.body
    stream_pump.drain()
    return {"customer": customer, "moment": moment}


@pytest.fixture(scope="module")
def first(stack: dict[str, str], history: dict[str, Any], imported: dict[str, Any], as_user: Any) -> dict[str, Any]:
    """A nightly facts run of an older day's (what owned its facts before the backfill) that died after its upload
    (its manifest names the partition, not the part), then the first backfill, sized by the table (one segment
    here)."""
    bucket = stack["EXPORT_BUCKET"]
    s3 = boto3.client("s3")
    day = (today() - timedelta(days=3)).isoformat()
    nightly = f"exports/interaction_events/parquet/dt={day}/c{day}-00000.parquet"
    s3.put_object(Bucket=bucket, Key=nightly, Body=planted("interaction_events", {"customer_key": "earlier"}))
    manifest = f"exports/_facts/dt={day}/_manifest.json"
    died = {"complete": False, "partitions": [["interaction_events", day]]}
    s3.put_object(Bucket=bucket, Key=manifest, Body=json.dumps(died).encode())
    done = backfill(as_user("admin"))
    return {"backfill": done, "nightly": [nightly, manifest]}


def old_facts(stack: dict[str, str], history: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    bucket = stack["EXPORT_BUCKET"]
    return {
        "contacts": mine(fact_parts(bucket, "interaction_events"), "customer_key",
                         pseudonym(stack, "customer", history["old"]["id"])),
        "complaint": mine(fact_parts(bucket, "complaint_events"), "complaint_key",
                          pseudonym(stack, "complaint", history["complaint"]["id"])),
        "order": mine(fact_parts(bucket, "order_events"), "order_key",
                      pseudonym(stack, "order", history["order"]["id"])),
        "shipment": mine(fact_parts(bucket, "shipment_events"), "order_key",
                         pseudonym(stack, "order", history["order"]["id"])),
        "lines": mine(fact_parts(bucket, "delivered_order_lines"), "order_key",
                      pseudonym(stack, "order", history["order"]["id"])),
    }


def local(moment: datetime) -> str:
    return moment.astimezone(ZONE).date().isoformat()


def test_the_backfill_exports_history_from_before_the_change_log_once_into_the_days_it_happened(
        stack: dict[str, str], history: dict[str, Any], first: dict[str, Any]) -> None:
    done = first["backfill"]
    assert done["status"] == "succeeded", done
    assert done["segments"] == 1 and done["segments_done"] == 1 and done["before"] == today().isoformat()
    facts = old_facts(stack, history)
    assert sorted(dt for dt, _ in facts["contacts"]) == sorted(local(m) for m in history["contacts"])
    assert [row["kind"] for _, row in facts["contacts"]] == ["inquiry", "inquiry"]
    assert sorted(str(row["to_value"]) for _, row in facts["complaint"]) == ["acknowledged", "open"]  # created, acknowledged: once each
    assert len(facts["order"]) == 4  # created, confirmed, shipped, delivered
    assert [row["status"] for _, row in sorted(facts["shipment"], key=lambda f: f[1]["occurred_at"])] \
        == ["picked_up", "in_transit", "out_for_delivery", "delivered"]
    assert sorted(row["sku"] for _, row in facts["lines"]) == ["ORD-FILTER", "ORD-OIL"]
    assert {dt for dt, _ in facts["lines"]} == {local(history["delivered_at"])}  # the day of the delivery
    bucket = stack["EXPORT_BUCKET"]
    parts = backfill_parts(bucket, done["id"])
    assert parts and all(k.rsplit("/", 1)[1].startswith(f"b{done['id']}-s000-") for k in parts)
    manifest = json.loads(boto3.client("s3").get_object(
        Bucket=bucket, Key=f"exports/_backfill/{done['id']}/_manifest.json")["Body"].read())
    assert {p["key"] for p in manifest["parts"]} == parts  # the manifest lists exactly what is on S3
    assert done["rows"] == manifest["rows"] == sum(p["rows"] for p in manifest["parts"]) and done["parts"] == len(parts)
    assert all(k.endswith(".parquet") for k in parts)
    text = json.dumps([part_rows(k, boto3.client("s3").get_object(Bucket=bucket, Key=k)["Body"].read())
                       for k in parts], default=str, ensure_ascii=False)
    for personal in (history["old"]["phone"], history["old"]["name"], "Asked about tyres", "It took long"):
        assert personal not in text  # pseudonyms and codes only


def test_the_backfill_fills_in_history_s_contacts_for_the_analyses_and_has_the_week_exported_again(
        stack: dict[str, str], history: dict[str, Any], first: dict[str, Any]) -> None:
    from chalicelib.domain import engagement as eng
    from chalicelib.persistence import change_log
    from tests.test_engagement import engagement_of

    assert first["backfill"]["status"] == "succeeded"
    kept = engagement_of(history["old"]["id"])  # the consumer never saw them
    assert kept is not None
    contacts = sorted((eng.contact_of(v) for v in kept.contacts), key=lambda c: c.occurred_at)
    assert [c.occurred_at[:16] for c in contacts] == [m.strftime("%Y-%m-%dT%H:%M") for m in history["contacts"]]
    assert {(c.branch_id, c.channel) for c in contacts} == {(BRANCH, "visit")} and kept.older_last is None
    before = date.fromisoformat(first["backfill"]["before"])
    marks = change_log.late_marks(before - timedelta(days=7), before - timedelta(days=1))
    assert len(marks) == 7  # their analyses ran without these contacts: the catch-up runs them again


def test_what_the_change_log_holds_and_what_was_stored_today_are_left_to_the_nightly_run(
        stack: dict[str, str], history: dict[str, Any], imported: dict[str, Any], first: dict[str, Any],
        as_user: Any) -> None:
    bucket = stack["EXPORT_BUCKET"]
    parts = {k: v for k, v in fact_parts(bucket, "interaction_events").items() if f"/b{first['backfill']['id']}-" in k}
    for customer in (imported["customer"], history["fresh"]):
        assert mine(parts, "customer_key", pseudonym(stack, "customer", customer["id"])) == []
    export(as_user("analyst"), today())  # tonight's run: the imported contact, once, in the day it happened
    imported_key = pseudonym(stack, "customer", imported["customer"]["id"])
    found = mine(fact_parts(bucket, "interaction_events"), "customer_key", imported_key)
    assert [dt for dt, _ in found] == [local(imported["moment"])]


def test_the_nightly_runs_of_the_days_it_owns_write_no_facts_and_what_owned_them_before_is_gone(
        stack: dict[str, str], first: dict[str, Any], as_user: Any) -> None:
    s3, bucket = boto3.client("s3"), stack["EXPORT_BUCKET"]
    for key in first["nightly"]:
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket=bucket, Key=key)
    yesterday = today() - timedelta(days=1)
    run = export(as_user("analyst"), yesterday)
    assert not {"interaction_events", "complaint_events", "order_events"} & set(run["datasets"])
    assert "customers_changed" in run["datasets"]  # the day's changes still come from the log
    assert f"exports/_facts/dt={yesterday.isoformat()}/_manifest.json" not in keys_of(bucket, "exports/_facts/")


def test_a_failed_segment_is_retried_alone_and_the_new_backfill_replaces_the_old_one(
        stack: dict[str, str], history: dict[str, Any], first: dict[str, Any], as_user: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.persistence import export_files
    from chalicelib.workflows import backfill as workflow

    s3 = export_files.client("s3")
    original_put, original_segment = s3.put_object, workflow.run_segment
    failed: list[str] = []
    runs: Counter[int] = Counter()

    def put_object(**kw: Any) -> Any:
        segment = done_writing(kw)
        if segment is not None and not failed:  # a segment's first attempt dies after uploading its parts
            failed.append(segment)
            raise s3.exceptions.ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, "PutObject")
        return original_put(**kw)

    def run_segment(backfill_id: str, before: date, segment: int, total: int) -> dict[str, Any]:
        runs[segment] += 1
        return original_segment(backfill_id, before, segment, total)

    monkeypatch.setattr(s3, "put_object", put_object)
    monkeypatch.setattr(workflow, "run_segment", run_segment)
    before = old_facts(stack, history)
    done = backfill(as_user("admin"), {"segments": 3})
    assert done["status"] == "succeeded" and done["segments_done"] == 3, done
    assert len(failed) == 1
    assert runs == Counter({s: 2 if s == int(failed[0]) else 1 for s in range(3)})  # it again, the others once
    after = old_facts(stack, history)
    assert {k: sorted(json.dumps(r, sort_keys=True, default=str) for r in v) for k, v in after.items()} \
        == {k: sorted(json.dumps(r, sort_keys=True, default=str) for r in v) for k, v in before.items()}  # each fact once
    bucket = stack["EXPORT_BUCKET"]
    assert backfill_parts(bucket, first["backfill"]["id"]) == set()  # the old backfill's parts are gone
    assert f"s{failed[0]}" in {k.rsplit("/", 1)[1].split("-")[1] for k in backfill_parts(bucket, done["id"])}


def test_a_backfill_that_fails_for_good_leaves_nothing_and_the_current_one_stays(
        stack: dict[str, str], history: dict[str, Any], first: dict[str, Any], as_user: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.persistence import backfills, export_files

    current = backfills.current()
    before = old_facts(stack, history)
    s3 = export_files.client("s3")
    original_put = s3.put_object

    def put_object(**kw: Any) -> Any:
        if done_writing(kw) is not None:  # a segment that wrote parts dies after uploading them, every attempt
            raise s3.exceptions.ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "PutObject")
        return original_put(**kw)

    monkeypatch.setattr(s3, "put_object", put_object)
    done = backfill(as_user("admin"), {"segments": 2})
    assert done["status"] == "failed" and done["error"] == "SegmentFailed", done
    assert execution_status(done["id"]) == "FAILED"  # after its last sweep
    bucket = stack["EXPORT_BUCKET"]
    assert backfill_parts(bucket, done["id"]) == set()
    assert keys_of(bucket, f"exports/_backfill/{done['id']}/") == set()
    assert backfills.current() == current
    assert old_facts(stack, history) == before
    monkeypatch.undo()
    assert backfill(as_user("admin"), {"segments": 1})["status"] == "succeeded"  # the lease was given back


def test_a_redelivered_step_changes_nothing(stack: dict[str, str], history: dict[str, Any], first: dict[str, Any],
                                            as_user: Any) -> None:
    from chalicelib.persistence import backfills
    from chalicelib.workflows import analytics
    from chalicelib.workflows.backfill import execution_input

    current = backfills.current()
    assert current is not None
    record = as_user("admin").get(f"/analytics/backfills/{current['id']}").json
    bucket = stack["EXPORT_BUCKET"]
    parts, before = backfill_parts(bucket, current["id"]), old_facts(stack, history)
    steps = execution_input(current["id"], current["before"], record["segments"], "unused")
    for step in steps["segments"]:  # Lambda delivers an event again, after the backfill ended: it writes nothing
        with pytest.raises(backfills.BackfillStopped):
            analytics.on_event(step["event"])
    assert analytics.on_event(steps["finish"])["status"] == "succeeded"
    assert backfill_parts(bucket, current["id"]) == parts and old_facts(stack, history) == before
    assert backfills.current() == current


def test_one_backfill_at_a_time(stack: dict[str, str], first: dict[str, Any], as_user: Any) -> None:
    from chalicelib.domain.clock import new_id
    from chalicelib.persistence import backfills

    holder = backfills.begin(new_id(), before=today().isoformat(), segments=1, requested_by=None,
                             now_epoch=int(time.time()), lease_seconds=600, facts_schema=FACTS_SCHEMA_VERSION)
    try:
        refused = as_user("admin").post("/analytics/backfills", {})
        assert refused.status_code == 409 and refused.headers["Content-Type"] == "application/problem+json"
    finally:
        backfills.finish(holder["id"], status="failed", now_epoch=int(time.time()), error="Test")
    assert as_user("admin").get(f"/analytics/backfills/{holder['id']}").json["status"] == "failed"


def test_two_requests_at_once_start_one_backfill(stack: dict[str, str], first: dict[str, Any], as_user: Any) -> None:
    import threading

    admin, gate, answers = as_user("admin"), threading.Barrier(2), []

    def ask() -> None:
        gate.wait()
        answers.append(admin.post("/analytics/backfills", {"segments": 1}))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [202, 409]
    (started,) = [a for a in answers if a.status_code == 202]
    deadline = time.monotonic() + 240
    while admin.get(started.headers["Location"]).json["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert admin.get(started.headers["Location"]).json["status"] == "succeeded"


@pytest.mark.parametrize("body", [{"segments": 0}, {"segments": 65}, {"segments": "2"}, {"segments": 2.0},
                                  {"segment": 2}, [], None, b"null", b"{"])
def test_bad_requests_start_nothing(stack: dict[str, str], first: dict[str, Any], as_user: Any, body: Any) -> None:
    before = backfill_records(stack)
    answer = as_user("admin").post("/analytics/backfills", body)
    assert 400 <= answer.status_code < 500 and answer.headers["Content-Type"] == "application/problem+json"
    assert backfill_records(stack) == before  # no backfill recorded, the lease as it was


@pytest.mark.parametrize("user", ["analyst", "manager.surabaya", "agent.surabaya", "marketing"])
def test_only_admins_start_or_read_backfills(stack: dict[str, str], first: dict[str, Any], as_user: Any,
                                             user: str) -> None:
    caller = as_user(user)
    assert caller.post("/analytics/backfills", {}).status_code == 403
    assert caller.get(f"/analytics/backfills/{first['backfill']['id']}").status_code == 403
    assert caller.get("/analytics/backfills/nope").status_code == 403  # the same answer, known or not


@pytest.mark.parametrize("backfill_id", ["nope", "LEASE", "CURRENT", "0" * 26, "X" * 2000])
def test_an_unknown_backfill_is_404(stack: dict[str, str], as_user: Any, backfill_id: str) -> None:
    assert as_user("admin").get(f"/analytics/backfills/{backfill_id}").status_code == 404


@pytest.mark.parametrize(("items", "segments"), [(0, 1), (1, 1), (250_000, 1), (250_001, 2), (5_000_000, 20),
                                                 (10**9, 64)])
def test_segments_follow_the_size_of_the_table(items: int, segments: int) -> None:
    from chalicelib.workflows.backfill import segments_for

    assert segments_for(items) == segments


def test_a_segment_retried_after_attempts_that_died_deletes_what_they_wrote(
        stack: dict[str, str], history: dict[str, Any], first: dict[str, Any]) -> None:
    """An earlier attempt that died after uploading a part into a partition the attempt that succeeds writes
    nothing into (the fact was erased in between): the successful one finds it through the partitions the
    segment's manifest keeps for every attempt, and deletes it."""
    from chalicelib.domain.clock import new_id
    from chalicelib.persistence import backfills
    from chalicelib.persistence.export_files import backfill_segment_key
    from chalicelib.workflows import analytics
    from chalicelib.workflows.backfill import execution_input

    running = backfills.begin(new_id(), before=today().isoformat(), segments=1, requested_by=None,
                              now_epoch=int(time.time()), lease_seconds=600, facts_schema=FACTS_SCHEMA_VERSION)
    s3, bucket = boto3.client("s3"), stack["EXPORT_BUCKET"]
    steps = execution_input(running["id"], running["before"], 1, "unused")
    try:
        stray = f"exports/interaction_events/parquet/dt=2024-01-01/b{running['id']}-s000-00000.parquet"
        s3.put_object(Bucket=bucket, Key=stray, Body=planted("interaction_events", {"customer_key": "erased since"}))
        died = {"complete": False, "partitions": [["interaction_events", "2024-01-01"]], "parts": []}
        s3.put_object(Bucket=bucket, Key=backfill_segment_key(running["id"], 0), Body=json.dumps(died).encode())
        done = analytics.on_event(steps["segments"][0]["event"])  # the attempt that succeeds
        assert done["rows"] > 0
        assert stray not in keys_of(bucket, "exports/interaction_events/parquet/dt=2024-01-01/")
        rewritten = json.loads(s3.get_object(Bucket=bucket, Key=backfill_segment_key(running["id"], 0))["Body"].read())
        assert rewritten["complete"] is True and rewritten["rows"] == done["rows"]
        assert ["interaction_events", "2024-01-01"] in rewritten["partitions"]  # still followed by later attempts
        assert list(backfills.get(running["id"])["done"]) == [0]
    finally:
        backfills.finish(running["id"], status="failed", now_epoch=int(time.time()), error="Test")
        analytics.on_event(steps["sweep"])  # what the state machine does last: nothing of it is left
    assert backfill_parts(bucket, running["id"]) == set()
    assert keys_of(bucket, f"exports/_backfill/{running['id']}/") == set()


def tonight() -> dict[str, Any]:
    """The schedule's event tonight (02:00 local exports yesterday), as EventBridge delivers it."""
    return {"version": "0", "id": "tonight", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "region": "ap-southeast-3", "resources": [],
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "detail": {}}


def run_tonight(stack: dict[str, str]) -> dict[str, Any]:
    """Tonight's run, invoked as Lambda runs it: the function's own environment and role (the local stack enforces
    its packaged policy: StartExecution on the backfill's state machine, DescribeTable to size it)."""
    from botocore.config import Config

    # as the schedule invokes it: once (botocore would invoke again after its 60 s read timeout, and the second run
    # would find the day being exported by the first), waiting as long as the function may run
    once = Config(read_timeout=900, retries={"max_attempts": 0})
    answer = boto3.client("lambda", config=once).invoke(FunctionName=stack["ANALYTICS_EXPORT_FUNCTION"],
                                                        InvocationType="RequestResponse",
                                                        Payload=json.dumps(tonight()).encode())
    body = answer["Payload"].read()
    assert "FunctionError" not in answer, body
    return dict(json.loads(body))


def outdate_current(stack: dict[str, str]) -> None:
    """A deployment changed the facts' files: the current backfill wrote the schema before."""
    boto3.client("dynamodb").update_item(
        TableName=stack["ANALYTICS_TABLE_NAME"], Key={"pk": {"S": "BACKFILL"}, "sk": {"S": "CURRENT"}},
        UpdateExpression="SET facts_schema = :older",
        ExpressionAttributeValues={":older": {"N": str(FACTS_SCHEMA_VERSION - 1)}})


def wait_for_runs(answer: dict[str, Any]) -> None:
    """The nightly run's own export and the days it caught up, done (nothing of it left running for later tests)."""
    from chalicelib.persistence import analytics_results

    deadline = time.monotonic() + 240
    for day in answer["caught_up"]:
        while (analytics_results.get_run(day) or {}).get("status") not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, day
            time.sleep(0.2)


def _started_tonight(stack: dict[str, str], as_user: Any) -> dict[str, Any]:
    """Tonight's run (after a replayed older night, which starts nothing) starts a backfill; it succeeds."""
    from chalicelib.workflows import analytics

    older_night = {**tonight(), "time": (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert analytics.backfill_if_needed(analytics.day_of_event(older_night, "Asia/Jakarta")) is None
    answer = run_tonight(stack)
    wait_for_runs(answer)
    assert answer["status"] == "succeeded" and answer["date"] == (today() - timedelta(days=1)).isoformat()
    started = dict(answer["backfill"])
    assert (started["status"], started["reason"]) == ("started", "schema"), started
    admin = as_user("admin")
    deadline = time.monotonic() + 240
    while (shown := admin.get(f"/analytics/backfills/{started['backfill_id']}")).json["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert shown.json["status"] == "succeeded" and shown.json["trigger"] == "nightly", shown.json
    return started


def test_tonights_run_starts_the_backfill_a_changed_facts_schema_needs_once(
        stack: dict[str, str], history: dict[str, Any], first: dict[str, Any], as_user: Any) -> None:
    """No runbook step after a deployment that changed the facts' files: tonight's export starts the backfill, which
    rewrites the facts once; the next night, with it current, starts none; a replayed older night starts none."""
    from chalicelib.persistence import backfills

    before = old_facts(stack, history)
    assert (backfills.current() or {})["facts_schema"] == FACTS_SCHEMA_VERSION  # made current with what it wrote
    outdate_current(stack)
    s3, bucket = boto3.client("s3"), stack["EXPORT_BUCKET"]
    retired = ["exports/interactions/dt=2025-06-01/part-00000.jsonl.gz",  # the snapshot schema 9 dropped
               "exports/interactions/dt=2025-06-01/_manifest.json",
               "exports/_athena/interactions/dt=2025-06-01/symlink.txt",
               "exports/interaction_events/dt=2025-06-01/c2025-06-01-00000.jsonl.gz"]  # schema 7's facts: JSON
    for key in retired:
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(b'{"customer_key": "retired"}\n'))
    try:
        started = _started_tonight(stack, as_user)
    finally:  # whatever happened, nothing planted stays for the other tests' readers
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in retired]})
    current = backfills.current() or {}
    assert current["id"] == started["backfill_id"] and current["facts_schema"] == FACTS_SCHEMA_VERSION
    assert old_facts(stack, history) == before  # each fact once, now in the new backfill's parts
    assert not set(retired) & (keys_of(bucket, "exports/interactions/") | keys_of(bucket, "exports/_athena/")
                               | keys_of(bucket, "exports/interaction_events/"))  # what no table reads: gone
    assert all(s3.list_objects_v2(Bucket=bucket, Prefix=k)["KeyCount"] == 0 for k in retired)
    again = run_tonight(stack)  # the schedule delivered twice, or the next night
    wait_for_runs(again)
    assert again["backfill"] is None and (backfills.current() or {})["id"] == started["backfill_id"]


def test_tonights_run_leaves_a_running_backfill_and_one_of_its_own_that_failed_alone(
        stack: dict[str, str], history: dict[str, Any], first: dict[str, Any], as_user: Any) -> None:
    """Not a second backfill while one runs; and after a backfill the nightly run started for this schema ran and
    failed, none every night: the alarm told ops, and an admin starts the next one."""
    from chalicelib.domain.clock import new_id
    from chalicelib.persistence import backfills
    from chalicelib.persistence.backfills import AUTOMATIC
    from chalicelib.workflows import analytics

    yesterday = today() - timedelta(days=1)
    deadline = time.monotonic() + 240
    while (backfills.latest() or {}).get("status") == "running":  # one an earlier test left (it failed midway)
        assert time.monotonic() < deadline
        time.sleep(0.5)
    current = backfills.current()
    outdate_current(stack)
    holder = backfills.begin(new_id(), before=today().isoformat(), segments=1, requested_by=AUTOMATIC,
                             now_epoch=int(time.time()), lease_seconds=600, facts_schema=FACTS_SCHEMA_VERSION)
    try:
        assert analytics.backfill_if_needed(yesterday) == {"status": "not_started", "reason": "running"}
    finally:
        backfills.finish(holder["id"], status="failed", now_epoch=int(time.time()), error="SegmentFailed")
    try:
        assert analytics.backfill_if_needed(yesterday) == {"status": "not_started", "reason": "failed_before",
                                                           "backfill_id": holder["id"]}
        assert backfills.latest() == backfills.get(holder["id"])  # nothing begun since
    finally:
        done = backfill(as_user("admin"))  # what the runbook says after the alarm
    assert done["status"] == "succeeded" and done["trigger"] == "api"
    assert (backfills.current() or {})["facts_schema"] == FACTS_SCHEMA_VERSION and current is not None
    assert analytics.backfill_if_needed(yesterday) is None


@pytest.mark.parametrize(("current", "reason"), [
    (None, "first"),
    ({"before": "2026-12-01"}, "schema"),  # made before backfills recorded their schema
    ({"before": "2026-12-01", "facts_schema": FACTS_SCHEMA_VERSION - 1}, "schema"),
    ({"before": "2026-12-01", "facts_schema": FACTS_SCHEMA_VERSION + 1}, "schema"),  # a rollback
    ({"before": "2026-12-01", "facts_schema": FACTS_SCHEMA_VERSION}, None),
    ({"before": "2025-12-12", "facts_schema": FACTS_SCHEMA_VERSION}, None),  # 329 days old
    ({"before": "2025-12-11", "facts_schema": FACTS_SCHEMA_VERSION}, "refresh"),  # 330: 70 days before S3 expires it
])
def test_what_makes_a_backfill_needed(current: dict[str, Any] | None, reason: str | None) -> None:
    from chalicelib.workflows.backfill import needed

    assert needed(current, date(2026, 11, 6)) == reason


def test_the_facts_a_backfill_may_own_are_those_stored_before_its_day() -> None:
    """chalicelib/domain/exports.py facts_stored_before, on items as the table holds them."""
    from chalicelib.domain.exports import Pseudonymizer, Snapshot, facts_stored_before

    key, snap = Pseudonymizer(b"k" * 32), Snapshot(date(2026, 12, 6), "Asia/Jakarta")
    begins = snap.ends_at  # 2026-12-06T17:00:00.000Z: midnight in Jakarta
    contact = {"pk": "C#1", "sk": "I#a", "type": "interaction", "customer_id": "1", "branch_id": "bandung",
               "channel": "visit", "direction": "inbound", "kind": "inquiry", "staff_id": "s",
               "occurred_at": "2025-03-01T03:00:00.000Z", "created_at": "2026-12-06T16:59:59.999Z"}
    today = {**contact, "sk": "I#b", "created_at": begins}  # stored once the day began: the nightly run's
    imported = {**contact, "sk": "I#c", "created_at": None}  # no stored time: the contact's own
    pending = {**contact, "sk": "I#d", "delivery": "pending", "topic": "x"}  # not a fact until it ends
    entry = {"pk": "O#9", "sk": "H#1", "type": "order_history", "change": "status", "from_value": "shipped",
             "to_value": "delivered", "at": "2026-11-30T02:00:00.000Z", "by": "s"}
    found = facts_stored_before([contact, today, imported, pending, {"pk": "C#1", "sk": "PROFILE",
                                                                    "type": "customer"}], key, snap, begins)
    assert [(k, dataset) for k, (dataset, _, _) in found] == [(("C#1", "I#a"), "interaction_events"),
                                                               (("C#1", "I#c"), "interaction_events")]
    assert facts_stored_before([entry], key, snap, begins)[0][1][:2] == ("order_events", entry["at"])
