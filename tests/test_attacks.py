"""Attacks on the running local stack: races between erasure and writes, existence oracles, cursors.

The stack runs as `make run` runs it (tests/stack_process.py: a real process,
real HTTP on loopback, real Cognito ID tokens), and each race is several
parallel HTTP requests, repeated for ROUNDS rounds: a race that passes once
proves little. After every erasure the whole table is scanned for anything
that still names the customer.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from tests.stack_process import RunningStack, start_stack, stop_stack_cleanly

ROUNDS = int(os.environ.get("RELASI_RACE_ROUNDS", "4"))
WRITERS = 8  # parallel clients writing for the customer while it is erased
HISTORY = 30  # interactions the customer has before the erasure starts (a longer erasure: a wider window)
REGION = "ap-southeast-3"
PROBLEM = "application/problem+json"
_numbers = itertools.count(int(time.time()) % 10_000 * 100)


@pytest.fixture(scope="module")
def live() -> Iterator[RunningStack]:
    # Races need many requests from one token; the per-caller limits are attacked in tests/test_throttling.py.
    s = start_stack(SEED="none", RELASI_THROTTLE="off")
    yield s
    stop_stack_cleanly(s)


def phone() -> str:
    n = next(_numbers)
    return f"0813-{n // 10000 % 10000:04d}-{n % 10000:04d}"


def table(live: RunningStack) -> list[dict[str, Any]]:
    """Every item of the CRM table, as DynamoDB JSON (a consistent Scan of moto's table)."""
    client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{live.aws_port}", region_name=REGION,
                          aws_access_key_id="local", aws_secret_access_key="local")
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        page = client.scan(TableName="relasi-dev", ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


ERASURE_RECORD = {"pk", "sk", "type", "customer_id", "started_at", "expires_at"}


def remains_of(live: RunningStack, *needles: str) -> list[dict[str, Any]]:
    """Items of the table in which any of `needles` (an id, a text) appears anywhere, but the record
    that the erasure began (the id and the time only, for the sweeper: docs/security.md)."""
    found = [item for item in table(live) if any(n in json.dumps(item) for n in needles)]
    records = [i for i in found if i["type"]["S"] == "erasure_record"]
    assert all(set(r) == ERASURE_RECORD for r in records), records
    return [i for i in found if i not in records]


def executions(live: RunningStack, names: set[str]) -> dict[str, str]:
    sfn = boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{live.aws_port}", region_name=REGION,
                       aws_access_key_id="local", aws_secret_access_key="local")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
               if "escalation" in m["name"])
    found: dict[str, str] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        found.update({e["name"]: e["status"] for e in page["executions"] if e["name"] in names})
    return found


def new_customer(live: RunningStack, user: str, **fields: Any) -> dict[str, Any]:
    r = live.request("POST", "/customers", user, json={"name": "Race Subject", "phone": phone(), **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


def assert_problem(r: requests.Response, *statuses: int) -> dict[str, Any]:
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith(PROBLEM), r.headers
    return dict(r.json())


# --------------------------------------------------------------------------
# Erasure under concurrent writes
# --------------------------------------------------------------------------


def _vehicle(plate: str | None = None) -> dict[str, Any]:
    n = next(_numbers)
    return {"vin": f"MHRACE{n:011d}", "plate_no": plate or f"L {n % 10000} {'ABCDEFGH'[n // 10000 % 8]}RC",
            "make": "Honda", "model": "Brio", "year": 2020, "color": "Abu"}


def _writer(live: RunningStack, cid: str, n: int, marker: str, go: threading.Event,
            started: threading.Semaphore, erased: threading.Event) -> list[tuple[str, int, str | None]]:
    """Writes for `cid` (complaint, interaction, due item in turn) until one answers 404, or one more
    after the erasure answered; returns what it got."""
    got: list[tuple[str, int, str | None]] = []
    kinds: list[tuple[str, str, Callable[[int], dict[str, Any]]]] = [
        ("complaint", f"/customers/{cid}/complaints",
         lambda i: {"category": "service", "severity": "high", "subject": f"{marker} {n}.{i}",
                    "description": f"{marker} text {n}.{i}"}),
        ("interaction", f"/customers/{cid}/interactions",
         lambda i: {"channel": "phone", "direction": "inbound", "kind": "inquiry", "summary": f"{marker} {n}.{i}"}),
        ("due_item", f"/customers/{cid}/due-items",
         lambda i: {"kind": "service", "title": f"{marker} {n}.{i}", "due_date": "2030-01-0" + str(1 + i % 9)}),
        ("vehicle", f"/customers/{cid}/vehicles", lambda i: _vehicle()),  # detached by the erasure, not erased
    ]
    go.wait()
    for i in itertools.count():
        last = erased.is_set()
        kind, path, body = kinds[(n + i) % len(kinds)]
        r = live.request("POST", path, "agent.jakarta", json=body(i))
        got.append((kind, r.status_code, (r.json() or {}).get("id") if r.status_code == 201 else None))
        if i == 0:
            started.release()
        if r.status_code == 404 or last:
            break
    return got


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_after_an_erasure_nothing_of_the_customer_remains_whatever_was_written_meanwhile(
        live: RunningStack, round_: int) -> None:
    marker = f"ERASE-RACE-{time.time_ns()}"
    cid = new_customer(live, "agent.jakarta", email=f"race{time.time_ns()}@contoh.co.id")["id"]
    for i in range(HISTORY):
        r = live.request("POST", f"/customers/{cid}/interactions", "agent.jakarta",
                         json={"channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": f"{marker} h{i}"})
        assert r.status_code == 201, r.text
    go, started, done = threading.Event(), threading.Semaphore(0), threading.Event()

    def erase() -> requests.Response:
        try:
            return live.request("DELETE", f"/customers/{cid}", "manager.jakarta")
        finally:
            done.set()

    with ThreadPoolExecutor(WRITERS + 1) as pool:
        writers = [pool.submit(_writer, live, cid, n, marker, go, started, done) for n in range(WRITERS)]
        go.set()
        for _ in range(WRITERS):  # every writer is under way before the erasure starts
            started.acquire(timeout=60)
        erased = pool.submit(erase)
        results = [w.result() for w in writers]
        deleted = erased.result()

    assert deleted.status_code == 204, deleted.text
    statuses = {status for got in results for _, status, _ in got}
    assert statuses <= {201, 404}, statuses  # a write either landed before the erasure began, or is told the customer is gone
    assert all(got[-1][1] == 404 for got in results), "a write after the erasure answered is a 404"
    complaints = {cid_ for got in results for kind, status, cid_ in got if kind == "complaint" and cid_}
    assert live.request("GET", f"/customers/{cid}", "admin").status_code == 404
    for complaint in complaints:
        assert live.request("GET", f"/complaints/{complaint}", "admin").status_code == 404
    listed = live.request("GET", "/complaints?branch=jakarta&limit=100", "admin").json()["items"]
    assert not [c for c in listed if c["customer_id"] == cid]
    left = remains_of(live, cid, marker)
    assert not left, f"{len(left)} items survived the erasure, e.g. {left[:3]}"
    # the erased complaints' escalations end (stopped, or finding the complaint gone)
    deadline = time.monotonic() + 60
    while complaints and time.monotonic() < deadline:
        running = {name for name, status in executions(live, complaints).items() if status == "RUNNING"}
        if not running:
            break
        time.sleep(0.5)
    else:
        running = set()
    assert not running, f"escalations still running for erased complaints: {running}"


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_plate_registered_in_parallel_is_one_vehicle(live: RunningStack, round_: int) -> None:
    """Six desks register the same plate (any spelling) on six vehicles at once: one wins, five hear 409."""
    n = next(_numbers)
    plate = f"AB {n % 10000} {'JKLMNPRS'[n // 10000 % 8]}Z"
    spellings = [plate, plate.lower(), plate.replace(" ", ""), plate.replace(" ", "-"), plate.lower().replace(" ", ""),
                 plate.replace(" ", ".")]
    owners = [new_customer(live, "agent.jakarta")["id"] for _ in spellings]
    with ThreadPoolExecutor(len(spellings)) as pool:
        answers = list(pool.map(lambda pair: live.request("POST", f"/customers/{pair[0]}/vehicles", "agent.jakarta",
                                                          json=_vehicle(pair[1])), zip(owners, spellings, strict=True)))
    won = [r for r in answers if r.status_code == 201]
    assert len(won) == 1, [(r.status_code, r.text) for r in answers]
    for lost in (r for r in answers if r.status_code != 201):
        assert assert_problem(lost, 409)["field"] in ("plate_no",)
        assert lost.json()["existing_vin"] == won[0].json()["vin"]
    found = live.request("GET", f"/vehicles/lookup?plate={plate.replace(' ', '')}", "agent.jakarta").json()
    assert found["vehicle"]["vin"] == won[0].json()["vin"] and found["owner"]["id"] == won[0].json()["owner_id"]
    listed = [live.request("GET", f"/customers/{o}/vehicles", "agent.jakarta").json()["items"] for o in owners]
    assert sum(len(x) for x in listed) == 1  # the losers' transactions left no link behind


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_ten_bookings_racing_for_four_places_make_four_appointments(live: RunningStack, round_: int) -> None:
    """Ten desks book the same workshop hour (4 bays) at once: exactly 4 appointments, 6 answers 409 slot_full,
    and the slot shows no place left; cancelling one frees exactly one."""
    from tests.test_appointments import JAKARTA, at

    day = datetime.now(JAKARTA).date() + timedelta(days=20 + 7 * round_)  # a week apart: each round its own day
    day += timedelta(days=1 if day.weekday() == 6 else 0)
    booking = []
    for _ in range(10):
        cid = new_customer(live, "agent.jakarta")["id"]
        vin = live.request("POST", f"/customers/{cid}/vehicles", "agent.jakarta", json=_vehicle()).json()["vin"]
        booking.append((cid, {"vin": vin, "slot_start": at(day, 10), "service_type": "periodic"}))
    with ThreadPoolExecutor(len(booking)) as pool:
        answers = list(pool.map(lambda b: live.request("POST", f"/customers/{b[0]}/appointments", "agent.jakarta",
                                                       json=b[1]), booking))
    made = [r.json() for r in answers if r.status_code == 201]
    assert len(made) == 4, [(r.status_code, r.text) for r in answers if r.status_code != 201][:2]
    for refused in (r for r in answers if r.status_code != 201):
        assert assert_problem(refused, 409)["reason"] == "slot_full"
    def free() -> int:
        slots = live.request("GET", f"/branches/jakarta/appointment-slots?date={day}", "agent.jakarta").json()
        return int(next(s["free"] for s in slots["items"] if s["slot_start"] == at(day, 10)))
    assert free() == 0
    with ThreadPoolExecutor(2) as pool:  # the same cancel sent twice at once gives one place back
        list(pool.map(lambda _: live.request("PATCH", f"/appointments/{made[0]['id']}", "agent.jakarta",
                                             json={"status": "cancelled"}, headers={"If-Match": '"v1"'}), range(2)))
    assert free() == 1


def test_two_invoices_of_one_work_order_racing_make_one_order(live: RunningStack) -> None:
    """Two desks invoice the same completed work order at once: one order, which both answers name."""
    live.request("POST", "/products", "admin", json={"sku": "SVC-WORKSHOP", "name": "Jasa bengkel",
                                                     "category": "service_package", "unit": "package",
                                                     "list_price": "0"})
    cid = new_customer(live, "agent.jakarta")["id"]
    vin = live.request("POST", f"/customers/{cid}/vehicles", "agent.jakarta", json=_vehicle()).json()["vin"]
    eta = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    wo = live.request("POST", f"/vehicles/{vin}/work-orders", "agent.jakarta", json={
        "jobs": [{"description": "Servis", "estimate_amount": "500000"}], "eta": eta}).json()
    for n, status in enumerate(("in_progress", "completed")):
        moved = live.request("PATCH", f"/work-orders/{wo['id']}", "agent.jakarta", json={"status": status},
                             headers={"If-Match": f'"v{n + 1}"'})
        assert moved.status_code == 200, moved.text
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: live.request("POST", f"/work-orders/{wo['id']}/invoice", "agent.jakarta"),
                                range(2)))
    assert sorted(r.status_code for r in answers) == [200, 201], [r.text for r in answers]
    orders = live.request("GET", f"/customers/{cid}/orders", "agent.jakarta").json()["items"]
    assert len(orders) == 1 and orders[0]["ref"] == wo["id"]
    final = live.request("POST", f"/work-orders/{wo['id']}/invoice", "agent.jakarta")
    assert final.status_code == 200 and final.json()["order"]["id"] == orders[0]["id"]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_an_erasure_racing_a_new_email_leaves_the_email_free(live: RunningStack, round_: int) -> None:
    customer = new_customer(live, "agent.jakarta")
    cid = customer["id"]
    for i in range(HISTORY // 3):
        live.request("POST", f"/customers/{cid}/interactions", "agent.jakarta",
                     json={"channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": f"h{i}"})
    email = f"late{time.time_ns()}@contoh.co.id"
    with ThreadPoolExecutor(2) as pool:
        patched = pool.submit(live.request, "PATCH", f"/customers/{cid}", "agent.jakarta",
                              json={"email": email}, headers={"If-Match": f'"v{customer["version"]}"'})
        time.sleep(0.01 * round_)
        deleted = pool.submit(live.request, "DELETE", f"/customers/{cid}", "manager.jakarta")
        p, d = patched.result(), deleted.result()

    assert d.status_code == 204, d.text
    assert p.status_code in (200, 404, 412), p.text
    assert not remains_of(live, cid), "a guard or item of the erased customer is left"
    again = live.request("POST", "/customers", "agent.jakarta", json={"name": "Next Owner", "phone": phone(), "email": email})
    assert again.status_code == 201, again.text


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_an_erasure_racing_a_phone_change_is_never_a_false_not_found(live: RunningStack, round_: int) -> None:
    customer = new_customer(live, "agent.jakarta")
    cid = customer["id"]
    for i in range(HISTORY // 3):
        live.request("POST", f"/customers/{cid}/interactions", "agent.jakarta",
                     json={"channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": f"h{i}"})
    new_phone = phone()
    with ThreadPoolExecutor(2) as pool:
        deleted = pool.submit(live.request, "DELETE", f"/customers/{cid}", "manager.jakarta")
        time.sleep(0.01 * round_)
        patched = pool.submit(live.request, "PATCH", f"/customers/{cid}", "agent.jakarta",
                              json={"phone": new_phone}, headers={"If-Match": f'"v{customer["version"]}"'})
        d, p = deleted.result(), patched.result()

    assert d.status_code == 204, d.text  # the customer existed when the erasure was asked for
    assert p.status_code in (200, 404, 412), p.text
    assert live.request("GET", f"/customers/{cid}", "agent.jakarta").status_code == 404
    assert not remains_of(live, cid)
    again = live.request("POST", "/customers", "agent.jakarta", json={"name": "Next Owner", "phone": new_phone})
    assert again.status_code == 201, again.text


# --------------------------------------------------------------------------
# What a 404 and a 409 reveal across branches
# --------------------------------------------------------------------------


def test_a_contact_held_in_another_branch_is_a_409_that_names_no_customer(live: RunningStack) -> None:
    email = f"held{time.time_ns()}@contoh.co.id"
    held = new_customer(live, "agent.jakarta", email=email)
    own = new_customer(live, "agent.bandung")

    def attempts(user: str) -> list[requests.Response]:
        return [
            live.request("POST", "/customers", user, json={"name": "Probe", "phone": held["phone"]}),
            live.request("POST", "/customers", user, json={"name": "Probe", "phone": phone(), "email": email}),
            live.request("PATCH", f"/customers/{own['id']}", "agent.bandung" if user != "admin" else "admin",
                         json={"phone": held["phone"]}, headers={"If-Match": f'"v{own["version"]}"'}),
        ]

    with ThreadPoolExecutor(3) as pool:
        other, mine, everyone = pool.map(attempts, ["agent.bandung", "manager.bandung", "admin"])
    for r in other + mine:
        body = assert_problem(r, 409)
        assert held["id"] not in r.text, body
        assert "existing_customer_id" not in body
    for r in everyone[:2]:
        assert assert_problem(r, 409)["existing_customer_id"] == held["id"]
    same_branch = live.request("POST", "/customers", "agent.jakarta", json={"name": "Probe", "phone": held["phone"]})
    assert assert_problem(same_branch, 409)["existing_customer_id"] == held["id"]


def _comparable(r: requests.Response) -> tuple[int, str, str]:
    return r.status_code, r.headers.get("Content-Type", ""), r.text


def test_another_branch_customer_and_no_customer_answer_alike_on_every_route(live: RunningStack) -> None:
    held = new_customer(live, "agent.jakarta", email=f"hidden{time.time_ns()}@contoh.co.id")
    complaint = live.request("POST", f"/customers/{held['id']}/complaints", "agent.jakarta",
                             json={"category": "service", "severity": "low", "subject": "s", "description": "d"}).json()
    vehicle = live.request("POST", f"/customers/{held['id']}/vehicles", "agent.jakarta", json=_vehicle()).json()
    missing_customer = "01" + "J" * 24
    missing_complaint = "01" + "K" * 24
    missing_vehicle = _vehicle()
    probes: list[tuple[str, str, Any, dict[str, str]]] = [
        ("GET", "/customers/lookup?phone={phone}", None, {}),
        ("GET", "/customers/lookup?email={email}", None, {}),
        ("GET", "/customers/{cid}", None, {}),
        ("PATCH", "/customers/{cid}", {"city": "Bogor"}, {"If-Match": '"v1"'}),
        ("PATCH", "/customers/{cid}", {"city": "Bogor"}, {}),
        ("DELETE", "/customers/{cid}", None, {}),
        ("PUT", "/customers/{cid}/consent", {"sms_marketing": {"value": True, "source": "probe"}}, {}),
        ("POST", "/customers/{cid}/interactions", {"channel": "phone", "direction": "inbound", "kind": "inquiry",
                                                   "summary": "probe"}, {}),
        ("GET", "/customers/{cid}/interactions", None, {}),
        ("GET", "/customers/{cid}/timeline", None, {}),
        ("POST", "/customers/{cid}/complaints", {"category": "service", "severity": "low", "subject": "s",
                                                 "description": "d"}, {}),
        ("POST", "/customers/{cid}/due-items", {"kind": "service", "title": "t", "due_date": "2030-01-01"}, {}),
        ("GET", "/customers/{cid}/due-items", None, {}),
        ("DELETE", "/customers/{cid}/due-items/01" + "M" * 24, None, {}),
        ("GET", "/complaints/{xid}", None, {}),
        ("PATCH", "/complaints/{xid}", {"status": "acknowledged"}, {"If-Match": '"v1"'}),
        ("POST", "/customers/{cid}/vehicles", _vehicle(), {}),
        ("GET", "/customers/{cid}/vehicles", None, {}),
        ("GET", "/vehicles/{vin}", None, {}),
        ("GET", "/vehicles/lookup?plate={plate}", None, {}),
        ("PATCH", "/vehicles/{vin}", {"color": "Hitam"}, {"If-Match": '"v1"'}),
    ]
    unknown_phone, unknown_email = phone(), f"nobody{time.time_ns()}@contoh.co.id"
    for method, template, body, headers in probes:
        there = template.format(phone=held["phone"].replace("+", "%2B"), email=held["email"], cid=held["id"],
                                xid=complaint["id"], vin=vehicle["vin"], plate=vehicle["plate_no"].replace(" ", ""))
        nowhere = template.format(phone=unknown_phone, email=unknown_email, cid=missing_customer, xid=missing_complaint,
                                  vin=missing_vehicle["vin"], plate=missing_vehicle["plate_no"].replace(" ", ""))
        user = "manager.bandung"
        a = live.request(method, there, user, json=body, headers=headers)
        b = live.request(method, nowhere, user, json=body, headers=headers)
        assert _comparable(a) == _comparable(b), (method, template, a.status_code, a.text, b.status_code, b.text)
        assert a.status_code == 404, (method, template, a.text)
    assert live.request("GET", f"/customers/{held['id']}", "agent.jakarta").status_code == 200  # nothing was changed


# --------------------------------------------------------------------------
# Cursors carry position, not authority; everything of a customer follows a move
# --------------------------------------------------------------------------


def test_a_cursor_is_no_pass_once_the_customer_is_out_of_reach(live: RunningStack) -> None:
    customer = new_customer(live, "agent.jakarta")
    cid = customer["id"]
    for i in range(5):
        live.request("POST", f"/customers/{cid}/interactions", "agent.jakarta",
                     json={"channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": f"h{i}"})
    cursors = {}
    for what in ("interactions", "timeline"):
        first = live.request("GET", f"/customers/{cid}/{what}?limit=2", "agent.jakarta")
        assert first.status_code == 200 and first.json()["next_cursor"], first.text
        cursors[what] = first.json()["next_cursor"]
    moved = live.request("PATCH", f"/customers/{cid}", "admin", json={"branch_id": "bandung"},
                         headers={"If-Match": f'"v{customer["version"]}"'})
    assert moved.status_code == 200, moved.text
    for what, cursor in cursors.items():
        r = live.request("GET", f"/customers/{cid}/{what}?limit=2&cursor={cursor}", "agent.jakarta")
        assert_problem(r, 404)


def test_a_moved_customer_takes_their_complaints_along(live: RunningStack) -> None:
    customer = new_customer(live, "agent.jakarta")
    cid = customer["id"]
    opened = [live.request("POST", f"/customers/{cid}/complaints", "agent.jakarta",
                           json={"category": "service", "severity": "low", "subject": f"s{i}", "description": "d"})
              for i in range(3)]
    assert all(r.status_code == 201 for r in opened)
    moved = live.request("PATCH", f"/customers/{cid}", "admin", json={"branch_id": "bandung"},
                         headers={"If-Match": f'"v{customer["version"]}"'})
    assert moved.status_code == 200, moved.text
    for r in opened:
        xid = r.json()["id"]
        assert_problem(live.request("GET", f"/complaints/{xid}", "agent.jakarta"), 404)
        assert_problem(live.request("PATCH", f"/complaints/{xid}", "agent.jakarta", json={"assignee": "x"},
                                    headers={"If-Match": '"v1"'}), 404)
        there = live.request("GET", f"/complaints/{xid}", "agent.bandung")
        assert there.status_code == 200 and there.json()["branch_id"] == "bandung", there.text
    listed = {c["id"] for c in live.request("GET", "/complaints?limit=100", "agent.bandung").json()["items"]}
    assert {r.json()["id"] for r in opened} <= listed
    left = {c["id"] for c in live.request("GET", "/complaints?limit=100", "agent.jakarta").json()["items"]}
    assert not {r.json()["id"] for r in opened} & left


def test_two_schedules_racing_start_one_sending_and_the_other_is_refused(live: RunningStack) -> None:
    """Two people press schedule on the same draft at once (the same ETag): one 200, one 409/412, one
    execution; the campaign sends once."""
    made = live.request("POST", "/campaigns", "marketing", json={
        "name": "Race", "channel": "sms", "purpose": "promotion",
        "audience": {"tags_any": [f"race{next(_numbers)}"]}, "messages": {"id": "Halo", "en": "Hi"}})
    assert made.status_code == 201, made.text
    cid, etag = made.json()["id"], made.headers["ETag"]
    go = threading.Event()

    def schedule() -> int:
        go.wait()
        return live.request("POST", f"/campaigns/{cid}/schedule", "marketing", headers={"If-Match": etag}).status_code

    with ThreadPoolExecutor(2) as pool:
        answers = [pool.submit(schedule) for _ in range(2)]
        go.set()
        codes = sorted(a.result() for a in answers)
    assert codes[0] == 200 and codes[1] in (409, 412), codes
    sfn = boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{live.aws_port}", region_name=REGION,
                       aws_access_key_id="local", aws_secret_access_key="local")
    machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                   if m["name"] == "relasi-dev-campaigns")
    mine = [e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if cid in e["name"]]
    assert len(mine) == 1
