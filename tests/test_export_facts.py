"""Facts that follow the day: the stream's change log, and the nightly export of what it recorded.

Through the HTTP API and the local stack's stream pump (as `make run` runs
them): interactions, a complaint, an order and its shipment are recorded; the
change log holds each new fact once, whatever is redelivered; the export of
the day writes each into the partition of the local day it happened, in parts
named after the day exported; a re-run replaces its own parts; a fact erased
since is gone on the next run; a fact logged after its day's run makes the
catch-up export that day again.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from chalicelib.domain.exports import DATASETS, FACT_DATASETS, MANIFEST_NAME, column_sets, is_logged, is_new_fact

pytestmark = pytest.mark.usefixtures("stack")

BRANCH = "bandung"
ZONE = ZoneInfo("Asia/Jakarta")


def today() -> date:
    return datetime.now(ZONE).date()


def pseudonym(stack: dict[str, str], kind: str, value: str) -> str:
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=stack["PSEUDONYM_SECRET_ARN"])["SecretString"]
    return hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def part_rows(key: str, body: bytes) -> list[dict[str, Any]]:
    """The rows of a part: a Parquet file (the facts) read by DuckDB, or gzipped JSON Lines."""
    if not key.endswith(".parquet"):
        return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    import duckdb

    with tempfile.NamedTemporaryFile(suffix=".parquet") as file:
        file.write(body)
        file.flush()
        connection = duckdb.connect()
        try:
            relation = connection.sql(f"SELECT * FROM read_parquet('{file.name}')")
            return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
        finally:
            connection.close()


def planted(dataset: str, row: dict[str, Any]) -> bytes:
    """A facts part holding `row`, as the export writes one (Parquet)."""
    from chalicelib.persistence.parquet import from_json_lines

    return from_json_lines(gzip.compress(json.dumps(row).encode() + b"\n"), FACT_DATASETS[dataset])


def fact_parts(bucket: str, dataset: str) -> dict[str, list[dict[str, Any]]]:
    """key -> rows of every part of a facts dataset (what Athena reads: everything under the dataset's prefix)."""
    s3 = boto3.client("s3")
    found: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"exports/{dataset}/"):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = part_rows(obj["Key"], s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    return found


def mine(parts: dict[str, list[dict[str, Any]]], column: str, value: str) -> list[tuple[str, dict[str, Any]]]:
    """(partition dt, row) of the rows whose `column` is `value`, in every part."""
    return [(key.split("/dt=")[1].split("/")[0], row) for key, rows in parts.items() for row in rows
            if row.get(column) == value]


def day_rows(bucket: str, dataset: str, day: date) -> list[dict[str, Any]]:
    """The rows of a day's dataset, following its manifest (the parts its symlink file points Athena at)."""
    s3 = boto3.client("s3")
    prefix = f"exports/{dataset}/dt={day.isoformat()}/"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix + MANIFEST_NAME)["Body"].read())
    rows: list[dict[str, Any]] = []
    for part in manifest["parts"]:
        body = gzip.decompress(s3.get_object(Bucket=bucket, Key=part["key"])["Body"].read())
        rows.extend(json.loads(line) for line in body.decode().splitlines())
    return rows


def export(caller: Any, day: date) -> dict[str, Any]:
    started = caller.post("/analytics/exports", {"date": day.isoformat()})
    assert started.status_code == 202, started.body
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = caller.get(f"/analytics/exports/{day.isoformat()}").json
        if run["status"] in ("succeeded", "failed") and run["run_id"] == started.json["run_id"]:
            assert run["status"] == "succeeded", run
            return dict(run)
        time.sleep(0.2)
    raise AssertionError("the export did not finish")


def stream_records_of(stack: dict[str, str], pks: set[str]) -> list[dict[str, Any]]:
    """Every record the table's stream holds for items of these partitions, as Lambda delivers them."""
    from chalicelib.persistence.stream_records import lambda_record

    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=stack["TABLE_NAME"])["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(lambda_record(r, arn) for r in page["Records"]
                           if r["dynamodb"]["Keys"]["pk"]["S"] in pks)
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def logged(day: date, pks: set[str]) -> list[tuple[str, str]]:
    from chalicelib.persistence import change_log

    return [k for k in change_log.keys_of(day) if k[0] in pks]


@pytest.fixture(scope="module")
def recorded(stack: dict[str, str], as_user: Any, stream_pump: Any, catalog: Any) -> dict[str, Any]:
    """A customer with three contacts (today, 2 and 40 days ago), a complaint moved on once, an order confirmed and
    shipped with one carrier event; the stream pump has handled it all."""
    admin, manager = as_user("admin"), as_user(f"manager.{BRANCH}")
    customer = admin.new_customer(name="Dewi Fakta", branch_id=BRANCH)
    now = datetime.now(UTC)
    moments = [now - timedelta(minutes=5), now - timedelta(days=2), now - timedelta(days=40)]
    for moment in moments:
        answer = manager.post(f"/customers/{customer['id']}/interactions", {
            "channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": "Asked about a service",
            "occurred_at": utc(moment)})
        assert answer.status_code == 201, answer.body
    complaint = manager.post(f"/customers/{customer['id']}/complaints", {
        "category": "service", "severity": "medium", "subject": "Slow", "description": "It took long"}).json
    moved = manager.patch(f"/complaints/{complaint['id']}", {"status": "acknowledged"},
                          headers={"If-Match": f'"v{complaint["version"]}"'})
    assert moved.status_code == 200, moved.body
    order = admin.post(f"/customers/{customer['id']}/orders", {
        "channel": "showroom", "lines": [{"sku": "ORD-OIL", "qty": 1, "tax_rate": "0.11"}]}).json
    assert admin.patch(f"/orders/{order['id']}", {"status": "confirmed"},
                       headers={"If-Match": '"v1"'}).status_code == 200
    shipment = admin.post(f"/orders/{order['id']}/shipments", {
        "carrier": "jne", "tracking_number": f"FCT{time.time_ns() % 10**9}", "lines": [{"line_no": 1, "qty": 1}]}).json
    assert admin.post(f"/shipments/{shipment['id']}/events", {"status": "picked_up"}).status_code == 201
    bystander = admin.new_customer(name="Rudi Tetangga", branch_id=BRANCH)
    assert manager.post(f"/customers/{bystander['id']}/interactions", {
        "channel": "phone", "direction": "outbound", "kind": "sales_talk", "summary": "Offer"}).status_code == 201
    sold = admin.post(f"/customers/{bystander['id']}/orders", {"channel": "showroom", "lines": [
        {"sku": "ORD-OIL", "qty": 2, "tax_rate": "0.11"}, {"sku": "ORD-FILTER", "qty": 1, "tax_rate": "0.11"}]}).json
    assert admin.patch(f"/orders/{sold['id']}", {"status": "confirmed"},
                       headers={"If-Match": '"v1"'}).status_code == 200
    parcel = admin.post(f"/orders/{sold['id']}/shipments", {
        "carrier": "jne", "tracking_number": f"FCD{time.time_ns() % 10**9}",
        "lines": [{"line_no": 1, "qty": 2}, {"line_no": 2, "qty": 1}]}).json
    for status in ("picked_up", "in_transit", "out_for_delivery", "delivered"):
        assert admin.post(f"/shipments/{parcel['id']}/events", {"status": status}).status_code == 201
    assert admin.get(f"/orders/{sold['id']}").json["status"] == "delivered"
    stream_pump.drain()
    # the delivered order's survey, answered with a comment (free text: never a fact's)
    from chalicelib.workflows import surveys

    assert [i["kind"] for i in admin.get(f"/customers/{bystander['id']}/interactions?limit=50").json["items"]
            ].count("survey") == 1
    surveys.answer(surveys.token(bystander["id"], "order", sold["id"]),
                   {"csat": "2", "nps": "6", "comment": SURVEY_COMMENT})
    stream_pump.drain()
    pks = {f"C#{customer['id']}", f"X#{complaint['id']}", f"O#{order['id']}"}
    return {"customer": customer, "complaint": complaint, "order": order, "shipment": shipment, "pks": pks,
            "moments": moments, "bystander": bystander, "sold": sold}


SURVEY_COMMENT = "Kurir Pak Joko kasar sekali"


@pytest.fixture(scope="module")
def exported(recorded: dict[str, Any], as_user: Any) -> dict[str, Any]:
    return export(as_user("analyst"), today())


def test_the_change_log_holds_each_new_fact_once_and_nothing_else(stack: dict[str, str],
                                                                   recorded: dict[str, Any]) -> None:
    keys = logged(today(), recorded["pks"])
    assert len(keys) == len(set(keys))
    customer = f"C#{recorded['customer']['id']}"
    stored = boto3.client("dynamodb").query(
        TableName=stack["TABLE_NAME"], KeyConditionExpression="pk = :pk AND begins_with(sk, :i)",
        ExpressionAttributeValues={":pk": {"S": customer}, ":i": {"S": "I#"}}, ConsistentRead=True)["Items"]
    contacts = [i for i in stored if "delivery" not in i]
    messages = [i for i in stored if "delivery" in i]
    assert len(contacts) == 3 and messages  # the complaint's receipt, the order's updates
    assert all(m["delivery"]["S"] == "sent" for m in messages)  # every one ended (a fact), none pending
    # every contact and message, once, and the profile (created: the customers' delta); not the complaint link,
    # the message claims, the timeline's order entries
    assert sorted(sk for pk, sk in keys if pk == customer) == sorted([i["sk"]["S"] for i in stored] + ["PROFILE"])
    complaint = sorted(sk for pk, sk in keys if pk == f"X#{recorded['complaint']['id']}")
    assert len(complaint) == 3 and complaint[0] == "COMPLAINT"  # changed twice that day: once
    assert all(sk.startswith("H#") for sk in complaint[1:])  # created, acknowledged
    order = [sk for pk, sk in keys if pk == f"O#{recorded['order']['id']}"]
    assert sum(sk.startswith("H#") for sk in order) == 3  # created, confirmed, shipped
    assert sum(sk.startswith("SHEV#") for sk in order) == 1  # the carrier's event; not the shipment
    assert len(order) == 5 and "ORDER" in order


def test_a_redelivered_batch_logs_nothing_more(stack: dict[str, str], recorded: dict[str, Any]) -> None:
    from chalicelib.workflows import stream

    before = logged(today(), recorded["pks"])
    records = stream_records_of(stack, recorded["pks"])
    assert len(records) > len(before)  # the profile, links, claims... went through the stream too
    for start in range(0, len(records), 100):
        answer = stream.handle({"Records": records[start:start + 100]}, None)
        assert not answer.get("batchItemFailures")
    assert logged(today(), recorded["pks"]) == before


def test_the_export_writes_each_fact_once_into_the_day_it_happened(
        stack: dict[str, str], recorded: dict[str, Any], exported: dict[str, Any]) -> None:
    bucket, day = stack["EXPORT_BUCKET"], today()
    assert set(exported["datasets"]) == set(column_sets())
    customer_key = pseudonym(stack, "customer", recorded["customer"]["id"])
    contacts = mine(fact_parts(bucket, "interaction_events"), "customer_key", customer_key)
    expected_days = sorted(m.astimezone(ZONE).date().isoformat() for m in recorded["moments"])
    assert sorted(dt for dt, _ in contacts) == expected_days  # each in its own day's partition, once
    for dt, row in contacts:
        assert row["occurred_on"] == dt and set(row) == {c.name for c in FACT_DATASETS["interaction_events"]}
    messages = mine(fact_parts(bucket, "notification_events"), "customer_key", customer_key)
    assert sorted((row["topic"], row["delivery"]) for _, row in messages) == [
        ("complaint", "sent"), ("order", "sent"), ("order", "sent")]  # the receipt; confirmed, shipped
    complaint_key = pseudonym(stack, "complaint", recorded["complaint"]["id"])
    changes = mine(fact_parts(bucket, "complaint_events"), "complaint_key", complaint_key)
    assert sorted((row["change"], row["to_value"]) for _, row in changes) == [("created", "open"),
                                                                               ("status", "acknowledged")]
    order_key = pseudonym(stack, "order", recorded["order"]["id"])
    order_changes = [row for _, row in mine(fact_parts(bucket, "order_events"), "order_key", order_key)]
    assert [(r["from_value"], r["to_value"]) for r in order_changes if r["change"] == "status"][:1] == [
        ("draft", "confirmed")]
    (event,) = [row for _, row in mine(fact_parts(bucket, "shipment_events"), "order_key", order_key)]
    assert (event["status"], event["applied"]) == ("picked_up", True)
    assert event["shipment_key"] == pseudonym(stack, "shipment", recorded["shipment"]["id"])
    # the parts are named after the day exported, and the day's facts manifest lists exactly them
    manifest = json.loads(boto3.client("s3").get_object(
        Bucket=bucket, Key=f"exports/_facts/dt={day.isoformat()}/_manifest.json")["Body"].read())
    listed = {p["key"] for p in manifest["parts"]}
    on_s3 = {k for name in FACT_DATASETS for k in fact_parts(bucket, name) if f"/c{day.isoformat()}-" in k}
    assert listed == on_s3 and manifest["exported_day"] == day.isoformat()
    assert {name: manifest["datasets"][name]["rows"] for name in FACT_DATASETS} == {
        name: exported["datasets"][name]["rows"] for name in FACT_DATASETS}


def test_the_lines_of_an_order_delivered_that_day_are_facts_of_that_day(
        stack: dict[str, str], recorded: dict[str, Any], exported: dict[str, Any]) -> None:
    bucket = stack["EXPORT_BUCKET"]
    lines = mine(fact_parts(bucket, "delivered_order_lines"), "order_key",
                 pseudonym(stack, "order", recorded["sold"]["id"]))
    assert sorted((r["line_no"], r["sku"], r["qty"], r["is_revenue"]) for _, r in lines) == [
        (1, "ORD-OIL", 2.0, True), (2, "ORD-FILTER", 1.0, True)]
    for dt, row in lines:
        assert dt == row["delivered_on"] == datetime.fromisoformat(row["delivered_at"].replace("Z", "+00:00")) \
            .astimezone(ZONE).date().isoformat()
        assert set(row) == {c.name for c in FACT_DATASETS["delivered_order_lines"]}
    # shipped, not delivered: its lines are not facts yet
    assert mine(fact_parts(bucket, "delivered_order_lines"), "order_key",
                pseudonym(stack, "order", recorded["order"]["id"])) == []


def test_a_survey_answer_is_a_fact_of_the_day_answered_with_its_scores_and_never_its_comment(
        stack: dict[str, str], recorded: dict[str, Any], exported: dict[str, Any]) -> None:
    bucket = stack["EXPORT_BUCKET"]
    answers = mine(fact_parts(bucket, "survey_answers"), "customer_key",
                   pseudonym(stack, "customer", recorded["bystander"]["id"]))
    (dt, row), = answers
    assert row == {
        "customer_key": pseudonym(stack, "customer", recorded["bystander"]["id"]), "subject": "order",
        "subject_key": pseudonym(stack, "order", recorded["sold"]["id"]), "branch_id": BRANCH, "department": "sales",
        "staff_key": pseudonym(stack, "staff", recorded["sold"]["created_by"]), "asks_nps": True, "csat": 2, "nps": 6, "low": True,
        "sent_at": row["sent_at"], "answered_at": row["answered_at"], "answered_on": dt}
    assert dt == datetime.fromisoformat(row["answered_at"].replace("Z", "+00:00")).astimezone(ZONE).date().isoformat()
    # its message is a notification fact about a survey, without its text (the link)
    messages = mine(fact_parts(bucket, "notification_events"), "customer_key",
                    pseudonym(stack, "customer", recorded["bystander"]["id"]))
    assert [r["topic"] for _, r in messages].count("survey") == 1
    everything = json.dumps({name: fact_parts(bucket, name) for name in FACT_DATASETS}, default=str,
                            ensure_ascii=False)
    assert SURVEY_COMMENT not in everything and "/s/" not in everything


def test_no_personal_data_reaches_the_facts(stack: dict[str, str], recorded: dict[str, Any],
                                            exported: dict[str, Any]) -> None:
    customer = recorded["customer"]
    for name in FACT_DATASETS:
        text = json.dumps(fact_parts(stack["EXPORT_BUCKET"], name), default=str, ensure_ascii=False)
        for secret in (customer["id"], customer["phone"], customer["name"], "Asked about a service", "It took long",
                       recorded["complaint"]["id"], recorded["order"]["id"]):
            assert secret not in text, (name, secret)


def test_every_facts_part_is_parquet_with_the_glue_tables_columns_and_types(
        stack: dict[str, str], recorded: dict[str, Any], exported: dict[str, Any], tmp_path: Any) -> None:
    """What Athena's Parquet SerDe reads: each part's schema is its table's, name for name and type for type."""
    import duckdb

    from chalicelib.persistence.parquet import duckdb_type

    bucket, s3 = stack["EXPORT_BUCKET"], boto3.client("s3")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"exports/_facts/dt={today().isoformat()}/_manifest.json")
                          ["Body"].read())
    assert manifest["format"] == "parquet" and {p["dataset"] for p in manifest["parts"]} >= {
        "interaction_events", "complaint_events", "order_events", "shipment_events", "delivered_order_lines"}
    connection = duckdb.connect()
    for part in manifest["parts"]:
        assert part["key"].startswith(f"exports/{part['dataset']}/parquet/dt={part['dt']}/")
        path = tmp_path / "part.parquet"
        path.write_bytes(s3.get_object(Bucket=bucket, Key=part["key"])["Body"].read())
        schema = connection.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                                    [str(path)]).fetchall()
        assert schema == [(c.name, duckdb_type(c.glue_type)) for c in FACT_DATASETS[part["dataset"]]], part["key"]
        assert connection.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone() == (part["rows"],)


def test_what_changed_that_day_is_one_row_per_entity_as_it_stood(
        stack: dict[str, str], recorded: dict[str, Any], exported: dict[str, Any]) -> None:
    bucket, day = stack["EXPORT_BUCKET"], today()
    customer_key = pseudonym(stack, "customer", recorded["customer"]["id"])
    (customer,) = [r for r in day_rows(bucket, "customers_changed", day) if r["customer_key"] == customer_key]
    assert customer["deleted"] is False and customer["branch_id"] == BRANCH
    assert set(customer) == {c.name for c in DATASETS["customers_changed"]}
    complaint_key = pseudonym(stack, "complaint", recorded["complaint"]["id"])
    # created and acknowledged that day: one row, as it stood at the end of the day
    (complaint,) = [r for r in day_rows(bucket, "complaints_changed", day) if r["complaint_key"] == complaint_key]
    assert (complaint["status"], complaint["deleted"]) == ("acknowledged", False)
    assert [h["to_value"] for h in complaint["history"]] == ["open", "acknowledged"]
    order_key = pseudonym(stack, "order", recorded["order"]["id"])
    (order,) = [r for r in day_rows(bucket, "orders_changed", day) if r["order_key"] == order_key]
    assert order["status"] == "shipped" and order["customer_key"] == customer_key
    assert recorded["customer"]["id"] not in json.dumps([customer, complaint, order])  # keyed pseudonyms only


def test_the_documented_as_of_query_lays_the_changes_over_the_last_snapshot(
        stack: dict[str, str], recorded: dict[str, Any], exported: dict[str, Any], as_user: Any, stream_pump: Any) -> None:
    """docs/analytics.md "As of day D", run by DuckDB on the exported rows: the snapshot of yesterday with
    today's changes laid over it gives today's snapshot, for every customer whose change the log holds (this
    module's, created today) and every customer that did not change (carried from yesterday's snapshot)."""
    import re
    from pathlib import Path

    import duckdb

    from chalicelib.domain.clock import at
    from chalicelib.persistence.change_log import keys_of as change_log_keys

    bucket, day = stack["EXPORT_BUCKET"], today()
    yesterday = day - timedelta(days=1)
    admin = as_user("admin")
    with at(datetime.now(UTC) - timedelta(days=3)):  # in yesterday's snapshot: one stays as it was, one changes
        kept, moved = (admin.new_customer(name=name, branch_id=BRANCH) for name in ("Tetap Sama", "Naik Kelas"))
    stream_pump.drain()
    # `kept` as if it came before the change log began (its creation, logged today, taken out of the log)
    from chalicelib.persistence.change_log import log_pk, shard_of

    pk = f"C#{kept['id']}"
    boto3.client("dynamodb").delete_item(TableName=stack["ANALYTICS_TABLE_NAME"], Key={
        "pk": {"S": log_pk(day, shard_of(pk, "PROFILE"))}, "sk": {"S": f"{pk}|PROFILE"}})
    assert (pk, "PROFILE") not in change_log_keys(day)
    export(as_user("analyst"), yesterday)  # last night's run: both as they were
    assert admin.patch(f"/customers/{moved['id']}", {"lifecycle_stage": "customer"},
                       headers={"If-Match": f'"v{moved["version"]}"'}).status_code == 200
    stream_pump.drain()
    export(as_user("analyst"), day)
    doc = (Path(__file__).resolve().parent.parent / "docs" / "analytics.md").read_text()
    (query,) = re.findall(r"-- customers as of D = '(\d{4}-\d{2}-\d{2})', from the snapshot S = "
                          r"'(\d{4}-\d{2}-\d{2})'.*?\n(WITH .*?;)", doc, re.S)
    example_d, example_s, sql = query
    sql = sql.replace(example_d, day.isoformat()).replace(example_s, yesterday.isoformat())
    columns = ("customer_key", "branch_id", "lifecycle_stage")
    snapshots = {d: {r["customer_key"]: tuple(r[c] for c in columns) for r in day_rows(bucket, "customers", d)}
                 for d in (yesterday, day)}
    changes = day_rows(bucket, "customers_changed", day)
    connection = duckdb.connect()
    connection.execute("CREATE TABLE customers (dt VARCHAR, customer_key VARCHAR, branch_id VARCHAR, "
                       "lifecycle_stage VARCHAR)")
    connection.execute("CREATE TABLE customers_changed (dt VARCHAR, customer_key VARCHAR, branch_id VARCHAR, "
                       "lifecycle_stage VARCHAR, deleted BOOLEAN)")
    for d, rows in snapshots.items():
        if rows:
            connection.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)",
                                   [(d.isoformat(), *r) for r in rows.values()])
    connection.executemany("INSERT INTO customers_changed VALUES (?, ?, ?, ?, ?)",
                           [(day.isoformat(), *(r[c] for c in columns), r["deleted"]) for r in changes])
    answer = connection.execute(sql).fetchall()
    as_of = {row[0]: tuple(row) for row in answer}
    assert len(as_of) == len(answer)  # one row per customer
    changed = {r["customer_key"] for r in changes}
    mine = {pseudonym(stack, "customer", recorded[who]["id"]) for who in ("customer", "bystander")}
    assert mine <= changed and mine.isdisjoint(snapshots[yesterday])  # created today: from the changes alone
    carried, changed_today = (pseudonym(stack, "customer", c["id"]) for c in (kept, moved))
    assert carried in snapshots[yesterday] and carried not in changed and as_of[carried] == snapshots[day][carried]
    assert snapshots[yesterday][changed_today][2] == "lead" and changed_today in changed
    assert as_of[changed_today] == snapshots[day][changed_today] and as_of[changed_today][2] == "customer"
    mine |= {carried, changed_today}
    # the other modules of this worker change customers with no stream consumer running: the log misses those
    followed = changed | {k for k, row in snapshots[yesterday].items() if snapshots[day].get(k) == row}
    assert {k: v for k, v in as_of.items() if k in followed} == {k: v for k, v in snapshots[day].items() if k in followed}
    assert mine & set(as_of) == mine & set(snapshots[day]) != set()


def test_a_rerun_replaces_its_own_parts_and_drops_what_was_erased(
        stack: dict[str, str], recorded: dict[str, Any], exported: dict[str, Any], as_user: Any,
        stream_pump: Any) -> None:
    bucket, day = stack["EXPORT_BUCKET"], today()
    before = {name: fact_parts(bucket, name) for name in FACT_DATASETS}
    export(as_user("analyst"), day)
    assert {name: fact_parts(bucket, name) for name in FACT_DATASETS} == before  # same keys, same rows
    # the customer is erased: the next run of the day no longer has their contacts or messages
    admin = as_user("admin")
    customer = recorded["customer"]
    version = admin.get(f"/customers/{customer['id']}").json["version"]
    erased = admin.delete(f"/customers/{customer['id']}", headers={"If-Match": f'"v{version}"'})
    assert erased.status_code in (200, 202, 204), erased.body
    stream_pump.drain()
    export(as_user("analyst"), day)
    customer_key = pseudonym(stack, "customer", customer["id"])
    assert mine(fact_parts(bucket, "interaction_events"), "customer_key", customer_key) == []
    assert mine(fact_parts(bucket, "notification_events"), "customer_key", customer_key) == []
    (gone,) = [r for r in day_rows(bucket, "customers_changed", day) if r["customer_key"] == customer_key]
    assert gone["deleted"] is True and {k for k, v in gone.items() if v is not None} == {"customer_key", "deleted"}
    (case,) = [r for r in day_rows(bucket, "complaints_changed", day)
               if r["complaint_key"] == pseudonym(stack, "complaint", recorded["complaint"]["id"])]
    assert case["deleted"] is True  # erased with its customer
    bystander = pseudonym(stack, "customer", recorded["bystander"]["id"])
    kept = mine(fact_parts(bucket, "interaction_events"), "customer_key", bystander)
    assert len(kept) == 1 and kept == mine(before["interaction_events"], "customer_key", bystander)  # nobody else's
    assert mine(fact_parts(bucket, "order_events"), "order_key", pseudonym(stack, "order", recorded["order"]["id"]))
    # (the order stays as a financial record, detached from the erased customer: so do its events)


def test_a_run_that_died_after_uploading_leaves_nothing_the_next_run_does_not_find(
        stack: dict[str, str], recorded: dict[str, Any], exported: dict[str, Any], as_user: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Athena reads a facts partition whole, so a part no manifest lists would count its facts twice. A run records
    the partitions it writes into before its first upload; one that dies before its manifest is found by the next
    run of the day, which deletes its own earlier parts that it did not write again (here: one planted in a
    partition the dead run recorded, as if its fact had been erased in between)."""
    from chalicelib.persistence import export_files

    bucket, day = stack["EXPORT_BUCKET"], today()
    manifest_key = f"exports/_facts/dt={day.isoformat()}/_manifest.json"
    s3 = export_files.client("s3")
    original_put = s3.put_object

    def put_object(**kw: Any) -> Any:
        if kw["Key"] == manifest_key and json.loads(kw["Body"]).get("complete") is True:
            raise s3.exceptions.ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "PutObject")
        return original_put(**kw)

    s3.delete_object(Bucket=bucket, Key=manifest_key)  # as if no run of the day had finished yet
    monkeypatch.setattr(s3, "put_object", put_object)
    analyst = as_user("analyst")
    started = analyst.post("/analytics/exports", {"date": day.isoformat()})
    assert started.status_code == 202, started.body
    deadline = time.monotonic() + 120
    while analyst.get(f"/analytics/exports/{day.isoformat()}").json["status"] != "failed":
        assert time.monotonic() < deadline, "the export did not fail"
        time.sleep(0.2)
    monkeypatch.undo()
    died = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    assert died["complete"] is False
    ours = {k for name in FACT_DATASETS for k in fact_parts(bucket, name) if f"/c{day.isoformat()}-" in k}
    assert ours and {(k.split("/")[1], k.split("/dt=")[1].split("/")[0]) for k in ours} \
        <= {(d, on) for d, on in died["partitions"]}
    stray = f"exports/interaction_events/parquet/dt=2024-01-02/c{day.isoformat()}-00000.parquet"
    s3.put_object(Bucket=bucket, Key=stray, Body=planted("interaction_events", {"customer_key": "erased since"}))
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(
        {**died, "partitions": [*died["partitions"], ["interaction_events", "2024-01-02"]]}).encode())
    export(analyst, day)
    done = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    assert done["complete"] is True
    assert stray not in fact_parts(bucket, "interaction_events")
    ours = {k for name in FACT_DATASETS for k in fact_parts(bucket, name) if f"/c{day.isoformat()}-" in k}
    assert ours == {p["key"] for p in done["parts"]}  # every part of the day's runs is the last run's, listed


def test_a_part_s3_would_not_delete_makes_the_catch_up_run_the_day_again(
        stack: dict[str, str], recorded: dict[str, Any], exported: dict[str, Any], as_user: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale part left in a facts partition may hold facts twice: the day is marked for the catch-up, whose run
    deletes it."""
    from chalicelib.persistence import change_log, export_files

    bucket, day = stack["EXPORT_BUCKET"], today()
    manifest_key = f"exports/_facts/dt={day.isoformat()}/_manifest.json"
    s3 = boto3.client("s3")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    stray = f"exports/interaction_events/parquet/dt=2024-01-03/c{day.isoformat()}-00000.parquet"
    s3.put_object(Bucket=bucket, Key=stray, Body=planted("interaction_events", {"customer_key": "left"}))
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(
        {**manifest, "partitions": [*manifest["partitions"], ["interaction_events", "2024-01-03"]]}).encode())
    monkeypatch.setattr(export_files, "delete_keys", lambda _bucket, keys: list(keys))  # S3 refuses, per key
    started = int(time.time())
    export(as_user("analyst"), day)  # the day's export itself succeeds
    assert stray in fact_parts(bucket, "interaction_events")
    assert change_log.late_marks(day, day).get(day.isoformat(), 0) >= started
    monkeypatch.undo()
    export(as_user("analyst"), day)  # what the catch-up queues
    assert stray not in fact_parts(bucket, "interaction_events")


def test_a_fact_logged_after_its_day_was_exported_makes_the_catch_up_export_that_day_again(
        stack: dict[str, str], recorded: dict[str, Any], as_user: Any) -> None:
    from chalicelib.persistence import change_log
    from chalicelib.workflows import analytics

    day = today() - timedelta(days=3)
    analyst = as_user("analyst")
    export(analyst, day)
    assert day not in analytics.missed_days(today())  # it succeeded: nothing to catch up
    # a stream record of that day reaches the log only now (the consumer was behind)
    late = {"eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": float(int(datetime.combine(day, datetime.min.time().replace(hour=12),
                                                                  tzinfo=ZONE).timestamp())),
        "Keys": {"pk": {"S": f"C#late-{time.time_ns()}"}, "sk": {"S": "I#2020-01-01T00:00:00.000Z#x"}},
        "NewImage": {"type": {"S": "interaction"}}}}
    time.sleep(1.1)  # the mark is in whole seconds: after the run began
    assert change_log.record([late]) == 1
    assert day in analytics.missed_days(today())
    listed = analyst.get("/analytics/exports?limit=100")  # the mark shares the runs' partition: never listed as one
    assert listed.status_code == 200, listed.body
    assert all(item["date"][:4].isdigit() for item in listed.json["items"]) and listed.json["items"]
    assert (day, "I#2020-01-01T00:00:00.000Z#x") in {(day, sk) for _, sk in change_log.keys_of(day)}
    time.sleep(1.1)
    export(analyst, day)  # what the catch-up queues
    assert day not in analytics.missed_days(today())  # exported again after the mark: done


def test_a_rerun_of_a_day_the_log_no_longer_holds_leaves_its_facts_and_changes_alone(
        stack: dict[str, str], as_user: Any) -> None:
    """The log expires after 35 days: a re-export of an older day (a schema change, a repair) must not take the
    facts and deltas that day's own run wrote for empty."""
    bucket, old = stack["EXPORT_BUCKET"], date(2024, 6, 3)
    s3 = boto3.client("s3")
    fact = f"exports/interaction_events/parquet/dt=2024-06-01/c{old.isoformat()}-00000.parquet"
    s3.put_object(Bucket=bucket, Key=fact, Body=planted("interaction_events", {"customer_key": "k"}))
    manifest = f"exports/_facts/dt={old.isoformat()}/_manifest.json"
    s3.put_object(Bucket=bucket, Key=manifest, Body=json.dumps({
        "complete": True, "partitions": [["interaction_events", "2024-06-01"]],
        "parts": [{"dataset": "interaction_events", "dt": "2024-06-01", "key": fact, "rows": 1, "bytes": 1}]}).encode())
    delta = f"exports/customers_changed/dt={old.isoformat()}/part-00000.jsonl.gz"
    s3.put_object(Bucket=bucket, Key=delta, Body=gzip.compress(b'{"customer_key": "k"}\n'))
    run = export(as_user("analyst"), old)
    assert not set(run["datasets"]) & (set(FACT_DATASETS) | {n for n in DATASETS if n.endswith("_changed")})
    assert set(run["datasets"]) >= {"customers", "complaints", "rfm"}  # the snapshot, as before
    for key in (fact, manifest, delta):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # still there


@pytest.mark.parametrize(("old", "new", "fact"), [
    (None, {"type": "interaction"}, True),  # a contact by staff
    ({"type": "interaction"}, {"type": "interaction"}, False),  # changed later: exported already
    (None, {"type": "interaction", "delivery": "pending"}, False),  # a message not yet sent
    ({"type": "interaction", "delivery": "sending"}, {"type": "interaction", "delivery": "sent"}, True),
    (None, {"type": "interaction", "delivery": "skipped"}, True),
    ({"type": "interaction", "delivery": "sent"}, {"type": "interaction", "delivery": "failed"}, False),
    (None, {"type": "complaint_history"}, True),
    (None, {"type": "order_history"}, True),
    (None, {"type": "shipment_event"}, True),
    (None, {"type": "customer"}, False),
    (None, {"type": "complaint"}, False),
    ({"type": "complaint_history"}, None, False),  # deleted (an erasure)
])
def test_which_changes_bring_a_fact(old: dict[str, str] | None, new: dict[str, str] | None, fact: bool) -> None:
    assert is_new_fact(old, new) is fact


@pytest.mark.parametrize(("old", "new", "logged"), [
    (None, {"type": "customer"}, True),  # created
    ({"type": "order"}, {"type": "order"}, True),  # changed
    ({"type": "complaint"}, None, True),  # deleted (erased with its customer)
    ({"type": "customer"}, {"type": "customer_erasure"}, True),  # the erasure began
    ({"type": "campaign"}, {"type": "campaign"}, True),
    (None, {"type": "vehicle"}, True),
    ({"type": "guard"}, None, False),
    (None, {"type": "message_claim"}, False),
    (None, {"type": "interaction"}, True),  # a fact
    ({"type": "interaction"}, {"type": "interaction"}, False),
])
def test_which_changes_the_log_keeps(old: dict[str, str] | None, new: dict[str, str] | None, logged: bool) -> None:
    assert is_logged(old, new) is logged


def test_an_entity_changed_on_both_sides_of_midnight_in_one_batch_is_logged_under_both_days() -> None:
    from chalicelib.persistence.change_log import changes_in

    midnight = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 00:00 of 2026-12-02 in Jakarta

    def record(moment: datetime) -> dict[str, Any]:
        return {"eventName": "MODIFY", "dynamodb": {
            "ApproximateCreationDateTime": float(int(moment.timestamp())),
            "Keys": {"pk": {"S": "O#1"}, "sk": {"S": "ORDER"}},
            "OldImage": {"type": {"S": "order"}}, "NewImage": {"type": {"S": "order"}}}}

    batch = [record(midnight - timedelta(seconds=1)), record(midnight + timedelta(seconds=1)), record(midnight)]
    assert changes_in(batch, "Asia/Jakarta") == {("O#1", "ORDER", date(2026, 12, 1)),
                                                 ("O#1", "ORDER", date(2026, 12, 2))}
