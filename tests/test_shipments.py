"""Shipments through the API: shipping an order's lines, staff events, the carriers' signed webhook (signature,
stale timestamp, replay, events out of order), what the customer hears, and the late-deliveries job."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from chalicelib.domain.shipments import signature_of
from tests.test_counters_reconcile import fire
from tests.test_orders import _order


def _confirmed(agent: Any, customer_id: str, **fields: Any) -> dict[str, Any]:
    order = _order(agent, customer_id, **fields).json
    moved = agent.patch(f"/orders/{order['id']}", {"status": "confirmed"}, headers={"If-Match": '"v1"'})
    assert moved.status_code == 200, moved.body
    return dict(moved.json)


def _ship(agent: Any, order_id: str, lines: list[dict[str, Any]], tracking: str, carrier: str = "jne",
          **fields: Any) -> Any:
    return agent.post(f"/orders/{order_id}/shipments",
                      {"carrier": carrier, "tracking_number": tracking, "lines": lines, **fields})


_tracking = iter(range(10**9, 2 * 10**9, 7919))


def tracking() -> str:
    return f"TRK{next(_tracking)}"


def test_an_order_ships_in_parts_and_is_delivered_when_every_part_is(as_user: Any, catalog: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    order = _confirmed(agent, customer["id"])  # line 1: 4 x oil, line 2: 1 x filter
    first = _ship(agent, order["id"], [{"line_no": 1, "qty": 3}], tracking(), expected_delivery_date="2026-12-20")
    assert first.status_code == 201, first.body
    assert first.headers["Location"] == f"/shipments/{first.json['id']}"
    assert first.json["order_status"] == "partially_shipped" and first.json["status"] == "label_created"
    assert first.json["tracking_url"].startswith("https://jne.co.id/") and first.json["carrier"] == "jne"
    looked_up = agent.get(f"/orders/lookup?order_no={order['order_no']}").json["items"][0]
    assert looked_up["tracking_url"] == first.json["tracking_url"]  # what the call centre reads out or sends
    too_much = _ship(agent, order["id"], [{"line_no": 1, "qty": 2}], tracking())
    assert too_much.status_code == 422 and too_much.json["errors"][0]["field"] == "lines.0.qty"
    assert _ship(agent, order["id"], [{"line_no": 9, "qty": 1}], tracking()).status_code == 422
    taken = _ship(agent, order["id"], [{"line_no": 1, "qty": 1}], first.json["tracking_number"].lower())
    assert taken.status_code == 409, taken.body
    assert taken.json["existing_shipment_id"] == first.json["id"]
    second = _ship(agent, order["id"], [{"line_no": 1, "qty": 1}, {"line_no": 2, "qty": 1}], tracking(),
                   carrier="own_fleet")
    assert second.status_code == 201 and second.json["order_status"] == "shipped"
    assert second.json["tracking_url"] is None
    read = agent.get(f"/orders/{order['id']}").json
    assert [s["id"] for s in read["shipments"]] == [first.json["id"], second.json["id"]]
    assert [(h["from"], h["to"]) for h in read["history"] if h["change"] == "status"][-2:] == [
        ("confirmed", "partially_shipped"), ("partially_shipped", "shipped")]
    for shipment in (first.json, second.json):
        for status in ("picked_up", "in_transit", "out_for_delivery", "delivered"):
            moved = agent.post(f"/shipments/{shipment['id']}/events", {"status": status})
            assert moved.status_code == 201, moved.body
    done = agent.get(f"/orders/{order['id']}").json
    assert done["status"] == "delivered" and all(s["status"] == "delivered" for s in done["shipments"])
    assert len(done["shipments"][0]["events"]) == 4


def test_staff_events_follow_the_lifecycle_and_a_draft_does_not_ship(as_user: Any, catalog: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    draft = _order(agent, customer["id"]).json
    refused = _ship(agent, draft["id"], [{"line_no": 1, "qty": 1}], tracking())
    assert refused.status_code == 409 and refused.json["current_status"] == "draft"
    order = _confirmed(agent, customer["id"])
    shipment = _ship(agent, order["id"], [{"line_no": 1, "qty": 4}, {"line_no": 2, "qty": 1}], tracking()).json
    path = f"/shipments/{shipment['id']}/events"
    assert agent.post(path, {"status": "delivered"}).status_code == 201  # a carrier may skip steps
    after = agent.post(path, {"status": "in_transit"})
    assert after.status_code == 409 and after.json["allowed_next_states"] == []
    other = _ship(agent, _confirmed(agent, customer["id"])["id"], [{"line_no": 1, "qty": 1}], tracking()).json
    no_date = agent.post(f"/shipments/{other['id']}/events", {"status": "delayed"})
    assert no_date.status_code == 422 and no_date.json["errors"][0]["field"] == "expected_delivery_date"
    assert agent.post(f"/shipments/{other['id']}/events", {"status": "lost"}).status_code == 400
    assert agent.get(f"/shipments/{other['id']}").json["events"] == []  # nothing was recorded
    # another branch, and a role without orders: not found / forbidden, as for a missing shipment
    assert as_user("agent.bandung").get(f"/shipments/{other['id']}").status_code == 404
    assert as_user("agent.bandung").post(f"/shipments/{other['id']}/events",
                                         {"status": "picked_up"}).status_code == 404
    assert as_user("agent.bandung").get("/shipments/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    assert as_user("marketing").get(f"/shipments/{other['id']}").status_code == 403


def _stored(shipment_id: str) -> Any:
    from chalicelib.persistence import orders, shipments

    order_id = shipments.order_of(shipment_id)
    assert order_id is not None
    order = orders.get(order_id, consistent=True)
    assert order is not None
    return next(s for s in order.shipments if s.id == shipment_id)


def _key(carrier: str) -> str:
    return str(boto3.client("secretsmanager").get_secret_value(SecretId=f"relasi-dev-carrier-{carrier}")
               ["SecretString"])


def _carrier_post(api: Any, carrier: str, event: dict[str, Any], *, key: str | None = None,
                  at: int | None = None, signature: str | None = None) -> Any:
    body = json.dumps(event).encode()
    stamp = str(at if at is not None else int(time.time()))
    sig = signature or signature_of(key or _key(carrier), stamp, body)
    response = api.request("POST", f"/carrier-events/{carrier}", body=body, headers={
        "Content-Type": "application/json", "X-Relasi-Timestamp": stamp, "X-Relasi-Signature": sig})
    response.json = json.loads(response.body) if response.body else None
    return response


def _event(tracking_number: str, status: str, event_id: str, minutes_ago: int = 0, **fields: Any) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {"event_id": event_id, "tracking_number": tracking_number, "status": status,
            "occurred_at": at.isoformat(), **fields}


def test_the_carrier_webhook_is_signed_fresh_and_replay_safe(api: Any, as_user: Any, catalog: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.services import shipments as service

    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    order = _confirmed(agent, customer["id"])
    shipment = _ship(agent, order["id"], [{"line_no": 1, "qty": 4}, {"line_no": 2, "qty": 1}], tracking(),
                     carrier="sicepat").json
    tn = shipment["tracking_number"]
    picked = _event(tn, "picked_up", "ev-1", minutes_ago=30)
    assert _carrier_post(api, "sicepat", picked, key="not-the-key").status_code == 401
    assert _carrier_post(api, "sicepat", picked, signature="sha256=00").status_code == 401
    assert _carrier_post(api, "jne", picked).status_code == 404  # jne has no such tracking number
    assert _carrier_post(api, "dhl", picked, key="x").status_code == 404  # not a carrier of ours
    stale = _carrier_post(api, "sicepat", picked, at=int(time.time()) - 301)
    assert stale.status_code == 401 and "5 minutes" in stale.json["detail"]
    assert agent.get(f"/shipments/{shipment['id']}").json["events"] == []  # none of those changed anything
    first = _carrier_post(api, "sicepat", picked)
    assert first.status_code == 200 and first.json == {"recorded": True, "applied": True,
                                                        "shipment_status": "picked_up"}
    again = _carrier_post(api, "sicepat", picked)  # the same event delivered twice
    assert again.json == {"recorded": False, "applied": False, "shipment_status": "picked_up"}
    moving = _carrier_post(api, "sicepat", _event(tn, "in_transit", "ev-3", minutes_ago=10))
    assert moving.json["shipment_status"] == "in_transit"
    late_news = _carrier_post(api, "sicepat", _event(tn, "label_created", "ev-0", minutes_ago=60))
    assert late_news.json == {"recorded": True, "applied": False, "shipment_status": "in_transit"}
    read = agent.get(f"/shipments/{shipment['id']}").json
    assert [(e["event_id"], e["applied"]) for e in read["events"]] == [("ev-0", False), ("ev-1", True),
                                                                       ("ev-3", True)]
    assert {e["by"] for e in read["events"]} == {"carrier:sicepat"}
    unsigned = api.request("POST", "/carrier-events/sicepat", body=json.dumps(picked).encode(),
                           headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    # a rotated key is accepted once the keys are read again: at most every KEY_RECHECK_SECONDS (the bad
    # signatures above just did), at once here
    monkeypatch.setattr(service, "KEY_RECHECK_SECONDS", 0)
    sm = boto3.client("secretsmanager")
    sm.put_secret_value(SecretId="relasi-dev-carrier-sicepat", SecretString="rotated-key-0123456789")
    delivered = _carrier_post(api, "sicepat", _event(tn, "delivered", "ev-4"), key="rotated-key-0123456789")
    assert delivered.json["shipment_status"] == "delivered"
    assert agent.get(f"/orders/{order['id']}").json["status"] == "delivered"


def test_the_customer_hears_that_it_left_is_coming_is_delayed_and_arrived_once_each(
        api: Any, as_user: Any, catalog: Any, stream_pump: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta", language="en", preferred_channel="sms")
    order = _confirmed(agent, customer["id"], promised_date="2026-12-20")
    shipment = _ship(agent, order["id"], [{"line_no": 1, "qty": 4}, {"line_no": 2, "qty": 1}], tracking(),
                     carrier="pos", expected_delivery_date="2026-12-19").json
    tn = shipment["tracking_number"]
    steps = [("in_transit", {}), ("delayed", {"expected_delivery_date": "2026-12-22"}), ("out_for_delivery", {}),
             ("delivered", {})]
    for n, (status, extra) in enumerate(steps):
        event = _event(tn, status, f"p-{n}", minutes_ago=10 - n, **extra)
        assert _carrier_post(api, "pos", event).status_code == 200
        _carrier_post(api, "pos", event)  # a carrier that delivers each event twice
    stream_pump.drain(30)
    items = agent.get(f"/customers/{customer['id']}/interactions?limit=50").json["items"]
    told = sorted((i for i in items if i["kind"] == "order_update"), key=lambda i: i["occurred_at"])
    texts = [m["summary"] for m in told]
    assert len(texts) == 5, texts  # confirmed, shipped, delayed, out for delivery, delivered
    assert "shipped via Pos Indonesia, expected on 19 Dec 2026" in texts[1] and "Track: https://" in texts[1]
    assert "Now expected on 22 Dec 2026" in texts[2] and "out for delivery" in texts[3]
    assert "has been delivered" in texts[4]
    assert all(len(t) <= 160 and order["order_no"] in t for t in texts)
    assert customer["phone"] not in " ".join(texts)
    # the stream delivers a shipment's records again: every claim holds, nothing more is sent
    from dataclasses import replace

    from chalicelib.persistence.changes import Change
    from chalicelib.workflows.shipments import shipment_changed

    stored = _stored(shipment["id"])
    inserted = replace(stored, status="label_created", last_event_at=None, expected_delivery_date="2026-12-19",
                       version=1)
    shipment_changed(Change("again-insert", True, None, inserted), None, inserted)
    for old_status, new_status, expected in (("in_transit", "delayed", "2026-12-22"),
                                             ("delayed", "out_for_delivery", "2026-12-22")):
        old = replace(stored, status=old_status, version=5)
        new = replace(stored, status=new_status, version=6, expected_delivery_date=expected)
        shipment_changed(Change(f"again-{new_status}", False, old, new), old, new)
    again = [i for i in agent.get(f"/customers/{customer['id']}/interactions?limit=50").json["items"]
             if i["kind"] == "order_update"]
    assert len(again) == 5


@pytest.fixture(scope="module")
def late_day() -> date:
    """A day no other test's order was promised before (the session's orders are promised in 2026)."""
    return date(2024, 3, 5)


def test_late_orders_open_exactly_one_complaint_and_tell_the_customer_once(
        as_user: Any, catalog: Any, stream_pump: Any, late_day: date) -> None:
    agent = as_user("agent.surabaya")
    customer = agent.new_customer(branch_id="surabaya", preferred_channel="sms")
    late = _confirmed(agent, customer["id"], promised_date=(late_day - timedelta(days=2)).isoformat())
    _ship(agent, late["id"], [{"line_no": 1, "qty": 1}], tracking())
    due_today = _confirmed(agent, customer["id"], promised_date=late_day.isoformat())
    unnotified = _confirmed(agent, customer["id"], promised_date="2024-03-01", notify_customer=False)
    draft = _order(agent, customer["id"], promised_date="2024-03-01").json  # not on its way: never late
    mover = agent.new_customer(branch_id="surabaya")
    moved_late = _confirmed(agent, mover["id"], promised_date="2024-03-02")
    admin = as_user("admin")
    etag = admin.get(f"/customers/{mover['id']}").headers["ETag"]
    assert admin.patch(f"/customers/{mover['id']}", {"branch_id": "jakarta"},
                       headers={"If-Match": etag}).status_code == 200
    gone = agent.new_customer(branch_id="surabaya")
    erased_late = _confirmed(agent, gone["id"], promised_date="2024-03-02")
    assert admin.delete(f"/customers/{gone['id']}").status_code == 204
    report = fire("late-deliveries", late_day)
    assert (report["late_found"], report["complaints_opened"]) == (3, 3), report  # the erased one is detached
    moved_case = admin.get(f"/orders/{moved_late['id']}").json["late_complaint_id"]
    assert admin.get(f"/complaints/{moved_case}").json["branch_id"] == "jakarta"  # the customer's branch now
    assert admin.get(f"/orders/{erased_late['id']}").json["late_since"] is None
    again = fire("late-deliveries", late_day)  # the schedule fires twice
    assert {k: again[k] for k in ("late_found", "complaints_opened", "orders_marked")} == {
        "late_found": 0, "complaints_opened": 0, "orders_marked": 0}
    stream_pump.drain(30)
    read = agent.get(f"/orders/{late['id']}").json
    assert read["late_since"] == late_day.isoformat() and [h["change"] for h in read["history"]].count("late") == 1
    complaint = agent.get(f"/complaints/{read['late_complaint_id']}").json
    assert (complaint["category"], complaint["severity"], complaint["department"], complaint["ref"]) == (
        "shipment", "high", "shipment", late["id"])
    assert complaint["branch_id"] == "surabaya" and customer["name"] not in complaint["description"]
    other = agent.get(f"/orders/{unnotified['id']}").json["late_complaint_id"]
    assert other != read["late_complaint_id"] and agent.get(f"/complaints/{other}").json["ref"] == unnotified["id"]
    assert agent.get(f"/orders/{due_today['id']}").json["late_since"] is None
    assert agent.get(f"/orders/{draft['id']}").json["late_since"] is None
    items = agent.get(f"/customers/{customer['id']}/interactions?limit=50").json["items"]
    notices = [i for i in items if i["kind"] == "order_update" and "belum tiba" in i["summary"]]
    assert len(notices) == 1 and late["order_no"] in notices[0]["summary"]  # the unnotified order tells nobody
    received = [i for i in items if i["kind"] == "complaint_followup"]
    assert received == []  # the customer did not complain: they hear of the delay, not of a complaint


def test_a_delay_told_in_the_last_48_hours_is_not_told_again(
        api: Any, as_user: Any, catalog: Any, stream_pump: Any) -> None:
    from chalicelib.workflows.orders import late_deliveries

    agent = as_user("agent.bandung")
    customer = agent.new_customer(branch_id="bandung", preferred_channel="sms")
    order = _confirmed(agent, customer["id"], promised_date="2024-02-01")
    shipment = _ship(agent, order["id"], [{"line_no": 1, "qty": 4}, {"line_no": 2, "qty": 1}], tracking()).json
    agent.post(f"/shipments/{shipment['id']}/events", {"status": "delayed", "expected_delivery_date": "2024-02-09"})
    report = late_deliveries(datetime(2024, 2, 3, 2, tzinfo=UTC))
    assert report["complaints_opened"] >= 1
    stream_pump.drain(30)
    items = agent.get(f"/customers/{customer['id']}/interactions?limit=50").json["items"]
    summaries = [i["summary"] for i in items if i["kind"] == "order_update"]
    assert sum("terlambat" in s for s in summaries) == 1 and not any("belum tiba" in s for s in summaries)


def test_an_order_message_in_the_quiet_hours_waits_for_their_end_once(
        as_user: Any, catalog: Any, stream_pump: Any, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QUIET_HOURS around now: the confirmation is claimed `pending` and handed to the reminders state machine
    (named after its claim, so a redelivered record starts nothing more), which sends it when they end."""
    import hashlib
    from zoneinfo import ZoneInfo

    from chalicelib.workflows.executions import execution_arn
    from tests.conftest import quiet_hours_now

    with quiet_hours_now(monkeypatch) as hour:
        agent = as_user("agent.jakarta")
        customer = agent.new_customer(branch_id="jakarta", preferred_channel="sms")
        order = _confirmed(agent, customer["id"])
        stream_pump.drain(30)
    items = agent.get(f"/customers/{customer['id']}/interactions?limit=50").json["items"]
    (waiting,) = [i for i in items if i["kind"] == "order_update"]
    assert waiting["delivery"] == "pending" and order["order_no"] in waiting["summary"]
    name = "later-" + hashlib.sha256(f"order-confirmed#{order['id']}".encode()).hexdigest()[:40]
    execution = boto3.client("stepfunctions").describe_execution(
        executionArn=execution_arn(stack["REMINDER_STATE_MACHINE_ARN"], name))
    payload = json.loads(execution["input"])
    end = datetime.now(ZoneInfo("Asia/Jakarta")).replace(minute=0, second=0, microsecond=0) + timedelta(
        hours=(hour + 2) % 24 - hour if (hour + 2) % 24 > hour else 24 + (hour + 2) % 24 - hour)
    assert payload["send_after"].startswith(end.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00"))
    assert len(payload["items"]) == 1 and customer["phone"] not in execution["input"]


def test_two_shipments_racing_for_one_tracking_number_and_two_deliveries_racing_on_one_order(
        as_user: Any, catalog: Any) -> None:
    """Two requests that meet: one shipment gets the tracking number (the other a 409 naming it, never a 500),
    and two shipments delivered at once still deliver their order (each write checks the other's version)."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.domain.access import Principal, Role, authorize
    from chalicelib.domain.errors import Conflict
    from chalicelib.domain.shipments import NewEvent, NewShipment, ShippedLine
    from chalicelib.services import shipments as service

    agent = as_user("agent.jakarta")
    order = _confirmed(agent, agent.new_customer(branch_id="jakarta")["id"])
    principal = Principal(sub="race", username="race", roles=frozenset({Role.ADMIN}), branch=None)
    access = authorize(principal, "shipments.create")
    same = tracking()

    def ship(line_no: int, qty: int, number: str) -> Any:
        try:
            return service.create(access, order["id"], NewShipment("jne", number, (ShippedLine(line_no, Decimal(qty)),)))
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda n: ship(1, 1, same), range(2)))
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "tuple"]
    ship(1, 3, tracking())
    second = ship(2, 1, tracking())
    event_access = authorize(principal, "shipments.event")
    ids = [x["id"] for x in agent.get(f"/orders/{order['id']}").json["shipments"]]
    assert len(ids) == 3 and second is not None
    for shipment_id in ids:
        service.event(event_access, shipment_id, NewEvent("picked_up", "2026-01-01T00:00:00.000Z"))
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda sid: service.event(event_access, sid, NewEvent("delivered", "2026-01-02T00:00:00.000Z")),
                      ids))
    assert agent.get(f"/orders/{order['id']}").json["status"] == "delivered"
