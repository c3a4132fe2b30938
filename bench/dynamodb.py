"""DynamoDB requests per API operation, counted on the local stack.

The app runs exactly as in the tests: moto in this process (infra.local_stack),
the Chalice app behind the local API Gateway (infra.gateway.test_client) and
real Cognito ID tokens. Every botocore API call of this thread is recorded by
wrapping `botocore.client.BaseClient._make_api_call`, which every client goes
through: PynamoDB's own client, the boto3 client of the Powertools idempotency
layer, and any other. Calls are kept by service, operation and table, so the
tables show the main table and the idempotency table apart; calls to other
services are listed but not counted. The JWKS download of the authorizer is
plain HTTP (PyJWT), cached per process, and not an AWS call.

The scenario runs twice on fresh data: the first pass warms the process
(clients, JWKS, lazy imports) and is only compared; the second is reported,
as a warm Lambda would serve it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import socket
import sys
import threading
import time
import urllib.parse
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench import PROJECT_DIR

PAGE = 10  # page size of the paged reads, so a small history has a second page
BATCH_WRITE_MAX = 25  # DynamoDB's BatchWriteItem limit; PynamoDB splits by it
DELETE_SIZES = (0, 5, 120)  # interactions of the customers erased to check the DELETE formula


@dataclass
class AwsCall:
    service: str
    operation: str
    table: str  # "main", "idempotency", another table's name, or "" (no table)
    items: int  # items written or checked (transactions, batches); 0 otherwise
    scanned: int | None = None  # items a Query or Scan read (before its filter), from the answer


class Recorder:
    """Counts every botocore API call made by the thread that installed it."""

    def __init__(self, table_labels: dict[str, str]) -> None:
        self.table_labels = table_labels
        self.thread = threading.get_ident()
        self._calls: list[AwsCall] | None = None
        self._original: Callable[..., Any] | None = None

    def install(self) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        recorder = self

        def counting(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            calls = recorder._calls
            if calls is None or threading.get_ident() != recorder.thread:
                return original(client, operation_name, api_params)
            call = recorder._describe(client, operation_name, api_params)
            calls.append(call)  # before the call: a refused request (e.g. a failed condition) counts too
            answer = original(client, operation_name, api_params)
            if isinstance(answer, dict) and "ScannedCount" in answer:
                call.scanned = int(answer["ScannedCount"])
            return answer

        self._original = original
        BaseClient._make_api_call = counting  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from botocore.client import BaseClient

        if self._original is not None:
            BaseClient._make_api_call = self._original  # type: ignore[method-assign]
            self._original = None

    def _label(self, table: str | None) -> str:
        if not table:
            return ""
        return self.table_labels.get(table, table)

    def _describe(self, client: Any, operation: str, params: dict[str, Any]) -> AwsCall:
        service = client.meta.service_model.service_name
        tables: set[str] = set()
        items = 0
        if "TransactItems" in params:
            for entry in params["TransactItems"]:
                for op in entry.values():
                    tables.add(op.get("TableName", ""))
                items += 1
        elif "RequestItems" in params:
            for table, requests in params["RequestItems"].items():
                tables.add(table)
                items += len(requests) if isinstance(requests, list) else len(requests.get("Keys", []))
        elif "TableName" in params:
            tables.add(params["TableName"])
        label = ",".join(sorted(self._label(t) for t in tables))
        return AwsCall(service, operation, label, items)

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[AwsCall]]:
        calls: list[AwsCall] = []
        self._calls = calls
        try:
            yield calls
        finally:
            self._calls = None


# --- what each operation is held to --------------------------------------------------------------


@dataclass
class Op:
    name: str
    kind: str  # read | page | parts | create | replay | write | delete
    status: int = 0
    expected_status: int = 200
    calls: list[AwsCall] = field(default_factory=list)
    note: str = ""
    delete_size: int | None = None  # interactions erased with the customer
    parts: tuple[str, ...] = ()  # a page (or lookup) that shows several things: one request per part

    @property
    def dynamodb(self) -> list[AwsCall]:
        return [c for c in self.calls if c.service == "dynamodb"]

    @property
    def others(self) -> list[AwsCall]:
        return [c for c in self.calls if c.service != "dynamodb"]

    def main(self) -> list[AwsCall]:
        return [c for c in self.dynamodb if c.table != "idempotency"]

    def idempotency(self) -> list[AwsCall]:
        return [c for c in self.dynamodb if c.table == "idempotency"]

    @property
    def target(self) -> str:
        return {
            "read": "1 request",
            "page": "2 requests (the profile, for the access check, and the page)",
            "create": "<= 1 TransactWriteItems (+ idempotency record)",
            "replay": "no write to the main table (+ idempotency record)",
            "write": "no target in the issue",
            "delete": "formula (see below)",
            "parts": f"{len(self.parts)} request{'' if len(self.parts) == 1 else 's'}, one per part: "
                       + ", ".join(self.parts),
        }[self.kind]

    def verdict(self) -> str:
        if self.status != self.expected_status:
            return f"ERROR: HTTP {self.status}, expected {self.expected_status}"
        main, idem = self.main(), self.idempotency()
        if self.kind == "parts":
            return "meets" if len(self.dynamodb) <= len(self.parts) else f"MISSES ({len(self.dynamodb)} requests)"
        if self.kind in ("read", "page"):
            wanted = 1 if self.kind == "read" else 2
            return "meets" if len(self.dynamodb) == wanted else f"MISSES ({len(self.dynamodb)} requests)"
        if self.kind in ("create", "replay"):
            transactions = [c for c in main if c.operation == "TransactWriteItems"]
            allowed = 1 if self.kind == "create" else 0
            ok = len(main) == len(transactions) and len(transactions) <= allowed and len(idem) <= 2
            return "meets" if ok else f"MISSES ({len(main)} main-table, {len(idem)} idempotency requests)"
        if self.kind == "delete" and self.delete_size is not None:
            formula = delete_formula(self.delete_size)
            expected = {op: n for op, n in formula.items() if op != "total" and n}
            if dict(Counter(c.operation for c in self.dynamodb)) == expected:
                return "matches formula"
            return f"DIFFERS from formula ({formula['total']} requests)"
        return "info"


def delete_formula(n: int) -> dict[str, int]:
    """DynamoDB requests of DELETE /customers/{id} for a customer with n interactions and no complaints
    (chalicelib/persistence/erasure.py), each Query fitting one 1 MB page (about 3,000 interactions)."""
    counts = {
        "GetItem": 1,  # the profile, read consistently
        "TransactWriteItems": 1,  # the marker, the guards, the erasure record
        # the timeline index (complaints), then a pass over the partition; with history, a second pass finds nothing
        "Query": 2 + (1 if n else 0),
        "BatchWriteItem": math.ceil(n / BATCH_WRITE_MAX),
        "DeleteItem": 1,  # the marker
    }
    counts["total"] = sum(counts.values())
    return counts


def _items(n: int) -> str:
    return f"{n} item{'' if n == 1 else 's'}"


def _signature(calls: list[AwsCall]) -> Counter[tuple[str, str, str]]:
    return Counter((c.service, c.table, c.operation) for c in calls)


def summarize(calls: list[AwsCall]) -> str:
    """'GetItem 1, Query 2 (read 51 items), TransactWriteItems 1 (3 items)'; idempotency-table calls prefixed."""
    counted: Counter[tuple[str, str]] = Counter()
    written: Counter[tuple[str, str]] = Counter()
    scanned: dict[tuple[str, str], int] = {}
    for c in calls:
        key = ("idempotency " if c.table == "idempotency" else "", c.operation)
        counted[key] += 1
        written[key] += c.items
        if c.scanned is not None:
            scanned[key] = scanned.get(key, 0) + c.scanned
    parts = []
    for key, n in counted.items():
        extra = f" ({_items(written[key])})" if written[key] else ""
        if key in scanned:
            extra = f" (read {_items(scanned[key])})"
        parts.append(f"{key[0]}{key[1]} {n}{extra}")
    return ", ".join(parts) or "none"


# --- driving the API ------------------------------------------------------------------------------


class Caller:
    """A web client acting as one demo user (mirrors tests/conftest.py)."""

    def __init__(self, http: Any, token: str) -> None:
        self.http = http
        self.token = token

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        h = {"Authorization": f"Bearer {self.token}"}
        raw = b""
        if body is not None:
            h["Content-Type"] = "application/json"
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.update(headers or {})
        response = self.http.request(method, path, headers=h, body=raw)
        is_json = "json" in str(response.headers.get("Content-Type", "application/json"))
        response.json = json.loads(response.body) if response.body and is_json else None
        return response


class Scenario:
    def __init__(self, recorder: Recorder, admin: Caller, agent: Caller, tag: int) -> None:
        self.recorder = recorder
        self.admin = admin
        self.agent = agent
        self.tag = tag  # keeps the two passes' data apart
        self.phones = iter(range(tag * 1000, tag * 1000 + 1000))
        self.ops: list[Op] = []

    def phone(self) -> str:
        n = next(self.phones)
        return f"0819-{5000 + n // 10000:04d}-{n % 10000:04d}"  # 0819: a prefix the seed does not use

    def measure(
        self,
        name: str,
        kind: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        expected: int = 200,
        caller: Caller | None = None,
    ) -> Any:
        """One request, with the AWS calls it made recorded as an operation of the report."""
        op = Op(name, kind, expected_status=expected)
        with self.recorder.capture() as calls:
            response = (caller or self.admin).request(method, path, body, headers)
        op.calls = list(calls)
        op.status = response.status_code
        self.ops.append(op)
        body_out = response.json
        if isinstance(body_out, dict) and isinstance(body_out.get("items"), list):
            more = "; has next_cursor" if body_out.get("next_cursor") else ""
            op.note = f"returned {_items(len(body_out['items']))}{more}"
        return response

    def must(self, response: Any, status: int, what: str) -> Any:
        if response.status_code != status:
            raise RuntimeError(f"{what}: HTTP {response.status_code}, expected {status}: {response.body[:500]!r}")
        return response.json

    def new_customer_body(self, name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "phone": self.phone(), "branch_id": "jakarta", **extra}

    def add_interactions(self, customer_id: str, count: int) -> None:
        for k in range(count):
            self.must(self.admin.request("POST", f"/customers/{customer_id}/interactions", {
                "channel": "phone", "direction": "inbound", "kind": "inquiry",
                "summary": f"Bench interaction {k}",
            }), 201, "POST interaction")

    @property
    def buyer_phone(self) -> str:
        """A seeded jakarta customer with orders (the demo data has about a year of them)."""
        if not hasattr(self, "_buyer_phone"):
            listed = self.agent.request("GET", "/orders?limit=1").json or {"items": []}
            customer_id = listed["items"][0]["customer_id"] if listed["items"] else None
            found = self.admin.request("GET", f"/customers/{customer_id}").json if customer_id else None
            self._buyer_phone = found["phone"] if found else "+6281100000000"
        return str(self._buyer_phone)

    def orders_and_shipments(self, customer_id: str) -> None:
        """An order placed, read, confirmed, shipped, a shipment read and moved by staff and by its carrier."""
        placed = self.measure("POST /customers/{id}/orders", "write", "POST", f"/customers/{customer_id}/orders",
                              {"channel": "phone", "lines": [{"sku": "OIL-FLT-OIL", "qty": 2, "tax_rate": "0.11"}]},
                              expected=201)
        order = self.must(placed, 201, "POST order")
        self.measure("GET /orders/{id} (lines, shipments, history)", "read", "GET", f"/orders/{order['id']}")
        self.measure("PATCH /orders/{id} (confirm)", "write", "PATCH", f"/orders/{order['id']}",
                     {"status": "confirmed"}, {"If-Match": placed.headers.get("ETag", "")})
        tracking = f"BENCH{self.tag}{time.time_ns() % 10**9}"
        shipped = self.measure("POST /orders/{id}/shipments", "parts", "POST", f"/orders/{order['id']}/shipments",
                               {"carrier": "jne", "tracking_number": tracking, "lines": [{"line_no": 1, "qty": 2}]},
                               expected=201)
        self.ops[-1].parts = ("the order with its shipments", "the shipment's transaction")
        shipment = self.must(shipped, 201, "POST shipment")
        self.measure("GET /shipments/{id}", "parts", "GET", f"/shipments/{shipment['id']}")
        self.ops[-1].parts = ("where the shipment is", "the order with its shipments")
        self.measure("POST /shipments/{id}/events (staff)", "parts", "POST", f"/shipments/{shipment['id']}/events",
                     {"status": "picked_up"}, expected=201)
        self.ops[-1].parts = ("where the shipment is", "the order with its shipments", "the event's transaction")
        import boto3

        from chalicelib.domain.shipments import signature_of

        key = boto3.client("secretsmanager").get_secret_value(SecretId="relasi-dev-carrier-jne")["SecretString"]
        event = json.dumps({"event_id": f"bench-{self.tag}", "tracking_number": tracking, "status": "in_transit",
                            "occurred_at": "2026-01-01T00:00:00Z"}).encode()
        stamp = str(int(time.time()))
        self.measure("POST /carrier-events/{carrier} (signed)", "parts", "POST", "/carrier-events/jne", event,
                     {"X-Relasi-Timestamp": stamp, "X-Relasi-Signature": signature_of(key, stamp, event)})
        self.ops[-1].parts = ("the tracking number", "the order with its shipments", "the event's transaction")

    def surveys(self, customer_id: str) -> None:
        """A satisfaction survey's page and its answer (public: the link's signature), and the satisfaction numbers.
        The survey is made as the stream consumer makes it (chalicelib/workflows/surveys.py), outside the count."""
        from chalicelib.domain import surveys as rules
        from chalicelib.domain.clock import new_id, utcnow
        from chalicelib.persistence import surveys as repo
        from chalicelib.workflows import surveys

        asked = rules.Asked(rules.Subject.ORDER, new_id(), f"BENCH-{self.tag}", "jakarta", "sales", "admin")
        survey = rules.new_survey(asked, customer_id=customer_id, language="id", asks_nps=True, now=utcnow())
        if repo.create(survey, repo.cap_of(customer_id), "bench") != "created":
            raise RuntimeError("the bench's survey was not created")
        path = f"/s/{surveys.token(customer_id, 'order', asked.subject_id)}"
        self.measure("GET /s/{token} (a survey's page)", "read", "GET", path)
        self.measure("POST /s/{token} (a survey's answer)", "create", "POST", path, b"csat=4&nps=9&comment=Cepat",
                     {"Content-Type": "application/x-www-form-urlencoded"})
        self.measure("GET /analytics/revenue?branch=", "read", "GET", "/analytics/revenue?branch=jakarta")
        for by in ("department", "staff"):
            self.measure(f"GET /analytics/satisfaction?branch=&by={by}", "read", "GET",
                         f"/analytics/satisfaction?branch=jakarta&by={by}")

    def vehicles(self, customer_id: str) -> None:
        """A vehicle registered, read, listed, found by its plate at the service desk and changed."""
        n = time.time_ns() % 10**11
        plate = f"B {n % 10000} BNC"
        registered = self.measure("POST /customers/{id}/vehicles", "parts", "POST", f"/customers/{customer_id}/vehicles",
                                  {"vin": f"MHBNCH{n:011d}", "plate_no": plate, "make": "Toyota", "model": "Avanza",
                                   "year": 2022, "color": "Hitam"}, expected=201)
        self.ops[-1].parts = ("the owner's profile (access, branch)", "the vehicle's transaction")
        vehicle = self.must(registered, 201, "POST vehicle")
        self.measure("GET /vehicles/{vin} (with its history)", "read", "GET", f"/vehicles/{vehicle['vin']}")
        self.measure("GET /vehicles/lookup?plate= (the desk's screen-pop)", "parts", "GET",
                     "/vehicles/lookup?plate=" + urllib.parse.quote(plate.lower().replace(" ", "-")))
        self.ops[-1].parts = ("the plate's guard", "the vehicle's partition (with its owner's copy)")
        self.measure("GET /customers/{id}/vehicles", "page", "GET", f"/customers/{customer_id}/vehicles")
        self.measure("PATCH /vehicles/{vin} (odometer)", "parts", "PATCH", f"/vehicles/{vehicle['vin']}",
                     {"last_odometer_km": 15000}, {"If-Match": registered.headers.get("ETag", "")})
        self.ops[-1].parts = ("the vehicle with its history", "the vehicle's transaction")
        from datetime import datetime as _datetime
        from datetime import timedelta as _timedelta
        from zoneinfo import ZoneInfo

        day = _datetime.now(ZoneInfo("Asia/Jakarta")).date() + _timedelta(days=30)
        day += _timedelta(days=1 if day.weekday() == 6 else 0)
        self.measure("GET /branches/{b}/appointment-slots", "read", "GET",
                     f"/branches/jakarta/appointment-slots?date={day}&service_type=repair")
        booked = self.measure("POST /customers/{id}/appointments", "parts", "POST",
                              f"/customers/{customer_id}/appointments",
                              {"vin": vehicle["vin"], "slot_start": f"{day}T09:00:00+07:00", "service_type": "repair"},
                              expected=201)
        self.ops[-1].parts = ("the customer's profile (access, branch)", "the booking's transaction")
        appointment = self.must(booked, 201, "POST appointment")
        self.measure("GET /appointments/{id}", "read", "GET", f"/appointments/{appointment['id']}")
        self.measure("PATCH /appointments/{id} (cancel: places back)", "parts", "PATCH",
                     f"/appointments/{appointment['id']}", {"status": "cancelled"}, {"If-Match": '"v1"'})
        self.ops[-1].parts = ("the appointment with its history", "the cancel's transaction")
        opened = self.measure("POST /vehicles/{vin}/work-orders", "parts", "POST",
                              f"/vehicles/{vehicle['vin']}/work-orders",
                              {"jobs": [{"description": "Servis berkala", "estimate_amount": "650000"}],
                               "eta": f"{day}T15:00:00+07:00"}, expected=201)
        self.ops[-1].parts = ("the vehicle's partition (access, owner, branch)", "the work order's transaction")
        work_order = self.must(opened, 201, "POST work order")
        self.measure("GET /work-orders/{id} (status read out, last five changes)", "read", "GET",
                     f"/work-orders/{work_order['id']}")
        self.measure("PATCH /work-orders/{id} (in progress)", "parts", "PATCH", f"/work-orders/{work_order['id']}",
                     {"status": "in_progress"}, {"If-Match": '"v1"'})
        self.ops[-1].parts = ("the work order with its history", "the move's transaction")
        self.measure("GET /work-orders?branch= (the board)", "read", "GET", "/work-orders?branch=jakarta")

    def run(self, with_delete_sizes: bool) -> list[Op]:
        t = self.tag
        email = f"bench.{t}@contoh.co.id"
        body = self.new_customer_body("Bench Santoso", email=email, city="Jakarta Selatan",
                                      tags=["vip"], lifecycle_stage="customer")
        c1 = self.must(self.measure("POST /customers", "create", "POST", "/customers", body, expected=201),
                       201, "POST /customers")
        cid = c1["id"]
        key = f"bench-{t}-{time.time_ns()}"
        body2 = self.new_customer_body("Bench Wijaya")
        c2 = self.measure("POST /customers (Idempotency-Key, first)", "create", "POST", "/customers", body2,
                          {"Idempotency-Key": key}, expected=201)
        replay = self.measure("POST /customers (Idempotency-Key, replay)", "replay", "POST", "/customers", body2,
                              {"Idempotency-Key": key}, expected=201)
        if replay.headers.get("Idempotent-Replayed") != "true":
            self.ops[-1].note = "no Idempotent-Replayed header"

        quote = urllib.parse.quote
        local_phone = "0" + c1["phone"][3:]  # +62819... -> 0819..., as typed at a counter
        reads = [
            ("GET /customers/{id}", f"/customers/{cid}", None),
            ("GET /customers/lookup?phone=", f"/customers/lookup?phone={quote(c1['phone'])}", None),
            ("GET /customers/lookup?email=", f"/customers/lookup?email={quote(email)}", None),
            ("GET /customers", "/customers", None),
            ("GET /customers?branch=jakarta&stage=customer", "/customers?branch=jakarta&stage=customer", None),
            ("GET /customers?stage=lead", "/customers?stage=lead", None),
            ("GET /customers?tag=fleet (filter)", "/customers?tag=fleet", None),
            ("GET /customers (agent, own branch)", "/customers", self.agent),
            ("GET /customers?q=<name prefix>", "/customers?q=dewi", None),
            ("GET /customers?q=<phone>", f"/customers?q={quote(local_phone)}", None),
            ("GET /products?category=oil_and_filter (agent)", "/products?category=oil_and_filter", self.agent),
            ("GET /products?category=&q=<name prefix>", "/products?category=spare_part&q=kampas", None),
            ("GET /products/{sku} (with its price history)", "/products/OIL-FLT-OIL", None),
            ("GET /orders (agent, own branch)", "/orders", self.agent),
            ("GET /orders?status=draft&placed_from=", "/orders?branch=jakarta&status=draft&placed_from=2026-01-01",
             None),
            # the money analyses of the latest export: every branch's item (and "all" for the basket) at once
            ("GET /analytics/profitability (every branch)", "/analytics/profitability", None),
            ("GET /analytics/basket", "/analytics/basket", None),
            ("GET /analytics/transaction-flags?branch=", "/analytics/transaction-flags?branch=jakarta", None),
            ("GET /analytics/forecast (every branch)", "/analytics/forecast", None),
        ]
        for name, path, caller in reads:
            self.measure(name, "read", "GET", path, caller=caller)
        buyer = self.must(self.admin.request("POST", "/customers", self.new_customer_body("Bench Pembeli")), 201,
                          "POST /customers")
        self.orders_and_shipments(buyer["id"])  # not the customer erased below (an erasure keeps their orders)
        self.vehicles(buyer["id"])
        self.surveys(buyer["id"])
        # the staff console's content (as htmx asks for it): the same use cases as the routes above
        card = ("the timeline (first page)", "the due items", "the open complaints")
        console = [
            ("console: screen-pop /console/pop?phone=", f"/console/pop?phone={quote(c1['phone'])}",
             ("the lookup", *card)),
            ("console: customer 360 /console/customers/{id}", f"/console/customers/{cid}",
             ("the profile", "the survey answers", *card)),
            ("console: search results ?q=<name prefix>", "/console/search/results?q=dewi", ("the name index",)),
            ("console: complaint queue rows (agent)", "/console/complaints/rows",
             ("open", "acknowledged", "in progress (the API's GET /complaints?status= each)")),
        ]
        console.append(("GET /orders/lookup?phone= (agent, a caller with orders)",
                        "/orders/lookup?phone=" + quote(self.buyer_phone), ("the customer by phone", "their orders")))
        for name, path, parts in console:
            self.measure(name, "parts", "GET", path, None, {"HX-Request": "true"},
                         caller=self.agent if "agent" in name else None)
            self.ops[-1].parts = parts  # held to one request per part (kind "parts")

        current = self.admin.request("GET", f"/customers/{cid}")
        self.must(current, 200, "GET for the ETag")
        etag = current.headers.get("ETag", "")
        self.measure("PATCH /customers/{id}", "write", "PATCH", f"/customers/{cid}", {"city": "Depok"},
                     {"If-Match": etag})
        entry = {"channel": "chat", "direction": "outbound", "kind": "sales_talk", "summary": "Bench follow-up."}
        self.measure("POST /customers/{id}/interactions", "create", "POST", f"/customers/{cid}/interactions",
                     entry, expected=201)
        self.measure("POST /customers/{id}/interactions (Idempotency-Key)", "create", "POST",
                     f"/customers/{cid}/interactions", entry, {"Idempotency-Key": f"bench-i-{t}-{time.time_ns()}"},
                     expected=201)
        self.add_interactions(cid, PAGE + 3)  # PAGE + 5 in all: a second page at limit=PAGE

        for what in ("interactions", "timeline"):
            path = f"/customers/{cid}/{what}?limit={PAGE}"
            first = self.measure(f"GET /customers/{{id}}/{what} (first page)", "read", "GET", path)
            cursor = (first.json or {}).get("next_cursor")
            if cursor:
                self.measure(f"GET /customers/{{id}}/{what} (cursor page)", "page", "GET",
                             f"{path}&cursor={quote(cursor)}")
            else:
                self.ops[-1].note = "no next_cursor on the first page"

        if c2.status_code == 201:  # both passes then list the same customers
            self.admin.request("DELETE", f"/customers/{c2.json['id']}")
        total = PAGE + 5
        self.measure(f"DELETE /customers/{{id}} (N={total} interactions)", "delete", "DELETE", f"/customers/{cid}",
                     expected=204)
        self.ops[-1].delete_size = total
        if with_delete_sizes:
            for n in DELETE_SIZES:
                c = self.must(self.admin.request("POST", "/customers", self.new_customer_body(f"Bench Erase {n}")),
                              201, "POST /customers")
                self.add_interactions(c["id"], n)
                self.measure(f"DELETE /customers/{{id}} (N={n} interactions)", "delete", "DELETE",
                             f"/customers/{c['id']}", expected=204)
                self.ops[-1].delete_size = n
        return self.ops


# --- the run --------------------------------------------------------------------------------------


@dataclass
class RequestCounts:
    seeded: int
    seed_seconds: float
    ops: list[Op]
    cold_differences: list[str]  # operations whose first (cold) pass made other calls
    page_size: int = PAGE


@contextlib.contextmanager
def _quiet_simulator() -> Iterator[None]:
    """No access log lines from moto's server and no warnings about resources it does not model."""
    loggers = [logging.getLogger(name) for name in ("werkzeug", "moto")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(seed_count: int, progress: bool = True) -> RequestCounts:
    def say(text: str) -> None:
        if progress:
            print(f"  {text}", file=sys.stderr, flush=True)

    saved = dict(os.environ)
    server = None
    sink = io.StringIO()  # the app's JSON logs and EMF metrics
    try:
        with contextlib.redirect_stdout(sink), _quiet_simulator():
            from infra.local_stack import prepare

            say("starting moto and provisioning the stack")
            server, env = prepare(_free_port(), seed=False)
            started = time.perf_counter()
            seeded = 0
            if seed_count:
                say(f"seeding {seed_count} demo customers (infra.seed)")
                from infra.seed import seed

                seeded = seed(seed_count)
            seed_seconds = time.perf_counter() - started

            from app import app
            from infra.demo import id_token
            from infra.gateway import test_client

            http = test_client(app, str(PROJECT_DIR)).http
            admin = Caller(http, id_token("admin", env["USER_POOL_ID"], env["USER_POOL_CLIENT_ID"]))
            agent = Caller(http, id_token("agent.jakarta", env["USER_POOL_ID"], env["USER_POOL_CLIENT_ID"]))

            recorder = Recorder({env["TABLE_NAME"]: "main", env["IDEMPOTENCY_TABLE_NAME"]: "idempotency"})
            recorder.install()
            try:
                say("pass 1 (warms the process)")
                cold = Scenario(recorder, admin, agent, tag=1).run(with_delete_sizes=False)
                say("pass 2 (measured)")
                warm = Scenario(recorder, admin, agent, tag=2).run(with_delete_sizes=True)
            finally:
                recorder.uninstall()
    finally:
        if server is not None:
            server.stop()
        os.environ.clear()
        os.environ.update(saved)

    warm_by_name = {op.name: op for op in warm}
    differences = []
    for op in cold:
        w = warm_by_name.get(op.name)
        if w is not None and _signature(op.calls) != _signature(w.calls):
            differences.append(f"{op.name}: first pass {summarize(op.calls)}")
    return RequestCounts(seeded, seed_seconds, warm, differences)
