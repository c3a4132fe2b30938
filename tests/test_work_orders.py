"""Work orders through the API and the stream consumer, as the workshop and the call centre use them: booked ->
checked in -> work order moves -> the customer's messages, each exactly once (records delivered twice); the
status read out in the caller's language; the board; scoping; erasure keeps the service history; the rules on
their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain import work_orders as rules
from chalicelib.domain.appointments import reminder_at
from tests.test_appointments import _book, at, open_day
from tests.test_stream import Stream, deliver
from tests.test_vehicles import _lookup, _register

JAKARTA = ZoneInfo("Asia/Jakarta")


def _eta(hours: float) -> str:
    return (datetime.now(JAKARTA) + timedelta(hours=hours)).replace(microsecond=0).isoformat()


def _jobs(*amounts: str) -> list[dict[str, str]]:
    return [{"description": f"Pekerjaan {n + 1}", "estimate_amount": a} for n, a in enumerate(amounts)]


def _texts(caller: Any, customer_id: str) -> list[dict[str, Any]]:
    items = caller.get(f"/customers/{customer_id}/interactions?limit=100").json["items"]
    return [i for i in items if i["kind"] == "service_update"]


def test_book_check_in_and_every_move_the_customer_hears_of_exactly_once(as_user: Any, stream: Stream) -> None:
    agent = as_user("agent.bandung")
    owner = agent.new_customer(branch_id="bandung", preferred_channel="sms", language="id")
    vehicle = _register(agent, owner["id"]).json
    day = open_day()
    booked = _book(agent, owner["id"], vehicle["vin"], at(day, 9), "repair").json
    confirmed = agent.patch(f"/appointments/{booked['id']}", {"status": "confirmed"}, headers={"If-Match": '"v1"'})
    assert confirmed.status_code == 200
    opened = agent.post(f"/vehicles/{vehicle['vin']}/work-orders", {
        "jobs": _jobs("250000", "1000000"), "eta": _eta(6), "appointment_id": booked["id"]})
    assert opened.status_code == 201, opened.body
    wo = opened.json
    assert wo["status"] == "new" and wo["estimate_total"] == "1250000.00" and wo["customer_id"] == owner["id"]
    assert opened.headers["Location"] == f"/work-orders/{wo['id']}"
    assert agent.get(f"/appointments/{booked['id']}").json["status"] == "checked_in"
    path, etag = f"/work-orders/{wo['id']}", opened.headers["ETag"]

    def move(body: dict[str, Any]) -> dict[str, Any]:
        nonlocal etag
        r = agent.patch(path, body, headers={"If-Match": etag})
        assert r.status_code == 200, (body, r.body)
        etag = r.headers["ETag"]
        return dict(r.json)

    assert move({"status": "in_progress"})["stage"] == "inspecting"
    assert move({"stage": "waiting_approval"})["status_text"].startswith("Estimasi biaya Rp 1.250.000")
    assert move({"approved": True})["stage"] == "repairing"  # approved on a call: work goes on
    move({"eta": _eta(6.5)})  # half an hour later: no delay to tell
    move({"eta": _eta(10)})  # 3.5 hours later than the first: a delay
    move({"stage": "quality_check"})
    done = move({"status": "completed"})
    assert done["status_text"] == "Kendaraan Anda sudah selesai dan siap diambil." and done["stage"] is None
    event = stream.event()
    assert deliver(event) == {"batchItemFailures": []}
    assert deliver(event) == {"batchItemFailures": []}  # every record delivered twice: nothing is told twice
    texts = [t["summary"] for t in _texts(agent, owner["id"])]
    assert len(texts) == 5, texts
    # the booking's record was read after the check-in: an appointment no longer booked gets no reminder
    kinds = {"sudah kami catat": 1, "Pengingat, servis": 0, "sudah kami terima": 1, "Estimasi biaya servis": 1,
             "perlu waktu lebih lama": 1, "siap diambil": 1}
    for phrase, n in kinds.items():
        assert sum(phrase in t for t in texts) == n, (phrase, texts)
    assert "Rp 1.250.000" in next(t for t in texts if "Estimasi" in t)
    assert vehicle["plate_no"] not in " ".join(texts)  # references, never the plate


def test_a_cancelled_appointment_reminder_is_withdrawn(as_user: Any, stream: Stream) -> None:
    agent = as_user("agent.bandung")
    owner = agent.new_customer(branch_id="bandung", preferred_channel="sms")
    vehicle = _register(agent, owner["id"]).json
    booked = _book(agent, owner["id"], vehicle["vin"], at(open_day(), 11)).json
    assert deliver(stream.event()) == {"batchItemFailures": []}
    agent.patch(f"/appointments/{booked['id']}", {"status": "cancelled"}, headers={"If-Match": '"v1"'})
    assert deliver(stream.event()) == {"batchItemFailures": []}
    reminder = next(t for t in _texts(agent, owner["id"]) if "Pengingat" in t["summary"])
    assert reminder["delivery"] == "skipped"


def test_the_call_centre_reads_the_status_in_the_callers_language_with_the_last_five_changes(as_user: Any) -> None:
    agent = as_user("agent.jakarta")
    owner = agent.new_customer(branch_id="jakarta", language="en")
    vehicle = _register(agent, owner["id"]).json
    wo = agent.post(f"/vehicles/{vehicle['vin']}/work-orders", {"jobs": _jobs("450000"), "eta": _eta(5)}).json
    etag = '"v1"'
    for body in ({"status": "in_progress"}, {"stage": "waiting_parts"}, {"eta": _eta(30)}, {"stage": "repairing"},
                 {"status": "on_hold"}, {"status": "in_progress"}):
        r = agent.patch(f"/work-orders/{wo['id']}", body, headers={"If-Match": etag})
        assert r.status_code == 200, (body, r.body)
        etag = r.headers["ETag"]
    read = agent.get(f"/work-orders/{wo['id']}").json
    assert read["language"] == "en" and read["status_text"].startswith("Your vehicle is being inspected.")
    assert "Expected ready" in read["status_text"] and len(read["history"]) == 5
    assert [h["change"] for h in read["history"]][-2:] == ["status", "stage"]
    indonesian = agent.get(f"/work-orders/{wo['id']}?lang=id").json
    assert indonesian["status_text"].startswith("Kendaraan Anda sedang diperiksa.")
    assert agent.get(f"/work-orders/{wo['id']}?lang=fr").status_code == 400
    found = _lookup(agent, vehicle["plate_no"]).json["open_work_orders"]
    assert [(w["id"], w["status"], w["stage"]) for w in found] == [(wo["id"], "in_progress", "inspecting")]


def test_bad_work_orders_and_moves_are_refused_naming_why(as_user: Any) -> None:
    agent = as_user("agent.jakarta")
    owner = agent.new_customer(branch_id="jakarta")
    vehicle = _register(agent, owner["id"]).json
    path = f"/vehicles/{vehicle['vin']}/work-orders"
    for body, field in (({"jobs": [], "eta": _eta(3)}, "jobs"), ({"jobs": _jobs("-5"), "eta": _eta(3)}, None),
                        ({"jobs": _jobs("100"), "eta": _eta(-3)}, "eta"),
                        ({"jobs": _jobs("100"), "eta": "2026-12-08T09:00:00"}, "eta"),
                        ({"jobs": _jobs("100"), "eta": _eta(3), "appointment_id": "01" + "Z" * 24}, "appointment_id")):
        r = agent.post(path, body)
        assert r.status_code == 400, (body, r.body)
        if field:
            assert r.json["errors"][0]["field"] == field, r.body
    wo = agent.post(path, {"jobs": _jobs("100"), "eta": _eta(3)}).json
    jump = agent.patch(f"/work-orders/{wo['id']}", {"status": "closed"}, headers={"If-Match": '"v1"'})
    assert jump.status_code == 409 and set(jump.json["allowed"]) == {"in_progress", "on_hold", "cancelled"}
    early_stage = agent.patch(f"/work-orders/{wo['id']}", {"stage": "repairing"}, headers={"If-Match": '"v1"'})
    assert early_stage.status_code == 409
    assert agent.patch(f"/work-orders/{wo['id']}", {"status": None}, headers={"If-Match": '"v1"'}).status_code == 400
    assert agent.get(f"/work-orders/{wo['id']}").json["version"] == 1  # nothing changed


def test_the_board_lists_a_branchs_open_work_orders_by_status_and_eta_and_another_branch_sees_none(
        as_user: Any) -> None:
    bandung, jakarta = as_user("agent.bandung"), as_user("agent.jakarta")
    owner = bandung.new_customer(branch_id="bandung")
    later = bandung.post(f"/vehicles/{_register(bandung, owner['id']).json['vin']}/work-orders",
                         {"jobs": _jobs("100"), "eta": _eta(48)}).json
    sooner = bandung.post(f"/vehicles/{_register(bandung, owner['id']).json['vin']}/work-orders",
                          {"jobs": _jobs("100"), "eta": _eta(24)}).json
    listed = [w["id"] for w in bandung.get("/work-orders?status=new").json["items"]]
    assert listed.index(sooner["id"]) < listed.index(later["id"])
    bandung.patch(f"/work-orders/{later['id']}", {"status": "cancelled"}, headers={"If-Match": '"v1"'})
    assert later["id"] not in [w["id"] for w in bandung.get("/work-orders").json["items"]]
    assert jakarta.get("/work-orders?branch=bandung").status_code == 403
    theirs, nobody = jakarta.get(f"/work-orders/{sooner['id']}"), jakarta.get("/work-orders/01" + "Y" * 24)
    assert theirs.status_code == nobody.status_code == 404 and theirs.json == nobody.json
    assert as_user("admin").get("/work-orders").status_code in (200, 400)
    assert as_user("marketing").get(f"/work-orders/{sooner['id']}").status_code == 403


def test_erasing_the_customer_keeps_the_work_order_as_the_vehicles_history_without_them(as_user: Any) -> None:
    admin, agent = as_user("admin"), as_user("agent.surabaya")
    owner = agent.new_customer(branch_id="surabaya", name="Hilang Nanti")
    vehicle = _register(agent, owner["id"]).json
    wo = agent.post(f"/vehicles/{vehicle['vin']}/work-orders", {"jobs": _jobs("300000"), "eta": _eta(4)}).json
    assert admin.delete(f"/customers/{owner['id']}").status_code == 204
    kept = agent.get(f"/work-orders/{wo['id']}")
    assert kept.status_code == 200 and kept.json["customer_id"].startswith("erased:")
    assert owner["id"] not in str(kept.json) and "Hilang Nanti" not in str(kept.json)
    assert _lookup(agent, vehicle["plate_no"]).json["open_work_orders"][0]["id"] == wo["id"]
    moved = agent.patch(f"/work-orders/{wo['id']}", {"status": "in_progress"}, headers={"If-Match": kept.headers["ETag"]})
    assert moved.status_code == 200  # the workshop finishes the job; nobody is told


def test_a_work_order_a_day_past_its_eta_opens_one_complaint_that_escalates(as_user: Any) -> None:
    """The late-deliveries job also reads the boards by ETA: a work order still open WORK_ORDER_LATE_MARGIN_HOURS
    (24) after its ETA opens exactly one complaint (category service, `ref` the work order); a second run, or one
    run before the margin, opens nothing."""
    from chalicelib.workflows.service import late_work_orders

    agent = as_user("agent.surabaya")
    owner = agent.new_customer(branch_id="surabaya")
    vehicle = _register(agent, owner["id"]).json
    wo = agent.post(f"/vehicles/{vehicle['vin']}/work-orders", {"jobs": _jobs("100000"), "eta": _eta(2)}).json
    eta = datetime.fromisoformat(wo["eta"])
    assert late_work_orders(eta + timedelta(hours=23))["work_order_complaints_opened"] == 0  # within the margin
    report = late_work_orders(eta + timedelta(hours=25))
    assert report["work_order_complaints_opened"] >= 1 and report["late_work_orders_found"] >= 1
    marked = agent.get(f"/work-orders/{wo['id']}").json
    case = agent.get(f"/complaints/{marked['late_complaint_id']}").json
    assert (case["category"], case["severity"], case["ref"], case["branch_id"]) == ("service", "high", wo["id"],
                                                                                  "surabaya")
    assert marked["history"][-1]["change"] == "late" and owner["name"] not in case["description"]
    assert marked["complaint_ids"] == [case["id"]] and case["work_order_id"] == wo["id"]
    late_work_orders(eta + timedelta(hours=26))  # the next day's run: this one is marked already
    assert agent.get(f"/work-orders/{wo['id']}").json["version"] == marked["version"]
    opened = [c for c in agent.get("/complaints?status=open&limit=100").json["items"] if c.get("ref") == wo["id"]]
    assert len(opened) == 1


def test_a_completed_work_order_is_invoiced_once_as_a_confirmed_order_of_its_jobs(as_user: Any) -> None:
    admin, agent = as_user("admin"), as_user("agent.jakarta")
    admin.post("/products", {"sku": "SVC-WORKSHOP", "name": "Jasa bengkel", "category": "service_package",
                             "unit": "package", "list_price": "0"})  # made once per session; 409 after
    owner = agent.new_customer(branch_id="jakarta")
    vehicle = _register(agent, owner["id"]).json
    wo = agent.post(f"/vehicles/{vehicle['vin']}/work-orders", {"jobs": _jobs("250000", "1000000.50"),
                                                                 "eta": _eta(3)}).json
    early = agent.post(f"/work-orders/{wo['id']}/invoice")
    assert early.status_code == 409 and set(early.json["allowed"]) == {"completed", "closed"}
    etag = '"v1"'
    for status in ("in_progress", "completed"):
        r = agent.patch(f"/work-orders/{wo['id']}", {"status": status}, headers={"If-Match": etag})
        etag = r.headers["ETag"]
    invoiced = agent.post(f"/work-orders/{wo['id']}/invoice")
    assert invoiced.status_code == 201, invoiced.body
    order = invoiced.json["order"]
    assert invoiced.headers["Location"] == f"/orders/{order['id']}"
    assert (order["status"], order["ref"], order["customer_id"], order["net_total"]) == (
        "confirmed", wo["id"], owner["id"], "1250000.50")
    assert [(line["sku"], line["unit_price"]) for line in order["lines"]] == [("SVC-WORKSHOP", "250000.00"),
                                                                             ("SVC-WORKSHOP", "1000000.50")]
    again = agent.post(f"/work-orders/{wo['id']}/invoice")
    assert again.status_code == 200 and again.json["order"]["id"] == order["id"]
    read = agent.get(f"/work-orders/{wo['id']}").json
    assert read["invoice_order_id"] == order["id"] and read["history"][-1]["change"] == "invoiced"
    assert [o["id"] for o in agent.get(f"/customers/{owner['id']}/orders").json["items"]] == [order["id"]]


def test_a_service_complaint_about_a_work_order_is_listed_with_it_and_goes_with_the_erasure(as_user: Any) -> None:
    admin, agent = as_user("admin"), as_user("agent.bandung")
    owner, other = agent.new_customer(branch_id="bandung"), agent.new_customer(branch_id="bandung")
    vehicle = _register(agent, owner["id"]).json
    wo = agent.post(f"/vehicles/{vehicle['vin']}/work-orders", {"jobs": _jobs("100000"), "eta": _eta(3)}).json
    body = {"category": "service", "severity": "medium", "subject": "Masih bunyi", "description": "Rem masih bunyi",
            "work_order_id": wo["id"]}
    not_theirs = agent.post(f"/customers/{other['id']}/complaints", body)
    assert not_theirs.status_code == 400 and not_theirs.json["errors"][0]["field"] == "work_order_id"
    wrong_kind = agent.post(f"/customers/{owner['id']}/complaints", {**body, "category": "billing"})
    assert wrong_kind.status_code == 400 and wrong_kind.json["errors"][0]["field"] == "work_order_id"
    made = agent.post(f"/customers/{owner['id']}/complaints", body)
    assert made.status_code == 201 and made.json["work_order_id"] == wo["id"], made.body
    assert agent.get(f"/work-orders/{wo['id']}").json["complaint_ids"] == [made.json["id"]]
    assert admin.delete(f"/customers/{owner['id']}").status_code == 204
    assert agent.get(f"/work-orders/{wo['id']}").json["complaint_ids"] == []  # the complaint went with the customer


def test_the_notices_of_a_change() -> None:
    from dataclasses import replace

    zone = ZoneInfo("Asia/Jakarta")
    now = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    base = rules.WorkOrder(id="01JW0000000000000000000000", vin="V", customer_id="c", branch_id="b",
                           jobs=[rules.Job("x", Decimal("100000"))], eta="2026-12-08T05:00:00.000Z",
                           eta_told="2026-12-08T05:00:00.000Z", status="in_progress", stage="repairing",
                           created_at="", updated_at="", created_by="s")

    def moved(w: rules.WorkOrder, hours: float) -> rules.WorkOrder:
        eta = datetime.fromisoformat(w.eta) + timedelta(hours=hours)
        return rules.change(w, rules.WorkOrderChanges(sent=frozenset({"eta"}), eta=eta), by="s", now=now)

    assert [n.kind for n in rules.notices(None, base, zone)] == ["work_order_checked_in"]
    assert rules.notices(base, moved(base, 2), zone) == []  # exactly 2 hours is not more than 2
    later = moved(base, 2.01)
    assert [n.kind for n in rules.notices(base, later, zone)] == ["work_order_delayed"]
    # small moves add up: 1.5 h, then 1 h more is 2.5 h later than they were told
    first = moved(base, 1.5)
    assert rules.notices(base, first, zone) == []
    second = moved(first, 1)
    assert [n.kind for n in rules.notices(first, second, zone)] == ["work_order_delayed"]
    assert rules.notices(second, moved(second, -1), zone) == []  # sooner: nothing to tell
    waiting = replace(base, stage="waiting_approval")
    told = rules.notices(base, waiting, zone)
    assert [n.kind for n in told] == ["work_order_estimate"] and told[0].fields == {"amount": "Rp 100.000"}
    new_amount = replace(waiting, jobs=[rules.Job("x", Decimal("150000"))])
    assert rules.notices(waiting, new_amount, zone)[0].key != told[0].key  # a new estimate is told again
    assert [n.kind for n in rules.notices(base, replace(base, status="completed", stage=None), zone)] == [
        "work_order_ready"]


@pytest.mark.parametrize(("slot", "quiet", "expected"), [
    ("2026-12-08T02:00:00+00:00", (21, 8), "2026-12-07T09:00:00+07:00"),  # 09:00 the day before
    ("2026-12-08T01:00:00+00:00", (21, 9), "2026-12-06T20:00:00+07:00"),  # 08:00 is quiet: 20:00 the evening before
    ("2026-12-08T15:30:00+00:00", (21, 8), "2026-12-07T20:00:00+07:00"),  # 22:30 is quiet: 20:00 that evening
    ("2026-12-08T02:00:00+00:00", None, "2026-12-07T09:00:00+07:00"),
])
def test_the_day_before_reminder_is_moved_earlier_out_of_the_quiet_hours(slot: str, quiet: tuple[int, int] | None,
                                                                       expected: str) -> None:
    assert reminder_at(slot, ZoneInfo("Asia/Jakarta"), quiet).isoformat() == expected


def test_rupiah_and_times_read_out() -> None:
    assert rules.rupiah(Decimal("1250000.00")) == "Rp 1.250.000"
    assert rules.when("2026-12-08T07:05:00.000Z", "id", ZoneInfo("Asia/Jakarta")) == "8 Des 14.05"
    assert rules.when(datetime(2026, 12, 8, 7, 5, tzinfo=UTC).isoformat(), "en", ZoneInfo("Asia/Jakarta")) == \
        "8 Dec 14:05"
