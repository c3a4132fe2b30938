"""`make run` end to end: the local stack as a real process, driven over real HTTP.

Starts `python -m infra.local_stack` exactly as `make run` does (cwd = project
root, demo data on, free loopback ports in RELASI_API_PORT/RELASI_AWS_PORT),
waits for its `ready` line, gets ID tokens the way `make token USER=...` does
(`python -m infra.token <user>`), then talks to 127.0.0.1 with `requests` as
a web client would. The stack starts once for the module and is stopped with
Ctrl-C (SIGINT) at the end, which must exit 0.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import requests

from tests.stack_process import (
    READY,
    ROOT,
    STACK_COMMAND,
    RunningStack,
    stack_env,
    start_stack,
    stop_stack,
    stop_stack_cleanly,
    two_free_ports,
)

REGION = "ap-southeast-3"
PROBLEM = "application/problem+json"
ALLOWED_ORIGIN = "http://localhost:3000"  # in CORS_ALLOWED_ORIGINS of the dev stage (.chalice/config.json)


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    s = start_stack()
    yield s
    stop_stack_cleanly(s)


def unique_local_phone() -> str:
    """An Indonesian mobile number in local form, outside the demo data's prefixes."""
    n = random.Random(f"{os.getpid()}-{time.time_ns()}").randint(0, 99_999_999)
    return f"0815-{n // 10000:04d}-{n % 10000:04d}"


def assert_problem(r: requests.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith(PROBLEM), r.headers
    body = r.json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status
    return dict(body)


# --- the tests ---------------------------------------------------------------

def test_ready_line_names_the_ports(stack: RunningStack) -> None:
    ready = next(line for line in stack.lines if READY in line)
    assert f"127.0.0.1:{stack.api_port}" in ready and f"127.0.0.1:{stack.aws_port}" in ready


def test_health(stack: RunningStack) -> None:
    r = stack.request("GET", "/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}


def test_the_terminal_shows_a_line_per_request_and_the_log_file_every_structured_line(stack: RunningStack) -> None:
    assert stack.request("GET", "/health").status_code == 200
    deadline = time.monotonic() + 10
    while not any("GET /health -> 200" in line for line in stack.lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("GET /health -> 200" in line for line in stack.lines), stack.lines[-20:]
    assert not [line for line in stack.lines if line.lstrip().startswith("{")]  # no JSON on the terminal
    assert not [line for line in stack.lines if "UserWarning" in line]
    (named,) = [line for line in stack.lines if line.startswith("logs: ")]
    log = Path(named.split(" goes to ")[1].split(";")[0])
    logged = log.read_text(encoding="utf-8").splitlines()
    assert any('"message":"request"' in line and '"route":"/health"' in line for line in logged)
    assert any('"_aws"' in line for line in logged)  # the metrics, for whoever wants them


def test_agent_lists_seeded_customers_of_own_branch_page_by_page(stack: RunningStack) -> None:
    first = stack.request("GET", "/customers", "agent.jakarta", params={"limit": 10})
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 10
    assert {c["branch_id"] for c in page["items"]} == {"jakarta"}
    assert page["next_cursor"]  # ~67 seeded jakarta customers: more than one page

    second = stack.request("GET", "/customers", "agent.jakarta", params={"limit": 10, "cursor": page["next_cursor"]})
    assert second.status_code == 200, second.text
    page2 = second.json()
    assert page2["items"]
    assert {c["branch_id"] for c in page2["items"]} == {"jakarta"}
    assert not {c["id"] for c in page["items"]} & {c["id"] for c in page2["items"]}

    tampered = page["next_cursor"][:-2] + ("AA" if not page["next_cursor"].endswith("AA") else "BB")
    assert_problem(stack.request("GET", "/customers", "agent.jakarta", params={"limit": 10, "cursor": tampered}), 400)


def test_customer_life_cycle_as_a_web_client(stack: RunningStack) -> None:
    agent = "agent.jakarta"
    phone = unique_local_phone()
    created = stack.request("POST", "/customers", agent, json={"name": "Rina Halim", "phone": phone})
    assert created.status_code == 201, created.text
    c = created.json()
    cid = c["id"]
    assert created.headers["Location"] == f"/customers/{cid}"
    assert created.headers["ETag"] == '"v1"'
    assert c["branch_id"] == "jakarta"
    assert c["phone"] == "+62" + phone.replace("-", "")[1:]

    got = stack.request("GET", f"/customers/{cid}", agent)
    assert got.status_code == 200
    assert got.json() == c
    etag = got.headers["ETag"]
    assert etag == created.headers["ETag"]

    patched = stack.request("PATCH", f"/customers/{cid}", agent, json={"city": "Depok", "tags": ["vip"]},
                            headers={"If-Match": etag})
    assert patched.status_code == 200, patched.text
    assert patched.json()["city"] == "Depok" and patched.json()["tags"] == ["vip"]
    assert patched.headers["ETag"] not in ("", etag)
    assert patched.json()["version"] == c["version"] + 1

    stale = stack.request("PATCH", f"/customers/{cid}", agent, json={"city": "Bekasi"}, headers={"If-Match": etag})
    assert_problem(stale, 412)
    assert_problem(stack.request("PATCH", f"/customers/{cid}", agent, json={"city": "Bekasi"}), 428)
    assert stack.request("GET", f"/customers/{cid}", agent).json()["city"] == "Depok"

    added = stack.request("POST", f"/customers/{cid}/interactions", agent,
                          json={"channel": "phone", "direction": "inbound", "kind": "inquiry",
                                "summary": "Asked about the service schedule."})
    assert added.status_code == 201, added.text
    interaction = added.json()
    assert added.headers["Location"] == f"/customers/{cid}/interactions/{interaction['id']}"

    timeline = stack.request("GET", f"/customers/{cid}/timeline", agent)
    assert timeline.status_code == 200, timeline.text
    entries = [e for e in timeline.json()["items"] if e["id"] == interaction["id"]]
    assert len(entries) == 1 and entries[0]["type"] == "interaction"
    assert entries[0]["summary"] == "Asked about the service schedule."

    found = stack.request("GET", "/customers/lookup", agent, params={"phone": phone})
    assert found.status_code == 200, found.text
    assert found.json()["id"] == cid

    assert_problem(stack.request("GET", f"/customers/{cid}", "agent.bandung"), 404)

    assert_problem(stack.request("DELETE", f"/customers/{cid}", agent), 403)
    deleted = stack.request("DELETE", f"/customers/{cid}", "manager.jakarta")
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    assert_problem(stack.request("GET", f"/customers/{cid}", agent), 404)
    assert_problem(stack.request("GET", "/customers/lookup", agent, params={"phone": phone}), 404)


def test_no_token_is_401_problem_json(stack: RunningStack) -> None:
    body = assert_problem(stack.request("GET", "/customers"), 401)
    assert body["title"]
    assert_problem(stack.request("GET", "/customers", headers={"Authorization": "Bearer not-a-jwt"}), 401)


def test_cors_preflight_and_exposed_headers(stack: RunningStack) -> None:
    pre = stack.request("OPTIONS", "/customers", headers={"Origin": ALLOWED_ORIGIN,
                                                          "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Headers": "authorization,if-match"})
    assert pre.status_code in (200, 204), pre.text
    assert pre.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    allowed = {h.strip().lower() for h in pre.headers.get("Access-Control-Allow-Headers", "").split(",")}
    assert {"authorization", "if-match", "idempotency-key"} <= allowed, pre.headers
    methods = {m.strip() for m in pre.headers.get("Access-Control-Allow-Methods", "").split(",")}
    assert {"GET", "POST"} <= methods, pre.headers

    got = stack.request("GET", "/customers", "agent.jakarta", params={"limit": 1}, headers={"Origin": ALLOWED_ORIGIN})
    assert got.status_code == 200
    assert got.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    exposed = {h.strip().lower() for h in got.headers.get("Access-Control-Expose-Headers", "").split(",")}
    assert {"etag", "location"} <= exposed, got.headers

    for method, user in (("OPTIONS", None), ("GET", "agent.jakarta")):
        other = stack.request(method, "/customers", user, headers={"Origin": "http://evil.example",
                                                                   "Access-Control-Request-Method": "POST"})
        assert other.status_code < 500
        assert "Access-Control-Allow-Origin" not in other.headers, (method, other.headers)


def test_one_caller_probing_lookups_in_bulk_is_throttled(stack: RunningStack) -> None:
    """`make run` enforces the deployed per-caller limits (infra/template.yaml ApiWebAcl, infra/throttle.py)."""
    import yaml

    template = yaml.safe_load((ROOT / "infra" / "template.yaml").read_text())
    limit = int(template["Parameters"]["ThrottleCallerLookups"]["Default"])
    token = stack.token("manager.surabaya")  # no other test here looks customers up as this user
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        statuses = [session.get(f"{stack.base}/customers/lookup", params={"phone": unique_local_phone()},
                                timeout=60).status_code for _ in range(limit + 1)]
        blocked = session.get(f"{stack.base}/customers/lookup", params={"phone": unique_local_phone()}, timeout=60)
    assert statuses[:limit] == [404] * limit and statuses[limit] == 429
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert blocked.json()["type"] == "/problems/too-many-requests"
    assert stack.request("GET", "/customers?limit=1", "manager.surabaya").status_code == 200  # other routes go on


def test_aws_side_has_the_table_and_the_user_pool(stack: RunningStack) -> None:
    import boto3

    kw: dict[str, Any] = dict(endpoint_url=f"http://127.0.0.1:{stack.aws_port}", region_name=REGION,
                              aws_access_key_id="local", aws_secret_access_key="local")
    tables = boto3.client("dynamodb", **kw).list_tables()["TableNames"]
    assert "relasi-dev" in tables, tables
    pools = boto3.client("cognito-idp", **kw).list_user_pools(MaxResults=60)["UserPools"]
    assert "relasi-dev" in [p["Name"] for p in pools], pools


def test_taken_api_port_fails_fast_naming_the_port() -> None:
    api_port, aws_port = two_free_ports()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", api_port))
        taken.listen(1)
        started = time.monotonic()
        done = subprocess.run(STACK_COMMAND, cwd=ROOT,
                              env=stack_env(api_port, aws_port), capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
    assert done.returncode != 0, done
    assert str(api_port) in done.stderr, done.stderr
    assert "ready" not in done.stdout
    assert elapsed < 20, f"took {elapsed:.1f} s to give up"


def test_ctrl_c_stops_while_clients_hold_connections_open() -> None:
    """A browser keeps its connection open after a page (HTTP/1.1 keep-alive), and a client may stall
    half-way through a request; neither may keep `make run` from stopping on Ctrl-C."""
    s = start_stack(SEED="none")
    idle = socket.create_connection(("127.0.0.1", s.api_port), timeout=10)
    stalled = socket.create_connection(("127.0.0.1", s.api_port), timeout=10)
    try:
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200"), "the kept-alive connection got no answer"
        stalled.sendall(b"GET /health HTTP/1.1\r\nHost: 12")
        time.sleep(0.5)  # both connections now each hold a request thread of the stack
        stop_stack_cleanly(s)
    finally:
        idle.close()
        stalled.close()


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are (no client library tidies them) and reads the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "PUT"])
def test_a_method_no_route_has_is_refused_as_api_gateway_does(stack: RunningStack, method: str) -> None:
    """API Gateway answers a method the resource does not define with MISSING_AUTHENTICATION_TOKEN
    (403, problem+json by the template's gateway responses), token or not; never an HTML page or a 5xx."""
    for path in ("/customers", "/health", "/nowhere"):
        status, headers, body = _raw(stack.api_port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
                                     f"Connection: close\r\n\r\n".encode())
        assert status == 403, (method, path, status, body)
        assert headers["content-type"] == PROBLEM, headers
        assert json.loads(body)["status"] == 403
    r = stack.request(method if method != "CONNECT" else "PUT", "/customers", "agent.jakarta")
    assert_problem(r, 403)


def test_oversize_headers_and_overlong_urls_are_problems_not_pages(stack: RunningStack) -> None:
    status, headers, body = _raw(stack.api_port, b"GET /customers?q=" + b"a" * 70_000 + b" HTTP/1.1\r\n"
                                 b"Host: x\r\nConnection: close\r\n\r\n")
    assert (status, headers["content-type"], json.loads(body)["status"]) == (414, PROBLEM, 414), body
    status, headers, body = _raw(stack.api_port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 70_000
                                 + b"\r\nConnection: close\r\n\r\n")
    assert (status, headers["content-type"], json.loads(body)["status"]) == (431, PROBLEM, 431), body
    status, headers, body = _raw(stack.api_port, b"GET /health HTTP/1.1\r\nHost: x\r\n"
                                 + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"Connection: close\r\n\r\n")
    assert (status, headers["content-type"], json.loads(body)["status"]) == (431, PROBLEM, 431), body
    assert stack.request("GET", "/health").status_code == 200  # and the stack serves on


def test_ctrl_c_stops_the_stack_whichever_of_its_threads_the_kernel_hands_it_to() -> None:
    """The kernel may deliver a process's SIGINT to any of its threads; Python then only sets a flag for
    the main thread. A stack whose main thread slept in an untimed wait never stopped (seen in CI). Each
    thread gets the signal here, directly (tgkill), until the stack has stopped."""
    import ctypes

    s = start_stack(SEED="none")
    libc = ctypes.CDLL(None, use_errno=True)
    tgkill = 234  # x86_64 syscall number; elsewhere the test only checks the plain Ctrl-C
    others = [int(t) for t in os.listdir(f"/proc/{s.proc.pid}/task") if int(t) != s.proc.pid]
    assert others, "the stack runs threads besides its main one"
    if os.uname().machine == "x86_64":
        assert libc.syscall(tgkill, s.proc.pid, others[-1], int(signal.SIGINT)) == 0, ctypes.get_errno()
        try:
            assert s.proc.wait(timeout=30) == 0
        finally:
            stop_stack(s)  # closes what start_stack opened; kills the stack if it is still there
    else:
        stop_stack_cleanly(s)


def test_demo_data_has_eighteen_months_of_history_that_the_analyses_show(stack: RunningStack) -> None:
    """infra/seed.py: customers joined over 18 months, complaints resolved in time and late (escalated), a run of
    battery defects in Surabaya last week; yesterday is exported, so the analyses have something to show."""
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    year = {"from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat()}
    summary = stack.request("GET", "/analytics/summary", "admin", params=year).json()
    joined_months = {d["date"][:7] for d in summary["new_customers"]["per_day"] if d["n"]}
    assert len(joined_months) >= 10, joined_months  # not all created today
    assert summary["new_customers"]["total"] < summary["customers_total"]  # some joined more than a year ago
    complaints = summary["complaints"]
    assert complaints["resolved"] >= 30 and complaints["sla_breaches"] >= 5, complaints
    assert summary["interactions"]["total"] >= 500

    closed = stack.request("GET", "/complaints", "admin", params={"status": "closed", "limit": 100}).json()["items"]
    late = next(c for c in closed if c["breached"] and c["escalation_level"] >= 1)
    history = stack.request("GET", f"/complaints/{late['id']}", "admin").json()["history"]
    assert [h["to"] for h in history if h["change"] == "escalation"][-1] == f"L{late['escalation_level']}"
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)

    exports = stack.request("GET", "/analytics/exports", "admin").json()["items"]
    assert any(e["date"] == (today - timedelta(days=1)).isoformat() and e["status"] == "succeeded" for e in exports)
    insights = stack.request("GET", "/analytics/insights", "admin", params={"branch": "surabaya"}).json()
    assert any(g["category"] == "quality_control" and g["complaints"] >= 5
               for g in insights["complaint_root_causes"]["growing"]), insights["complaint_root_causes"]
    anomalies = stack.request("GET", "/analytics/anomalies", "admin").json()["items"]
    assert {("surabaya", "complaints"), ("bandung", "interactions")} <= {(a["branch_id"], a["metric"])
                                                                       for a in anomalies}, anomalies
    churn = stack.request("GET", "/analytics/churn-risk", "admin", params={"branch": "jakarta", "limit": 5}).json()
    assert churn["items"] and any(r.startswith("no_contact") for r in churn["items"][0]["reasons"])
    # the surveys of the complaints resolved lately, some answered: the dashboard's satisfaction has numbers
    window = {"from": (today - timedelta(days=90)).isoformat(), "to": today.isoformat(), "by": "staff"}
    satisfaction = stack.request("GET", "/analytics/satisfaction", "admin", params=window).json()
    assert satisfaction["totals"]["answered"] >= 3 and satisfaction["totals"]["sent"] > satisfaction["totals"][
        "answered"], satisfaction["totals"]
    # the demo agents' own ids (the user pool's), named: their history is theirs, one row each
    assert {i["name"] for i in satisfaction["items"]} >= {"agent.jakarta", "agent.bandung", "agent.surabaya"}
    assert not any(i["key"].startswith("agent.") for i in satisfaction["items"])


def test_only_todays_demo_complaints_were_announced_and_escalate(stack: RunningStack) -> None:
    """The history arrives resolved: no receipt SMS and no escalation for it (the stream consumer's rule for a
    complaint inserted resolved); the few opened today went through the real flow."""
    from infra.seed import OPEN_TODAY

    unresolved = [c for status in ("open", "acknowledged", "in_progress")
                  for c in stack.request("GET", "/complaints", "admin", params={"status": status}).json()["items"]]
    assert len(unresolved) == len(OPEN_TODAY)
    deadline = time.monotonic() + 60
    while True:
        sent = requests.get(f"http://127.0.0.1:{stack.aws_port}/_relasi/outbox", timeout=30).json()["messages"]
        receipts = [m for m in sent if "reference" in m["text"] or "nomor" in m["text"]]
        if len(receipts) >= len(OPEN_TODAY) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(receipts) == len(OPEN_TODAY), receipts
    sfn = boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{stack.aws_port}", region_name=REGION,
                       aws_access_key_id="local", aws_secret_access_key="local")
    machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                   if "escalation" in m["name"])
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert sorted(e["name"] for e in executions) == sorted(c["id"] for c in unresolved)


def test_demo_orders_have_shipments_in_every_state_revenue_and_late_ones_for_the_job(stack: RunningStack) -> None:
    """A year of orders: shipped ones carry a shipment with its carrier events (delivered, on the way, delayed),
    the revenue counters count them, and a few past their promised date wait for `make trigger JOB=late-deliveries`."""
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    states: set[str] = set()
    for status in ("delivered", "shipped", "closed"):
        page = stack.request("GET", "/orders", "admin", params={"status": status, "limit": 100}).json()["items"]
        for order in page[:25]:
            full = stack.request("GET", f"/orders/{order['id']}", "admin").json()
            states |= {s["status"] for s in full["shipments"]}
            assert len(full["shipments"]) == 1 and full["shipments"][0]["events"]
    assert {"delivered", "in_transit"} <= states and len(states) >= 3, states
    year = {"from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat(), "by": "month"}
    revenue = stack.request("GET", "/analytics/revenue", "admin", params=year).json()
    assert revenue["totals"]["orders"] >= 20 and len(revenue["items"]) >= 6, revenue["totals"]
    from infra.trigger import trigger

    report = trigger("late-deliveries", today, stack.aws_port)
    assert report["result"]["complaints_opened"] >= 1, report


def test_demo_service_has_vehicles_a_week_of_appointments_and_work_orders_in_every_state(
        stack: RunningStack) -> None:
    """infra/seed.py `_service`: vehicles for about half the customers, appointments on the branches' next open days,
    work orders in every state on each branch's board; their customers were told (`make outbox`)."""
    from infra.seed import WORK_ORDER_STATES

    for branch in ("jakarta", "bandung", "surabaya"):
        board = stack.request("GET", "/work-orders", f"agent.{branch}", params={"branch": branch}).json()["items"]
        open_states = {s for s, _ in WORK_ORDER_STATES if s not in ("closed", "cancelled")}
        assert {w["status"] for w in board} >= open_states, (branch, board)
        stages = {w["stage"] for w in board if w["status"] == "in_progress"}
        assert stages >= {"inspecting", "waiting_approval", "waiting_parts", "repairing"}, stages
        first = stack.request("GET", f"/work-orders/{board[0]['id']}", f"agent.{branch}").json()
        plate_of = stack.request("GET", f"/vehicles/{first['vin']}", f"agent.{branch}").json()["plate_no"]
        found = stack.request("GET", "/vehicles/lookup", f"agent.{branch}", params={"plate": plate_of}).json()
        assert found["owner"]["name"] and any(w["id"] == first["id"] for w in found["open_work_orders"])
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    free = []
    for n in range(1, 8):
        day = today + timedelta(days=n)
        slots = stack.request("GET", "/branches/jakarta/appointment-slots", "agent.jakarta",
                              params={"date": day.isoformat()}).json()["items"]
        free += [s["free"] for s in slots]
    assert any(f < 4 for f in free)  # some places are taken
    # the customer of a completed work order was told (sent, or waiting for the quiet hours to end)
    board = stack.request("GET", "/work-orders", "agent.jakarta", params={"branch": "jakarta",
                                                                          "status": "completed"}).json()["items"]
    customer = stack.request("GET", f"/work-orders/{board[0]['id']}", "agent.jakarta").json()["customer_id"]
    deadline = time.monotonic() + 60
    while True:
        told = [i for i in stack.request("GET", f"/customers/{customer}/interactions", "agent.jakarta",
                                         params={"limit": 50}).json()["items"]
                if i["kind"] == "service_update" and ("siap diambil" in i["summary"] or "ready" in i["summary"])]
        if told or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert told and told[0]["delivery"] in ("sent", "pending"), told
