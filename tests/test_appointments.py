"""Workshop appointments through the API as the service desk uses them: slots with their free places, booking
(never more than the bays), the lifecycle, cancelling frees a place, scoping, erasure; the slot rules on their own.
The booking race with real parallel HTTP requests is in tests/test_attacks.py."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.config import Workshop
from chalicelib.domain import appointments as rules
from tests.test_vehicles import _lookup, _register

JAKARTA = ZoneInfo("Asia/Jakarta")
SHOP = Workshop(hours=(8, 16), days=frozenset(range(6)), bays=4, bays_by_branch={}, holidays=frozenset({"2027-01-01"}),
                booking_days_ahead=90)
_days = itertools.count(12)  # each test books its own day, so their places never meet


def open_day() -> date:
    """A day the workshop opens, 12 or more days ahead (Sundays skipped), new for each test."""
    while True:
        day = datetime.now(JAKARTA).date() + timedelta(days=next(_days))
        if day.weekday() != 6:
            return day


def at(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour), tzinfo=JAKARTA).isoformat()


def _book(caller: Any, customer_id: str, vin: str, start: str, service_type: str = "periodic", **extra: Any) -> Any:
    return caller.post(f"/customers/{customer_id}/appointments",
                       {"vin": vin, "slot_start": start, "service_type": service_type, **extra})


def _owner_with_vehicle(caller: Any, branch: str) -> tuple[dict[str, Any], dict[str, Any]]:
    owner = caller.new_customer(branch_id=branch)
    return owner, _register(caller, owner["id"]).json


@pytest.mark.parametrize(("service_type", "starts"), [("periodic", [8, 9, 10, 11, 12, 13, 14, 15]),
                                                      ("repair", [8, 9, 10, 11, 12, 13, 14]),
                                                      ("body_paint", [8, 9, 10, 11, 12])])
def test_a_service_type_fits_the_starts_its_hours_allow(service_type: str, starts: list[int]) -> None:
    day = date(2026, 12, 14)  # a Monday
    now = datetime(2026, 12, 1, tzinfo=JAKARTA)
    found = rules.day_slots(day, service_type, SHOP, JAKARTA, {9: 3, 10: 4}, 4, now)
    assert [s.start.hour for s in found] == starts
    by_hour = {s.start.hour: s.free for s in found}
    assert by_hour[8] == {"periodic": 4, "repair": 1, "body_paint": 0}[service_type]  # the least free of its hours
    assert by_hour[11] == 4 and by_hour.get(10, 0) == 0


def test_closed_days_past_starts_and_misaligned_times_are_no_slots() -> None:
    now = datetime(2026, 12, 14, 10, 30, tzinfo=JAKARTA)
    assert rules.day_slots(date(2026, 12, 20), "periodic", SHOP, JAKARTA, {}, 4, now) == []  # a Sunday
    assert rules.day_slots(date(2027, 1, 1), "periodic", SHOP, JAKARTA, {}, 4, now) == []  # a holiday
    today = rules.day_slots(date(2026, 12, 14), "periodic", SHOP, JAKARTA, {}, 4, now)
    assert today[0].start.hour == 11  # what began is gone
    assert rules.hours_of(datetime(2026, 12, 15, 9, 30, tzinfo=JAKARTA), "periodic", SHOP) is None
    assert rules.hours_of(datetime(2026, 12, 15, 14, tzinfo=JAKARTA), "repair", SHOP) is not None
    assert rules.hours_of(datetime(2026, 12, 15, 15, tzinfo=JAKARTA), "repair", SHOP) is None  # past closing
    problems = rules.check_start(datetime(2027, 6, 1, 9, tzinfo=JAKARTA), "periodic", SHOP, now)
    assert "90 days" in problems[0].message


def test_booking_takes_a_place_in_each_hour_and_the_fifth_booking_hears_the_next_free_slots(as_user: Any) -> None:
    agent = as_user("agent.bandung")
    day = open_day()
    owners = [_owner_with_vehicle(agent, "bandung") for _ in range(5)]
    before = agent.get(f"/branches/bandung/appointment-slots?date={day}&service_type=repair").json["items"]
    assert before[0] == {"slot_start": at(day, 8), "slot_end": at(day, 10), "capacity": 4, "free": 4}
    made = [_book(agent, o["id"], v["vin"], at(day, 9), "repair", notes="Rem bunyi") for o, v in owners[:4]]
    assert [r.status_code for r in made] == [201] * 4, [r.body for r in made]
    a = made[0].json
    assert made[0].headers["Location"] == f"/appointments/{a['id']}" and made[0].headers["ETag"] == '"v1"'
    assert (a["status"], a["slot_start"], a["slot_end"], a["branch_id"]) == ("booked", at(day, 9), at(day, 11),
                                                                              "bandung")
    slots = {s["slot_start"]: s["free"] for s in agent.get(
        f"/branches/bandung/appointment-slots?date={day}&service_type=periodic").json["items"]}
    assert (slots[at(day, 8)], slots[at(day, 9)], slots[at(day, 10)], slots[at(day, 11)]) == (4, 0, 0, 4)
    full = _book(agent, owners[4][0]["id"], owners[4][1]["vin"], at(day, 10), "periodic")
    assert full.status_code == 409 and full.json["reason"] == "slot_full", full.body
    assert [s["slot_start"] for s in full.json["next_free"]] == [at(day, 11), at(day, 12), at(day, 13)]
    # cancelling gives both hours back, once
    cancelled = agent.patch(f"/appointments/{a['id']}", {"status": "cancelled"}, headers={"If-Match": '"v1"'})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    again = agent.patch(f"/appointments/{a['id']}", {"status": "cancelled"}, headers={"If-Match": '"v2"'})
    assert again.status_code == 200  # nothing to change: nothing given back twice
    assert _book(agent, owners[4][0]["id"], owners[4][1]["vin"], at(day, 10), "periodic").status_code == 201
    slots = {s["slot_start"]: s["free"] for s in agent.get(
        f"/branches/bandung/appointment-slots?date={day}&service_type=periodic").json["items"]}
    assert (slots[at(day, 9)], slots[at(day, 10)]) == (1, 0)


def test_bad_bookings_are_400_naming_the_field_and_take_no_place(as_user: Any) -> None:
    agent = as_user("agent.bandung")
    day = open_day()
    owner, vehicle = _owner_with_vehicle(agent, "bandung")
    _, someone_elses = _owner_with_vehicle(agent, "bandung")
    sunday = day + timedelta(days=(6 - day.weekday()))
    cases = [({"slot_start": at(day, 9).replace("+07:00", "")}, "slot_start"),
             ({"slot_start": at(day, 9).replace(":00:00", ":30:00")}, "slot_start"),
             ({"slot_start": at(sunday, 9)}, "slot_start"),
             ({"slot_start": at(day, 15), "service_type": "repair"}, "slot_start"),
             ({"slot_start": "2020-01-06T09:00:00+07:00"}, "slot_start"),
             ({"service_type": "oil_change"}, "service_type"),
             ({"vin": someone_elses["vin"]}, "vin"),
             ({"notes": "x" * 501}, "notes")]
    for change, field in cases:
        body = {"vin": vehicle["vin"], "slot_start": at(day, 9), "service_type": "periodic", **change}
        r = agent.post(f"/customers/{owner['id']}/appointments", body)
        assert r.status_code == 400, (change, r.body)
        assert r.json["errors"][0]["field"] == field, (change, r.body)
    free = agent.get(f"/branches/bandung/appointment-slots?date={day}").json["items"]
    assert {s["free"] for s in free} == {4}
    assert agent.get(f"/customers/{owner['id']}/appointments").json["items"] == []


def test_the_lifecycle_keeps_its_history_and_refuses_a_jump(as_user: Any) -> None:
    agent = as_user("agent.jakarta")
    day = open_day()
    owner, vehicle = _owner_with_vehicle(agent, "jakarta")
    a = _book(agent, owner["id"], vehicle["vin"], at(day, 13), "inspection").json
    path = f"/appointments/{a['id']}"
    assert agent.patch(path, {"status": "confirmed"}).status_code == 428
    jump = agent.patch(path, {"status": "completed"}, headers={"If-Match": '"v1"'})
    assert jump.status_code == 409 and set(jump.json["allowed"]) == {"confirmed", "checked_in", "cancelled", "no_show"}
    etag = '"v1"'
    for status in ("confirmed", "checked_in", "completed"):
        moved = agent.patch(path, {"status": status}, headers={"If-Match": etag})
        assert moved.status_code == 200, moved.body
        etag = moved.headers["ETag"]
    read = agent.get(path).json
    assert [(h["change"], h["to"]) for h in read["history"]] == [("created", "booked"), ("status", "confirmed"),
                                                                 ("status", "checked_in"), ("status", "completed")]
    late_cancel = agent.patch(path, {"status": "cancelled"}, headers={"If-Match": etag})
    assert late_cancel.status_code == 409 and late_cancel.json["allowed"] == []
    listed = agent.get(f"/customers/{owner['id']}/appointments").json["items"]
    assert listed == [{"id": a["id"], "vin": vehicle["vin"], "service_type": "inspection", "status": "completed",
                       "slot_start": at(day, 13)}]


def test_another_branch_appointment_is_not_found_and_its_slots_are_not_theirs(as_user: Any) -> None:
    bandung, jakarta = as_user("agent.bandung"), as_user("agent.jakarta")
    day = open_day()
    owner, vehicle = _owner_with_vehicle(bandung, "bandung")
    a = _book(bandung, owner["id"], vehicle["vin"], at(day, 8)).json
    theirs, nobody = jakarta.get(f"/appointments/{a['id']}"), jakarta.get("/appointments/01" + "Q" * 24)
    assert theirs.status_code == nobody.status_code == 404 and theirs.json == nobody.json
    assert jakarta.patch(f"/appointments/{a['id']}", {"status": "cancelled"},
                         headers={"If-Match": '"v1"'}).status_code == 404
    assert _book(jakarta, owner["id"], vehicle["vin"], at(day, 9)).status_code == 404
    assert jakarta.get(f"/branches/bandung/appointment-slots?date={day}").status_code == 403
    assert as_user("marketing").get(f"/appointments/{a['id']}").status_code == 403


def test_the_desk_lookup_shows_the_next_appointment_and_erasure_frees_its_places(as_user: Any) -> None:
    admin, agent = as_user("admin"), as_user("agent.surabaya")
    day = open_day()
    owner, vehicle = _owner_with_vehicle(agent, "surabaya")
    later = _book(agent, owner["id"], vehicle["vin"], at(day + timedelta(days=7), 10)).json
    sooner = _book(agent, owner["id"], vehicle["vin"], at(day, 14), "repair", notes="Catatan pribadi").json
    found = _lookup(agent, vehicle["plate_no"]).json["next_appointment"]
    assert found == {"id": sooner["id"], "service_type": "repair", "status": "booked", "slot_start": at(day, 14)}
    agent.patch(f"/appointments/{sooner['id']}", {"status": "cancelled"}, headers={"If-Match": '"v1"'})
    assert _lookup(agent, vehicle["plate_no"]).json["next_appointment"]["id"] == later["id"]
    assert admin.delete(f"/customers/{owner['id']}").status_code == 204
    assert admin.get(f"/appointments/{later['id']}").status_code == 404
    assert admin.get(f"/appointments/{sooner['id']}").status_code == 404
    free = {s["slot_start"]: s["free"] for s in agent.get(
        f"/branches/surabaya/appointment-slots?date={day + timedelta(days=7)}").json["items"]}
    assert free[at(day + timedelta(days=7), 10)] == 4
    kept = _lookup(agent, vehicle["plate_no"]).json
    assert kept["owner"] is None and kept["next_appointment"] is None
