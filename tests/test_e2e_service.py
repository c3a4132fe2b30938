"""The workshop end to end over HTTP against the local stack started as `make run` does: a vehicle is registered,
booked, checked in from its appointment and its work order moves along; the customer gets exactly one SMS per step
in the outbox (`make outbox`), without their name or plate; the day-before reminder waits for its day."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from infra import outbox
from tests.stack_process import RunningStack, start_stack, stop_stack_cleanly, wait_for

USER = "agent.bandung"


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    running = start_stack(SEED="none", QUIET_HOURS="off")  # whatever the hour the suite runs
    yield running
    stop_stack_cleanly(running)


def _sms_to(stack: RunningStack, phone: str) -> list[str]:
    return [m["text"] for m in outbox.fetch(stack.aws_port, channel="sms") if m["recipient"] == outbox.mask(phone)]


def test_book_check_in_and_the_work_orders_moves_reach_the_customer_once_each(stack: RunningStack) -> None:
    customer = stack.request("POST", "/customers", USER, json={
        "name": "Rudi Hartono", "phone": "0813-5200-0001", "branch_id": "bandung"}).json()
    vehicle = stack.request("POST", f"/customers/{customer['id']}/vehicles", USER, json={
        "vin": "MHKE2ESRVC0000001", "plate_no": "D 4321 RUD", "make": "Toyota", "model": "Innova", "year": 2021,
        "color": "Hitam"}).json()
    day = datetime.now(ZoneInfo("Asia/Jakarta")).date() + timedelta(days=3)
    day += timedelta(days=1 if day.weekday() == 6 else 0)
    booked = stack.request("POST", f"/customers/{customer['id']}/appointments", USER, json={
        "vin": vehicle["vin"], "slot_start": f"{day}T10:00:00+07:00", "service_type": "repair"})
    assert booked.status_code == 201, booked.text
    wait_for(lambda: _sms_to(stack, customer["phone"]), 60, "the booking's confirmation")
    eta = datetime.now(ZoneInfo("Asia/Jakarta")).replace(microsecond=0) + timedelta(hours=4)
    opened = stack.request("POST", f"/vehicles/{vehicle['vin']}/work-orders", USER, json={
        "jobs": [{"description": "Ganti kampas rem", "estimate_amount": "780000"}], "eta": eta.isoformat(),
        "appointment_id": booked.json()["id"]})
    assert opened.status_code == 201, opened.text
    wo, etag = opened.json(), opened.headers["ETag"]
    for body in ({"status": "in_progress"}, {"stage": "waiting_approval"}, {"approved": True},
                 {"eta": (eta + timedelta(hours=3)).isoformat()}, {"status": "completed"}):
        moved = stack.request("PATCH", f"/work-orders/{wo['id']}", USER, json=body, headers={"If-Match": etag})
        assert moved.status_code == 200, (body, moved.text)
        etag = moved.headers["ETag"]
    texts = wait_for(lambda: (t := _sms_to(stack, customer["phone"])) and len(t) >= 6 and t, 60, "six SMS")
    time.sleep(1.5)  # nothing more may come
    texts = _sms_to(stack, customer["phone"])
    assert len(texts) == 6, texts
    assert "sudah kami catat" in texts[0] and "sudah kami terima" in texts[1]
    assert "Rp 780.000" in texts[2] and "lebih lama" in texts[3] and "siap diambil" in texts[4]
    assert f"Bagaimana servis no. {wo['id'][-8:]}? Beri nilai 1-5: " in texts[5]  # the survey (tests/test_surveys.py)
    assert all("Rudi" not in t and "D 4321 RUD" not in t and "Bandung" in texts[0] for t in texts)
    timeline = stack.request("GET", f"/customers/{customer['id']}/interactions", USER, params={"limit": 50}).json()
    reminder = [i for i in timeline["items"] if "Pengingat" in i["summary"]]
    assert [i["delivery"] for i in reminder] == ["pending"]  # sent the day before, by the reminders state machine
    assert stack.request("GET", f"/appointments/{booked.json()['id']}", USER).json()["status"] == "checked_in"
