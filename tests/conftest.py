"""Shared fixtures: one moto server for the session, provisioned like `make run`.

Every test gets real Cognito ID tokens minted by moto's Cognito and drives the
app through chalice.test.Client with the local API Gateway behaviour
(infra/gateway.py). Tests create their own data with unique phones/emails,
so they do not depend on each other's order.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_session: dict[str, Any] = {}


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, str]]:
    from infra.local_stack import prepare

    saved = dict(os.environ)
    # Order messages go out at once whatever the hour the suite runs (tests/test_shipments.py tests the wait)
    os.environ["QUIET_HOURS"] = "off"
    # ... and so do campaigns (tests/test_campaigns.py tests the send window with a clock of its own)
    os.environ["CAMPAIGN_SEND_DAYS"], os.environ["CAMPAIGN_SEND_HOURS"] = "1-7", "0-24"
    server, env = prepare(free_port(), seed=False)
    from infra.local_stack import start_pump

    # the stream consumer runs for the whole session, as on `make run` and in the cloud: every write of every test
    # reaches it (the change log, counters, messages); `stream_pump` hands it to a test
    _session["pump"] = start_pump()  # its default poll interval: a drain() wakes it at once
    yield env
    _session.pop("pump").stop()
    server.stop()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def api(stack: dict[str, str]) -> Any:
    from app import app
    from infra.gateway import test_client

    return test_client(app, str(ROOT)).http


_tokens: dict[str, str] = {}


@pytest.fixture(scope="session")
def token(stack: dict[str, str]) -> Any:
    from infra.demo import id_token

    def get(username: str) -> str:
        if username not in _tokens:
            _tokens[username] = id_token(username, stack["USER_POOL_ID"], stack["USER_POOL_CLIENT_ID"])
        return _tokens[username]

    return get


_numbers = itertools.count(1000)
ORDER_SKUS = ("ORD-OIL", "ORD-FILTER", "ORD-SERVICE", "ORD-OLD")


def unique_phone() -> str:
    """A valid Indonesian mobile number no other test uses, in local form."""
    n = next(_numbers)
    return f"0812-{7000 + n // 10000:04d}-{n % 10000:04d}"


class Caller:
    """A web client acting as one demo user."""

    def __init__(self, api: Any, token: str) -> None:
        self.api = api
        self.token = token

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        h = {"Authorization": f"Bearer {self.token}"}
        raw = b""
        if body is not None:
            h["Content-Type"] = "application/json"
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.update(headers or {})
        response = self.api.request(method, path, headers=h, body=raw)
        response.json = json.loads(response.body) if response.body else None
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def new_customer(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Budi Santoso", "phone": unique_phone(), **fields}
        response = self.post("/customers", body)
        assert response.status_code == 201, response.body
        return dict(response.json)


@pytest.fixture(scope="session")
def as_user(api: Any, token: Any) -> Any:
    return lambda username: Caller(api, token(username))


@pytest.fixture(scope="session")
def catalog(as_user: Any) -> dict[str, str]:
    """The products the order and shipment tests order."""
    admin = as_user("admin")
    for sku, name, price, active in (("ORD-OIL", "Oli 1L", "95000", True), ("ORD-FILTER", "Filter oli", "65000", True),
                                     ("ORD-SERVICE", "Servis 10.000 km", "650000", True),
                                     ("ORD-OLD", "Produk lama", "1000", False)):
        admin.post("/products", {"sku": sku, "name": name, "category": "oil_and_filter", "unit": "pcs",
                                 "list_price": price, "active": active})
    return {s: s for s in ORDER_SKUS}


def stream_caught_up() -> None:
    """Wait until the session's stream consumer has handled what was written so far (the nightly export runs after
    it: its engagement items and change log), where a helper gets no fixture."""
    _session["pump"].drain()


@pytest.fixture
def stream(stack: dict[str, str], stream_pump: Any) -> Iterator[Any]:
    """The table's stream from now on (tests/test_stream.py Stream), read by the test alone: the session's consumer
    is held meanwhile (else it may claim a message the test's delivery then leaves to it, and not have sent it
    yet when the test looks), and afterwards delivers what was written, as a redelivery (the engagement items and
    the change log get every record, as they would on `make run`)."""
    from tests.test_stream import Stream

    with stream_pump.held():
        yield Stream(stack["TABLE_NAME"])


@pytest.fixture(scope="session")
def stream_pump(stack: dict[str, str]) -> Any:
    """The session's stream pump (infra/pump.py) feeding app.on_table_change, as `make run` does: it has delivered
    every table change since the session began. `stream_pump.drain()` waits until what was written so far is
    handled; `with stream_pump.paused():` makes history the consumer never sees (written before it was deployed,
    or its records lost)."""
    return _session["pump"]


@contextlib.contextmanager
def quiet_hours_now(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """QUIET_HOURS from this local hour for two hours, as the stream consumer reads them (the suite runs with them
    off, whatever the hour); off again after. Yields the hour they started."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from chalicelib.config import settings

    hour = datetime.now(ZoneInfo("Asia/Jakarta")).hour
    monkeypatch.setenv("QUIET_HOURS", f"{hour}-{(hour + 2) % 24}")
    settings.cache_clear()
    try:
        yield hour
    finally:
        monkeypatch.setenv("QUIET_HOURS", "off")
        settings.cache_clear()


# The modules that take longest (they start stacks of their own as processes, or drive a browser), run first: with
# `make test`'s two workers each module runs on one worker (--dist loadfile), so a long one started last would
# leave the other worker idle at the end.
LONGEST_FIRST = ("test_docs_examples.py", "test_console_browser.py", "test_local_stack.py", "test_local_state.py",
                 "test_campaigns.py", "test_e2e_service.py")


def pytest_collection_modifyitems(items: list[Any]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def _report() -> dict[str, Any] | None:
    from infra import iam_local

    enforcer = iam_local.enforcer()
    if enforcer is None:
        return None
    return {"calls": sum(len(c) for c in enforcer.calls.values()), "functions": len(enforcer.calls),
            "denied": len(enforcer.denied), "unused": iam_local.unused(), "unread": iam_local.unread_variables()}


_worker_reports: list[dict[str, Any]] = []


def pytest_sessionfinish(session: Any) -> None:
    """A worker (`make test` runs two) hands its stack's report to the main process."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["iam_report"] = json.dumps(_report())


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: without it (-p no:xdist) never called
def pytest_testnodedown(node: Any, error: Any) -> None:
    report = json.loads(getattr(node, "workeroutput", {}).get("iam_report") or "null")
    if report is not None:
        _worker_reports.append(report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """What the run's functions called that their packaged policies allow but no test used, and the packaged
    environment variables no function's code read (infra/iam_local.py): candidates to remove, not failures
    (a path no test takes reads and calls nothing). Each worker's stack counts what its tests did; a permission or
    a variable is listed when no worker's tests used it. The stacks some tests start as processes enforce the
    same policies, but report nothing here."""
    reports = _worker_reports or [r for r in (_report(),) if r is not None]
    if not reports:
        return

    def unused_everywhere(kind: str) -> dict[str, list[str]]:
        names = set().union(*(r[kind] for r in reports))
        return {n: sorted(set.intersection(*(set(r[kind].get(n, ())) for r in reports))) for n in names}

    terminalreporter.section("IAM and environment, as packaged (infra/iam_local.py)")
    terminalreporter.write_line(f"{sum(r['calls'] for r in reports)} distinct (action, resource) checked across "
                                f"{max(r['functions'] for r in reports)} functions in {len(reports)} stack(s); "
                                f"{sum(r['denied'] for r in reports)} denied")
    for logical_id, lines in sorted(unused_everywhere("unused").items()):
        if lines:
            terminalreporter.write_line(f"{logical_id}: allowed, never used: {'; '.join(lines)}")
    for logical_id, names in sorted(unused_everywhere("unread").items()):
        if names:
            terminalreporter.write_line(f"{logical_id}: environment never read: {', '.join(names)}")
