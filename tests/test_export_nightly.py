"""The nightly run that reads no history: customers, complaints and orders through their indexes, each customer's
engagement item by BatchGetItem, no Scan; the same analyses as a full run of the day, and the compacted snapshot
datasets left as the last full run wrote them.

The run is the export function itself, invoked as the nightly catch-up invokes it (under its role's policy on the
local stack); every AWS call made meanwhile, by any thread, is counted at botocore's one entry point.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain import exports as ex
from tests.test_analytics_export import export, rows, today
from tests.test_quality_control import _qc
from tests.test_vehicles import _register

ANALYSES = ("customers", "rfm", "churn_risk", "complaint_root_causes", "anomalies", "defect_clusters", "orders",
            "order_lines", "profitability", "basket_rules", "transaction_flags", "revenue_forecast")


def test_the_rule_a_full_run_follows() -> None:
    sunday, monday = date(2026, 11, 29), date(2026, 11, 30)
    assert sunday.weekday() == ex.SNAPSHOT_WEEKDAY
    assert ex.full_run(sunday, trigger="schedule", engagement_covers=True)  # the week's compaction
    assert not ex.full_run(monday, trigger="schedule", engagement_covers=True)
    assert not ex.full_run(monday, trigger="catch_up", engagement_covers=True)
    assert ex.full_run(monday, trigger="api", engagement_covers=True)  # asked for: everything
    assert ex.full_run(monday, trigger="catch_up", engagement_covers=False)  # its contacts are read one by one


def test_a_nightly_run_of_a_day_the_engagement_items_do_not_cover_is_refused(stack: dict[str, str]) -> None:
    from chalicelib.workflows import analytics

    with pytest.raises(ValueError, match="cover the day"):
        analytics.export_day(today() - timedelta(days=40), "not-covered", full=False)


def _weekday_before_today() -> date:
    """A recent day that is no compaction day: yesterday, or the day before when yesterday was a Sunday."""
    day = today() - timedelta(days=1)
    return day - timedelta(days=1) if day.weekday() == ex.SNAPSHOT_WEEKDAY else day


class _Calls:
    """Every AWS call made in this process meanwhile (the export function runs in a thread of the local stack)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from botocore.client import BaseClient

        self.made: list[tuple[str, dict[str, Any]]] = []
        real = BaseClient._make_api_call

        def counted(client: Any, operation: str, params: Any) -> Any:
            self.made.append((operation, dict(params)))
            return real(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counted)


def _nightly(admin: Any, day: date, calls_from: Any) -> dict[str, Any]:
    """The export function invoked for `day` as the nightly catch-up invokes it; its run record once finished."""
    from chalicelib.workflows import analytics
    from tests.conftest import stream_caught_up

    stream_caught_up()
    calls_from()
    record = analytics.request(day, None, trigger="catch_up")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = admin.get(f"/analytics/exports/{day.isoformat()}")
        if run.json["run_id"] == record["run_id"] and run.json["status"] in ("succeeded", "failed"):
            assert run.json["status"] == "succeeded", run.json
            return dict(run.json)
        time.sleep(0.2)
    raise AssertionError("the nightly run did not finish")


def _rows(bucket: str, dataset: str, day: date) -> tuple[str, list[str]]:
    manifest, found = rows(bucket, dataset, day)
    return manifest["run_id"], sorted(json.dumps(r, sort_keys=True) for r in found)


def test_a_nightly_run_reads_no_history_and_computes_what_a_full_run_does(
        stack: dict[str, str], as_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.domain.clock import at

    admin, agent = as_user("admin"), as_user("agent.bandung")
    day = _weekday_before_today()
    noon = datetime(day.year, day.month, day.day, 5, tzinfo=UTC)  # 12:00 in Jakarta
    model, batch = f"NT{uuid.uuid4().hex[:6]}", f"N-{uuid.uuid4().hex[:6]}"
    with at(noon):  # the day's business: customers, contacts, complaints naming a part (their receipts: messages)
        for _ in range(3):
            owner = agent.new_customer(branch_id="bandung")
            vehicle = _register(agent, owner["id"], model=model).json
            assert _qc(agent, owner["id"], vin=vehicle["vin"], part_no="ALT-90A", batch_no=batch).status_code == 201
            assert agent.post(f"/customers/{owner['id']}/interactions", {
                "channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": "Tanya harga",
                "occurred_at": noon.isoformat().replace("+00:00", "Z")}).status_code == 201
    bucket = stack["EXPORT_BUCKET"]
    export(admin, day)  # a full run of the day, as the API asks for one
    full = {name: _rows(bucket, name, day) for name in (*ANALYSES, *sorted(ex.COMPACTED_DATASETS))}
    assert any(model in r for r in full["defect_clusters"][1])  # the day's QC cluster, through the vehicles' models

    calls = _Calls(monkeypatch)
    run = _nightly(admin, day, calls.made.clear)
    crm = stack["TABLE_NAME"]
    made = Counter(op for op, params in calls.made if params.get("TableName") == crm or crm in params.get(
        "RequestItems", {}))
    assert made["Scan"] == 0, made  # nothing of history: no contact, message, shipment or recipient is read
    indexes = {params.get("IndexName") for op, params in calls.made if op == "Query" and params.get("TableName") == crm}
    assert {"customers_all", "complaints_all", "orders_all"} <= indexes
    assert set(run["datasets"]) & ex.COMPACTED_DATASETS == set() and set(ANALYSES) <= set(run["datasets"])
    for name in ANALYSES:  # the same analyses, row for row
        run_id, found = _rows(bucket, name, day)
        assert run_id == run["run_id"] and found == full[name][1], name
    for name in ex.COMPACTED_DATASETS:  # left as the full run wrote them
        assert _rows(bucket, name, day) == full[name], name
