"""The analytics export end to end: HTTP request -> job -> S3 -> rows, manifests, no personal data.

Runs on the session's local stack (moto), whose table also holds every other
test's data: assertions look for this module's own customers by their
pseudonym and check whole-export invariants (manifest vs parts, schema, no
personal data of anyone seeded here anywhere in the bucket).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from chalicelib.domain.exports import DATASETS, FACT_DATASETS, MANIFEST_NAME, SCHEMA_VERSION
from tests.conftest import unique_phone
from tests.test_export_facts import fact_parts
from tests.test_export_facts import mine as rows_where

pytestmark = pytest.mark.usefixtures("stack")

BRANCH = "surabaya"


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Jakarta")).date()


def key_of(stack: dict[str, str], customer_id: str) -> str:
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=stack["PSEUDONYM_SECRET_ARN"])["SecretString"]
    return hmac.new(secret.encode(), f"customer:{customer_id}".encode(), hashlib.sha256).hexdigest()[:32]


def s3() -> Any:
    return boto3.client("s3")


def objects(bucket: str, prefix: str = "exports/") -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = s3().get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return found


def rows(bucket: str, dataset: str, day: date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The manifest and the rows of the parts it lists (a reader that follows the manifest)."""
    prefix = f"exports/{dataset}/dt={day.isoformat()}/"
    manifest = json.loads(s3().get_object(Bucket=bucket, Key=prefix + MANIFEST_NAME)["Body"].read())
    out: list[dict[str, Any]] = []
    for part in manifest["parts"]:
        body = gzip.decompress(s3().get_object(Bucket=bucket, Key=part["key"])["Body"].read())
        lines = [json.loads(line) for line in body.decode().splitlines()]
        assert len(lines) == part["rows"]
        out.extend(lines)
    return manifest, out


def symlinked(bucket: str, dataset: str, day: date) -> list[str]:
    """The keys of the parts Athena reads for the day (the Glue table's symlink file)."""
    body = s3().get_object(Bucket=bucket, Key=f"exports/_athena/{dataset}/dt={day.isoformat()}/symlink.txt")["Body"]
    uris = body.read().decode().splitlines()
    assert all(u.startswith(f"s3://{bucket}/") for u in uris)
    return [u.removeprefix(f"s3://{bucket}/") for u in uris]


def export(caller: Any, day: date, timeout_s: float = 120.0) -> dict[str, Any]:
    """POST /analytics/exports, once the stream consumer has handled what was written so far (as the nightly run
    comes hours after the day), and wait until GET /analytics/exports/{date} says it has finished."""
    from tests.conftest import stream_caught_up

    stream_caught_up()
    started = caller.post("/analytics/exports", {"date": day.isoformat()})
    assert started.status_code == 202, started.body
    assert started.json["status"] == "queued"
    assert started.headers["Location"] == f"/analytics/exports/{day.isoformat()}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = caller.get(f"/analytics/exports/{day.isoformat()}")
        assert run.status_code == 200, run.body
        if run.json["status"] in ("succeeded", "failed") and run.json["run_id"] == started.json["run_id"]:
            assert run.json["status"] == "succeeded", run.json
            return dict(run.json)
        time.sleep(0.2)
    raise AssertionError("the export did not finish")


@pytest.fixture(scope="module")
def seeded(as_user: Any, stream_pump: Any, catalog: Any) -> dict[str, Any]:
    """Customers of one branch with interactions, a complaint, a STOP and an order that shipped, with
    recognisable personal data."""
    manager = as_user(f"manager.{BRANCH}")
    admin = as_user("admin")
    people: list[dict[str, Any]] = []
    stamp = str(time.time_ns())[-9:]
    for n, birthday in enumerate(("1990-05-17", "2001-02-28", None)):
        body: dict[str, Any] = {
            "name": f"Siti Export{stamp}x{n}", "phone": unique_phone(), "email": f"siti.export{stamp}.{n}@contoh.id",
            "address": f"Jalan Rahasia {stamp} No. {n}", "city": "Surabaya", "branch_id": BRANCH,
            "tags": ["vip"], "attributes": {"nik": f"3578{stamp}{n}"},
        }
        if birthday:
            body["birthday"] = birthday
        else:  # staff typed an address into the city and an id number into a tag
            body.update(city=f"Jl. Kenanga {stamp}", tags=["vip", f"nik:3578{stamp}"])
        people.append(admin.new_customer(**body))
    first, second, _third = people
    summaries = []
    for days_ago in (1, 3, 10):
        summary = f"Discussed secret plan {stamp}-{days_ago}"
        summaries.append(summary)
        occurred = (datetime.now(ZoneInfo("UTC")) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = manager.post(f"/customers/{first['id']}/interactions",
                              {"channel": "phone", "direction": "inbound", "kind": "inquiry", "summary": summary,
                               "occurred_at": occurred})
        assert answer.status_code == 201, answer.body
    description = f"The courier was rude, my neighbour {stamp} saw it"
    complaint = manager.post(f"/customers/{second['id']}/complaints", {
        "category": "shipment", "severity": "high",
        "subject": f"Complaint subject {stamp}", "description": description,
    })
    assert complaint.status_code == 201, complaint.body
    from chalicelib.persistence import consent as opt_outs

    opt_outs.set_sms_opt_out(second["phone"], True, at="2026-01-01T00:00:00.000Z", source="test")
    order = admin.post(f"/customers/{first['id']}/orders", {
        "channel": "showroom", "lines": [{"sku": "ORD-OIL", "qty": 2, "tax_rate": "0.11"}], "ref": f"PO-{stamp}"}).json
    admin.patch(f"/orders/{order['id']}", {"status": "confirmed"}, headers={"If-Match": '"v1"'})
    shipment = admin.post(f"/orders/{order['id']}/shipments", {
        "carrier": "jne", "tracking_number": f"EXP{stamp}", "lines": [{"line_no": 1, "qty": 2}]}).json
    # a campaign to the third (who consents): one recipient row, sent or in the global control group
    admin.request("PUT", f"/customers/{_third['id']}/consent", {"sms_marketing": {"value": True, "source": "form"}})
    marketing = as_user("marketing")
    campaign = marketing.post("/campaigns", {
        "name": "Export campaign", "channel": "sms", "purpose": "promotion", "holdout_pct": 0,
        "audience": {"branch_in": [BRANCH], "tags_any": [f"nik:3578{stamp}"]},
        "messages": {"id": "Halo {first_name}", "en": "Hi {first_name}"}}).json
    assert marketing.post(f"/campaigns/{campaign['id']}/schedule").status_code == 200
    deadline = time.monotonic() + 60
    while marketing.get(f"/campaigns/{campaign['id']}").json["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stream_pump.drain()  # the complaint's receipt message becomes a notification
    return {"people": people, "summaries": summaries, "description": description, "complaint": complaint.json,
            "stamp": stamp, "order": order, "shipment": shipment, "campaign": campaign}


@pytest.fixture(scope="module")
def exported(seeded: dict[str, Any], as_user: Any) -> dict[str, Any]:
    return export(as_user("analyst"), today())


def test_an_export_writes_every_dataset_with_a_manifest_that_matches_its_parts(
        stack: dict[str, str], exported: dict[str, Any]) -> None:
    bucket = stack["EXPORT_BUCKET"]
    assert set(exported["datasets"]) == set(DATASETS) | set(FACT_DATASETS)  # facts: tests/test_export_facts.py
    for dataset, columns in DATASETS.items():
        manifest, lines = rows(bucket, dataset, today())
        assert manifest["dataset"] == dataset
        assert manifest["schema_version"] == SCHEMA_VERSION
        assert manifest["rows"] == len(lines) == exported["datasets"][dataset]["rows"]
        assert manifest["bytes"] == sum(p["bytes"] for p in manifest["parts"])
        assert [c["name"] for c in manifest["columns"]] == [c.name for c in columns]
        for line in lines:
            assert list(line) == [c.name for c in columns]
        for part in manifest["parts"]:
            assert part["key"].startswith(f"exports/{dataset}/dt={today().isoformat()}/part-")
            assert part["key"].endswith(".jsonl.gz")
        assert symlinked(bucket, dataset, today()) == [p["key"] for p in manifest["parts"]]  # what Athena reads


def test_seeded_customers_are_exported_under_their_pseudonym_with_an_age_band(
        stack: dict[str, str], seeded: dict[str, Any], exported: dict[str, Any]) -> None:
    bucket = stack["EXPORT_BUCKET"]
    _, customers = rows(bucket, "customers", today())
    by_key = {c["customer_key"]: c for c in customers}
    first, second, third = seeded["people"]
    row = by_key[key_of(stack, first["id"])]
    assert row["branch_id"] == BRANCH and row["city"] == "Surabaya" and row["tags"] == ["vip"]
    assert row["age_band"] == "35_44" and row["has_email"] is True and row["sms_opted_out"] is False
    assert by_key[key_of(stack, second["id"])]["sms_opted_out"] is True
    assert by_key[key_of(stack, second["id"])]["age_band"] == "25_34"
    assert by_key[key_of(stack, third["id"])]["age_band"] == "unknown"
    assert by_key[key_of(stack, third["id"])]["city"] == "other" and by_key[key_of(stack, third["id"])]["tags"] == [
        "vip"]  # what staff typed that does not read like a city or a label stays out

    # contacts are facts: once each, in the partition of the day they happened (no snapshot copies them)
    contacts = rows_where(fact_parts(bucket, "interaction_events"), "customer_key", key_of(stack, first["id"]))
    assert len(contacts) == 3 and {row["channel"] for _, row in contacts} == {"phone"}
    assert all(dt == row["occurred_on"] for dt, row in contacts)

    _, complaints = rows(bucket, "complaints", today())
    (complaint,) = [c for c in complaints if c["customer_key"] == key_of(stack, second["id"])]
    assert complaint["category"] == "shipment" and complaint["status"] == "open"
    assert complaint["history"][0]["change"] == "created"

    _, churn = rows(bucket, "churn_risk", today())
    risk = {c["customer_key"]: c for c in churn}[key_of(stack, second["id"])]
    assert "sms_opted_out" in risk["reasons"] and any(r.startswith("open_complaints") for r in risk["reasons"])

    _, rfm = rows(bucket, "rfm", today())
    assert {r["customer_key"]: r for r in rfm}[key_of(stack, first["id"])]["recency_days"] in (1, 2)


def test_orders_their_lines_shipments_and_the_catalog_are_exported_and_rfm_has_money(
        stack: dict[str, str], seeded: dict[str, Any], exported: dict[str, Any]) -> None:
    bucket, customer = stack["EXPORT_BUCKET"], key_of(stack, seeded["people"][0]["id"])
    _, orders = rows(bucket, "orders", today())
    (order,) = [o for o in orders if o["customer_key"] == customer]
    assert (order["status"], order["net_total"], order["is_revenue"], order["lines"]) == ("shipped", 210900.0, True, 1)
    assert order["placed_on"] == today().isoformat() and order["customer_erased"] is False
    _, lines = rows(bucket, "order_lines", today())
    (line,) = [x for x in lines if x["order_key"] == order["order_key"]]
    assert (line["sku"], line["category"], line["qty"], line["total"]) == ("ORD-OIL", "oil_and_filter", 2.0, 210900.0)
    _, shipments = rows(bucket, "shipments", today())
    (shipment,) = [x for x in shipments if x["order_key"] == order["order_key"]]
    assert (shipment["carrier"], shipment["status"], shipment["lines"]) == ("jne", "label_created", 1)
    _, products = rows(bucket, "products", today())
    assert {p["sku"]: p for p in products}["ORD-OIL"]["list_price"] == 95000.0
    _, rfm = rows(bucket, "rfm", today())
    assert {r["customer_key"]: r for r in rfm}[customer]["monetary"] == 210900.0


def test_campaigns_and_their_recipients_are_exported_with_the_customer_as_a_pseudonym(
        stack: dict[str, str], seeded: dict[str, Any], exported: dict[str, Any]) -> None:
    bucket, campaign = stack["EXPORT_BUCKET"], seeded["campaign"]
    _, campaigns = rows(bucket, "campaigns", today())
    (row,) = [c for c in campaigns if c["campaign_id"] == campaign["id"]]
    assert (row["status"], row["recipients"], row["variants"], row["started_on"]) == (
        "completed", 1, ["A"], today().isoformat())
    _, recipients = rows(bucket, "campaign_recipients", today())
    (mine,) = [r for r in recipients if r["campaign_id"] == campaign["id"]]
    assert mine["customer_key"] == key_of(stack, seeded["people"][2]["id"])
    # sent (accepted, then delivered or not as its simulated receipt says), or in the global control group
    assert (mine["arm"], mine["status"]) in (("send", "accepted"), ("send", "delivered"), ("send", "undelivered"),
                                             ("control", "control"))
    assert mine["opted_out"] is False and (mine["sent_on"] == today().isoformat()) == (mine["arm"] == "send")


def test_no_exported_byte_carries_personal_data(stack: dict[str, str], seeded: dict[str, Any],
                                                exported: dict[str, Any]) -> None:
    everything = objects(stack["EXPORT_BUCKET"])
    assert everything
    secrets = [seeded["stamp"], seeded["description"], *seeded["summaries"]]
    for person in seeded["people"]:
        secrets += [person["name"], person["phone"], person["phone"].lstrip("+"), person["email"], person["id"],
                    person["address"]]
    secrets += [seeded["complaint"]["id"], seeded["order"]["id"], seeded["shipment"]["id"],
                seeded["shipment"]["tracking_number"], seeded["order"]["ref"]]
    for key, body in everything.items():
        content = gzip.decompress(body) if key.endswith(".gz") else body
        for secret in secrets:
            assert secret.encode() not in content, f"{key} holds personal data"


def test_re_running_a_date_replaces_its_export_and_never_duplicates(
        stack: dict[str, str], as_user: Any, exported: dict[str, Any]) -> None:
    bucket = stack["EXPORT_BUCKET"]
    before = {d: rows(bucket, d, today()) for d in DATASETS}
    again = export(as_user("admin"), today())
    assert again["run_id"] != exported["run_id"]
    for dataset in DATASETS:
        manifest, lines = rows(bucket, dataset, today())
        old_manifest, old_lines = before[dataset]
        assert manifest["run_id"] == again["run_id"]
        assert symlinked(bucket, dataset, today()) == [p["key"] for p in manifest["parts"]]
        keys = set(objects(bucket, f"exports/{dataset}/dt={today().isoformat()}/"))
        assert keys == {p["key"] for p in manifest["parts"]} | {
            f"exports/{dataset}/dt={today().isoformat()}/{MANIFEST_NAME}"}, "old parts must be gone"
        assert not keys & {p["key"] for p in old_manifest["parts"]} or not old_manifest["parts"]
        assert len(lines) >= len(old_lines)  # other tests may have added data meanwhile, never rows twice
        if dataset == "customers":
            assert len({r["customer_key"] for r in lines}) == len(lines)


def test_a_snapshot_leaves_out_what_came_after_its_day(
        stack: dict[str, str], seeded: dict[str, Any], as_user: Any, exported: dict[str, Any]) -> None:
    yesterday = today() - timedelta(days=1)
    export(as_user("analyst"), yesterday)
    manifest, earlier = rows(stack["EXPORT_BUCKET"], "customers", yesterday)
    end = datetime.combine(today(), datetime.min.time(), tzinfo=ZoneInfo("Asia/Jakarta")).astimezone(ZoneInfo("UTC"))
    assert manifest["snapshot_ends_at"] == end.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert all(r["created_at"] < manifest["snapshot_ends_at"] for r in earlier)
    created_today = key_of(stack, seeded["people"][0]["id"])  # with interactions from before: left out with them
    assert created_today not in {r["customer_key"] for r in earlier}
    _, rfm = rows(stack["EXPORT_BUCKET"], "rfm", yesterday)
    assert created_today not in {r["customer_key"] for r in rfm}


def _backdate(stack: dict[str, str], pk: str, sk: str, **stamps: str) -> None:
    """Given an item written earlier than the test ran (the API stamps now): its times set directly in the table."""
    names = {f"#a{i}": name for i, name in enumerate(stamps)}
    boto3.client("dynamodb").update_item(
        TableName=stack["TABLE_NAME"], Key={"pk": {"S": pk}, "sk": {"S": sk}},
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(stamps))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": {"S": v} for i, v in enumerate(stamps.values())})


def test_a_snapshot_shows_a_complaint_as_it_stood_at_the_end_of_its_day(
        stack: dict[str, str], as_user: Any, exported: dict[str, Any]) -> None:
    """Yesterday's export, run today after the complaint moved on, shows it as it was yesterday; churn risk too."""
    admin, manager = as_user("admin"), as_user(f"manager.{BRANCH}")
    customer = admin.new_customer(branch_id=BRANCH)
    opened = manager.post(f"/customers/{customer['id']}/complaints", {
        "category": "billing", "severity": "low", "subject": "x", "description": "y"})
    assert opened.status_code == 201, opened.body
    complaint = opened.json
    yesterday = today() - timedelta(days=1)
    noon = datetime.combine(yesterday, datetime.min.time().replace(hour=12), tzinfo=ZoneInfo("Asia/Jakarta"))
    stamp = lambda moment: moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    _backdate(stack, f"C#{customer['id']}", "PROFILE", created_at=stamp(noon - timedelta(days=1)),
              updated_at=stamp(noon - timedelta(days=1)))
    _backdate(stack, f"X#{complaint['id']}", "COMPLAINT", created_at=stamp(noon), updated_at=stamp(noon),
              ack_due_at=stamp(noon + timedelta(days=5)), resolve_due_at=stamp(noon + timedelta(days=10)))
    moved = manager.patch(f"/complaints/{complaint['id']}", {"status": "acknowledged"},
                          headers={"If-Match": f'"v{complaint["version"]}"'})  # today: after yesterday's end
    assert moved.status_code == 200, moved.body

    export(as_user("analyst"), yesterday)
    key = key_of(stack, customer["id"])
    _, then = rows(stack["EXPORT_BUCKET"], "complaints", yesterday)
    (row,) = [c for c in then if c["customer_key"] == key]
    assert (row["status"], row["acknowledged_at"], row["breached"]) == ("open", None, False)
    assert all(h["at"] < stamp(noon + timedelta(hours=12)) for h in row["history"])
    _, churn = rows(stack["EXPORT_BUCKET"], "churn_risk", yesterday)
    assert "open_complaints_1" in {c["customer_key"]: c for c in churn}[key]["reasons"]

    export(as_user("analyst"), today())
    _, now = rows(stack["EXPORT_BUCKET"], "complaints", today())
    (row,) = [c for c in now if c["customer_key"] == key]
    assert row["status"] == "acknowledged" and row["acknowledged_at"] == moved.json["acknowledged_at"]


def test_export_runs_are_listed_with_rows_bytes_and_status(as_user: Any, exported: dict[str, Any]) -> None:
    listing = as_user("analyst").get("/analytics/exports?limit=5")
    assert listing.status_code == 200, listing.body
    run = next(r for r in listing.json["items"] if r["date"] == today().isoformat())
    assert run["status"] == "succeeded" and run["rows"] > 0 and run["bytes"] > 0
    assert run["rows"] == sum(d["rows"] for d in run["datasets"].values())
    dates = [r["date"] for r in listing.json["items"]]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("body", [{}, {"date": "2026-02-30"}, {"date": 20261120}, {"date": "2023-12-31"},
                                  {"date": "2026-11-20", "extra": 1}])
def test_a_bad_export_request_is_a_400_and_starts_nothing(as_user: Any, body: dict[str, Any]) -> None:
    before = as_user("admin").get("/analytics/exports?limit=100").json["items"]
    answer = as_user("admin").post("/analytics/exports", body)
    assert answer.status_code == 400, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert as_user("admin").get("/analytics/exports?limit=100").json["items"] == before


@pytest.mark.parametrize("day", ["20240305", "2024-W10-2", "2024-13-01", "abc"])
def test_an_export_run_is_found_by_its_yyyy_mm_dd_date_only(as_user: Any, day: str) -> None:
    from chalicelib.persistence import analytics_results

    analytics_results.request_run("2024-03-05", "held", trigger="api", requested_by=None,
                                  now_epoch=int(time.time()), lease_seconds=-60)
    assert as_user("analyst").get("/analytics/exports/2024-03-05").status_code == 200
    answer = as_user("analyst").get(f"/analytics/exports/{day}")
    assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/problem+json"


def test_an_export_of_tomorrow_is_refused(as_user: Any) -> None:
    answer = as_user("admin").post("/analytics/exports", {"date": (today() + timedelta(days=2)).isoformat()})
    assert answer.status_code == 400


@pytest.mark.parametrize("user", ["agent.jakarta", "marketing", "manager.jakarta"])
def test_only_admins_and_analysts_run_exports(as_user: Any, user: str) -> None:
    assert as_user(user).post("/analytics/exports", {"date": "2026-11-01"}).status_code == 403
    assert as_user(user).get("/analytics/exports").status_code == 403


def test_a_second_request_while_one_is_queued_is_a_409(stack: dict[str, str], as_user: Any) -> None:
    from chalicelib.persistence import analytics_results

    day = "2024-03-01"
    analytics_results.request_run(day, "held-by-test", trigger="api", requested_by=None,
                                  now_epoch=int(time.time()), lease_seconds=600)
    answer = as_user("analyst").post("/analytics/exports", {"date": day})
    assert answer.status_code == 409, answer.body
    analytics_results.finish_run(day, "held-by-test", status="failed", now_epoch=int(time.time()), error="Test")


@pytest.mark.parametrize("day", ["2099-01-01", "2023-12-31", "2026-02-30", "someday"])
def test_the_job_refuses_a_day_out_of_range_and_keeps_the_latest_results(
        exported: dict[str, Any], day: str) -> None:
    """An invocation with any date (the API allows 2024-01-01 up to today only) changes nothing."""
    from chalicelib.persistence import analytics_results
    from chalicelib.workflows import analytics as analytics_export

    latest = (analytics_results.get_churn(BRANCH), analytics_results.get_anomalies(),
              analytics_results.get_insights())
    answer = analytics_export.on_event({"time": "2026-03-10T19:00:00Z", "detail": {"date": day, "run_id": "x"}})
    assert answer["status"] == "refused"
    assert analytics_results.get_run(day) is None
    assert (analytics_results.get_churn(BRANCH), analytics_results.get_anomalies(),
            analytics_results.get_insights()) == latest


def test_a_scheduled_run_of_a_requested_day_records_itself_not_the_request(
        stack: dict[str, str], exported: dict[str, Any]) -> None:
    from chalicelib.persistence import analytics_results
    from chalicelib.services.analytics import run_out
    from chalicelib.workflows import analytics as analytics_export

    assert exported["trigger"] == "api" and exported["requested_at"] is not None
    done = analytics_export.run(today(), trigger="schedule")
    run = run_out(analytics_results.get_run(today().isoformat()) or {})
    assert run["run_id"] == done["run_id"] != exported["run_id"]
    assert run["trigger"] == "schedule" and run["requested_at"] is None and run["status"] == "succeeded"
    assert run["rows"] == sum(d["rows"] for d in done["datasets"].values())


def test_a_run_that_died_without_a_word_shows_as_failed_once_its_lease_is_over(as_user: Any) -> None:
    from chalicelib.persistence import analytics_results

    now = int(time.time())
    analytics_results.request_run("2024-03-02", "died", trigger="api", requested_by=None, now_epoch=now - 3600,
                                  lease_seconds=960)  # queued an hour ago, never finished
    analytics_results.request_run("2024-03-03", "busy", trigger="api", requested_by=None, now_epoch=now,
                                  lease_seconds=960)
    died = as_user("analyst").get("/analytics/exports/2024-03-02")
    assert died.status_code == 200 and died.json["status"] == "failed" and died.json["error"] == "Abandoned"
    busy = as_user("analyst").get("/analytics/exports/2024-03-03")
    assert busy.json["status"] == "queued" and busy.json["error"] is None
    analytics_results.finish_run("2024-03-03", "busy", status="failed", now_epoch=now, error="Test")


def test_churn_risk_names_the_branchs_customers_for_its_manager(
        seeded: dict[str, Any], as_user: Any, exported: dict[str, Any]) -> None:
    answer = as_user(f"manager.{BRANCH}").get("/analytics/churn-risk?limit=100")
    assert answer.status_code == 200, answer.body
    assert answer.json["branch"] == BRANCH and answer.json["as_of"] == today().isoformat()
    second = seeded["people"][1]
    entry = next(i for i in answer.json["items"] if i["customer_id"] == second["id"])
    assert entry["name"] == second["name"] and "sms_opted_out" in entry["reasons"]
    scores = [i["score"] for i in answer.json["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(i["branch_id"] == BRANCH for i in answer.json["items"])


def test_insights_count_the_latest_exports_segments_bands_and_root_causes(
        stack: dict[str, str], as_user: Any, exported: dict[str, Any]) -> None:
    answer = as_user(f"manager.{BRANCH}").get("/analytics/insights")
    assert answer.status_code == 200, answer.body
    body = answer.json
    assert body["branch"] == BRANCH and body["as_of"] == today().isoformat()
    _, rfm = rows(stack["EXPORT_BUCKET"], "rfm", today())
    mine = [r for r in rfm if r["branch_id"] == BRANCH]
    assert body["customers"] == len(mine) == sum(body["rfm_segments"].values())
    for segment, n in body["rfm_segments"].items():
        assert n == sum(1 for r in mine if r["segment"] == segment)
    _, churn = rows(stack["EXPORT_BUCKET"], "churn_risk", today())
    assert body["churn_bands"]["high"] == sum(1 for r in churn if r["branch_id"] == BRANCH and r["band"] == "high")
    weeks = body["complaint_root_causes"]["recent_weeks"]
    assert any(w["category"] == "shipment" and w["department"] == "shipment" and w["complaints"] >= 1 for w in weeks)
    assert all(w["branch_id"] == BRANCH for w in weeks)
    every = as_user("analyst").get("/analytics/insights").json
    assert every["branch"] is None and every["customers"] >= body["customers"]
    assert as_user("manager.jakarta").get(f"/analytics/insights?branch={BRANCH}").status_code == 403
    assert as_user("agent.jakarta").get("/analytics/insights").status_code == 403
    assert as_user("analyst").get("/analytics/insights?branch=atlantis").status_code == 400


def test_churn_risk_of_another_branch_is_refused_to_a_manager(as_user: Any) -> None:
    answer = as_user("manager.jakarta").get(f"/analytics/churn-risk?branch={BRANCH}")
    assert answer.status_code == 403
    assert answer.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("user", ["agent.jakarta", "analyst", "marketing"])
def test_churn_risk_is_for_managers_and_admins_only(as_user: Any, user: str) -> None:
    assert as_user(user).get("/analytics/churn-risk").status_code == 403


def test_churn_risk_limit_is_checked(as_user: Any) -> None:
    assert as_user("admin").get("/analytics/churn-risk?limit=0").status_code == 400
    assert as_user("admin").get("/analytics/churn-risk?branch=atlantis").status_code == 400


def test_an_interaction_spike_after_a_steady_month_is_listed_as_an_anomaly(
        stack: dict[str, str], as_user: Any, exported: dict[str, Any]) -> None:
    manager = as_user("manager.bandung")
    customer = manager.new_customer(branch_id="bandung")
    now = datetime.now(ZoneInfo("UTC")).replace(hour=5, minute=0, second=0, microsecond=0)
    spike_day = now - timedelta(days=20)

    def interaction(at: datetime) -> None:
        answer = manager.post(f"/customers/{customer['id']}/interactions", {
            "channel": "social", "direction": "inbound", "kind": "feedback", "summary": "x",
            "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")})
        assert answer.status_code == 201, answer.body

    for back in range(21, 51):  # one a day for a month, then ten on one day
        interaction(now - timedelta(days=back))
    for _ in range(10):
        interaction(spike_day)
    moved = as_user("admin").patch(f"/customers/{customer['id']}", {"branch_id": "surabaya"},
                                   headers={"If-Match": customer_etag(as_user("admin"), customer["id"])})
    assert moved.status_code == 200, moved.body  # the spike stays with the branch it happened in
    export(as_user("admin"), today())
    answer = as_user("analyst").get("/analytics/anomalies?branch=bandung&metric=interactions")
    assert answer.status_code == 200, answer.body
    local_day = spike_day.astimezone(ZoneInfo("Asia/Jakarta")).date().isoformat()
    flagged = [a for a in answer.json["items"] if a["dimension"] == "social" and a["day"] == local_day]
    assert flagged and flagged[0]["direction"] == "high" and flagged[0]["count"] == 10
    assert as_user("manager.bandung").get("/analytics/anomalies").json["branch"] == "bandung"
    assert as_user("manager.jakarta").get("/analytics/anomalies?branch=bandung").status_code == 403
    assert as_user("agent.bandung").get("/analytics/anomalies").status_code == 403
    assert as_user("analyst").get("/analytics/anomalies?from=2026-11-20&to=2026-11-01").status_code == 400


def customer_etag(caller: Any, customer_id: str) -> str:
    answer = caller.get(f"/customers/{customer_id}")
    assert answer.status_code == 200, answer.body
    return str(answer.headers["ETag"])


def test_the_exported_files_read_back_typed_with_the_declared_schema(
        stack: dict[str, str], exported: dict[str, Any], tmp_path: Any) -> None:
    """A SQL engine reads every dataset with the Glue column types (what Athena will do), row for row."""
    import duckdb

    from chalicelib.persistence.parquet import duckdb_type

    bucket = stack["EXPORT_BUCKET"]
    connection = duckdb.connect()
    for dataset, columns in DATASETS.items():
        manifest, _ = rows(bucket, dataset, today())
        if not manifest["parts"]:
            continue
        files = []
        for part in manifest["parts"]:
            path = tmp_path / part["key"].replace("/", "_")
            path.write_bytes(s3().get_object(Bucket=bucket, Key=part["key"])["Body"].read())
            files.append(str(path))
        types = ", ".join(f"'{c.name}': '{duckdb_type(c.glue_type)}'" for c in columns)
        relation = connection.sql(f"SELECT * FROM read_json(?, format = 'newline_delimited', compression = 'gzip', "
                                  f"columns = {{{types}}})", params=[files])
        assert relation.columns == [c.name for c in columns]
        assert len(relation.fetchall()) == manifest["rows"], dataset


def partitions(bucket: str, day: date) -> dict[str, bytes]:
    """Every object of the day's partitions and symlink files, by key."""
    return {k: v for k, v in objects(bucket).items() if f"/dt={day.isoformat()}/" in k}


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of 3 rows, so a run uploads parts long before it switches readers to them."""
    from chalicelib.persistence import export_files

    monkeypatch.setattr(export_files, "EXPORT_PART_MAX_ROWS", 3)


def test_a_run_that_fails_midway_leaves_the_previous_export_whole(
        stack: dict[str, str], exported: dict[str, Any], small_parts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.domain import analytics
    from chalicelib.persistence import export_files
    from chalicelib.workflows import analytics as analytics_export

    bucket = stack["EXPORT_BUCKET"]
    before = partitions(bucket, today())
    uploaded: list[str] = []
    put = export_files.client("s3").put_object

    def counting_put(**kwargs: Any) -> Any:
        uploaded.append(kwargs["Key"])
        return put(**kwargs)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("analysis failed")

    monkeypatch.setattr(export_files.client("s3"), "put_object", counting_put)
    monkeypatch.setattr(analytics, "anomalies", broken)  # after the source datasets' rows are read and written
    with pytest.raises(RuntimeError):
        analytics_export.run(today(), trigger="api")
    # it had uploaded parts of its own (how many depends on what else is in the table, not on how many datasets
    # there are): the customers' at least, written before the analyses failed
    assert any(k.startswith("exports/customers/") and "/part-" in k for k in uploaded)
    assert partitions(bucket, today()) == before  # they are gone; the old parts, manifests and symlinks stay
    listing = {r["date"]: r for r in analytics_export_runs(stack)}
    assert listing[today().isoformat()]["status"] == "failed"
    assert listing[today().isoformat()]["error"] == "RuntimeError"


def test_a_run_that_fails_while_switching_leaves_each_dataset_whole(
        stack: dict[str, str], exported: dict[str, Any], small_parts: None, monkeypatch: pytest.MonkeyPatch,
        as_user: Any) -> None:
    """Datasets switched before the failure show the new run, the others the previous one; none shows both."""
    from chalicelib.persistence import export_files
    from chalicelib.workflows import analytics as analytics_export

    bucket = stack["EXPORT_BUCKET"]
    previous = {d: rows(bucket, d, today())[0]["run_id"] for d in DATASETS}
    write_manifest = export_files.write_manifest

    def failing_on_complaints(bucket: str, dataset: str, day: str, manifest: dict[str, Any]) -> str:
        if dataset == "complaints":
            raise RuntimeError("S3 said no")
        return write_manifest(bucket, dataset, day, manifest)

    monkeypatch.setattr(export_files, "write_manifest", failing_on_complaints)
    with pytest.raises(RuntimeError):
        analytics_export.run(today(), trigger="api")
    monkeypatch.undo()
    order = list(DATASETS)
    for dataset in DATASETS:
        manifest, lines = rows(bucket, dataset, today())
        listed = [p["key"] for p in manifest["parts"]]
        parts = {k for k in objects(bucket, f"exports/{dataset}/dt={today().isoformat()}/") if "/part-" in k}
        if order.index(dataset) < order.index("complaints"):
            assert manifest["run_id"] != previous[dataset]  # switched to the failed run's whole export
        else:
            assert manifest["run_id"] == previous[dataset]
        if dataset == "complaints":  # Athena switched, the manifest did not: both point at whole exports
            assert parts >= set(listed) | set(symlinked(bucket, dataset, today()))
        else:
            assert symlinked(bucket, dataset, today()) == listed
            assert parts == set(listed), dataset  # no part of another run is left beside them
    again = export(as_user("analyst"), today())  # the next run of the day tidies up
    for dataset in DATASETS:
        manifest, _ = rows(bucket, dataset, today())
        assert manifest["run_id"] == again["run_id"]
        parts = {k for k in objects(bucket, f"exports/{dataset}/dt={today().isoformat()}/") if "/part-" in k}
        assert parts == {p["key"] for p in manifest["parts"]} == set(symlinked(bucket, dataset, today()))


def analytics_export_runs(stack: dict[str, str]) -> list[dict[str, Any]]:
    from chalicelib.persistence import analytics_results

    return analytics_results.list_runs(50, None)[0]


def test_export_ls_copies_what_the_manifests_name_and_nothing_else(
        stack: dict[str, str], exported: dict[str, Any], tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`make export-ls DIR=...`: a glob over the copy of a day reads every row once, whatever else the bucket holds."""
    from infra import export_ls

    bucket, day = stack["EXPORT_BUCKET"], today().isoformat()
    port = os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]
    dead = f"exports/customers/dt={day}/part-99999.jsonl.gz"  # a part of a run that died before its switch
    s3().put_object(Bucket=bucket, Key=dead, Body=gzip.compress(b'{"customer_key": "dead"}\n'))
    earlier = tmp_path / f"exports/customers/dt={day}/part-99998.jsonl.gz"  # a part an earlier copy holds
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"stale")
    try:
        assert export_ls.main(["--aws-port", port, "--download", str(tmp_path)]) == 0
    finally:
        s3().delete_object(Bucket=bucket, Key=dead)
    out = capsys.readouterr().out
    assert dead in out  # listed, as the bucket holds it
    for dataset in DATASETS:
        manifest, lines = rows(bucket, dataset, today())
        copied = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "exports" / dataset).glob(
            f"dt={day}/part-*.jsonl.gz"))
        assert copied == sorted(p["key"] for p in manifest["parts"])
        read = [json.loads(line) for p in copied for line in gzip.decompress((tmp_path / p).read_bytes()).splitlines()]
        assert read == lines
    assert not earlier.exists()

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert export_ls.main(["--aws-port", port, "--download", str(blocker)]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot copy to {blocker}")


def _wait_for_runs(days: list[str], *, seconds: float = 90) -> dict[str, dict[str, Any]]:
    from chalicelib.persistence import analytics_results

    deadline = time.monotonic() + seconds
    while True:
        runs = {day: analytics_results.get_run(day) or {} for day in days}
        if all(r.get("status") in ("succeeded", "failed") for r in runs.values()):
            return runs
        assert time.monotonic() < deadline, f"the caught-up exports did not finish in time: {runs}"
        time.sleep(0.2)


def test_the_nightly_run_catches_up_the_days_of_the_week_before_that_have_no_good_export(
        stack: dict[str, str], as_user: Any) -> None:
    """2024-05-11 02:00 WIB exports 2024-05-10 and looks back at 05-03 .. 05-09 (nothing in the table is that old)."""
    from chalicelib.domain.clock import new_id
    from chalicelib.persistence import analytics_results as results
    from chalicelib.workflows import analytics as analytics_export

    now = int(time.time())
    for day in ("2024-05-04", "2024-05-08"):
        results.request_run(day, ok := new_id(), trigger="api", requested_by=None, now_epoch=now, lease_seconds=600)
        results.finish_run(day, ok, status="succeeded", now_epoch=now, datasets={})
    broke, busy, died = new_id(), new_id(), new_id()
    results.request_run("2024-05-05", broke, trigger="api", requested_by=None, now_epoch=now, lease_seconds=600)
    results.finish_run("2024-05-05", broke, status="failed", now_epoch=now, error="Test")
    results.request_run("2024-05-06", busy, trigger="api", requested_by=None, now_epoch=now, lease_seconds=600)
    results.request_run("2024-05-07", died, trigger="api", requested_by=None, now_epoch=now - 3600,
                        lease_seconds=960)
    nightly = {"version": "0", "id": "nightly", "detail-type": "Scheduled Event", "source": "aws.events",
               "time": "2024-05-10T19:00:00Z", "detail": {}}
    try:
        answer = analytics_export.on_event(nightly)
        assert answer["date"] == "2024-05-10" and answer["status"] == "succeeded", answer
        missed = ["2024-05-03", "2024-05-05", "2024-05-07", "2024-05-09"]
        assert answer["caught_up"] == missed
        runs = _wait_for_runs(missed)
        assert {r["status"] for r in runs.values()} == {"succeeded"}
        assert {r["trigger"] for r in runs.values()} == {"catch_up"}
        # every run of a day stays readable, newest first
        detail = as_user("analyst").get("/analytics/exports/2024-05-05")
        assert detail.status_code == 200, detail.body
        assert [(r["run_id"], r["status"], r["trigger"]) for r in detail.json["runs"]] == [
            (runs["2024-05-05"]["run_id"], "succeeded", "catch_up"), (broke, "failed", "api")]
        assert detail.json["run_id"] == runs["2024-05-05"]["run_id"] and detail.json["trigger"] == "catch_up"
        died = as_user("analyst").get("/analytics/exports/2024-05-07").json["runs"]
        assert [(r["status"], r["error"]) for r in died] == [("succeeded", None), ("failed", "Abandoned")]
        # the schedule delivered twice (or the next night) queues nothing more; a day being exported is left alone
        again = analytics_export.on_event(nightly)
        assert again["caught_up"] == [] and again["status"] == "succeeded"
        assert (results.get_run("2024-05-06") or {})["run_id"] == busy
        assert len(as_user("analyst").get("/analytics/exports/2024-05-10").json["runs"]) == 2
    finally:
        results.finish_run("2024-05-06", busy, status="failed", now_epoch=now, error="Test")


def test_a_run_that_lost_its_day_to_another_still_records_how_it_ended(stack: dict[str, str]) -> None:
    from chalicelib.domain.clock import new_id
    from chalicelib.persistence import analytics_results as results

    day, now = "2024-05-20", int(time.time())
    slow, fast = new_id(), new_id()
    assert results.begin_run(day, slow, trigger="schedule", now_epoch=now - 3600, lease_seconds=960)
    assert results.begin_run(day, fast, trigger="api", now_epoch=now, lease_seconds=960)  # the lease ran out
    results.finish_run(day, fast, status="succeeded", now_epoch=now, datasets={})
    results.finish_run(day, slow, status="failed", now_epoch=now + 1, error="Timeout")
    assert (results.get_run(day) or {})["run_id"] == fast and (results.get_run(day) or {})["status"] == "succeeded"
    assert [(r["run_id"], r["status"]) for r in results.runs_of(day, 20)] == [(fast, "succeeded"), (slow, "failed")]
