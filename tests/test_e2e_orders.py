"""Orders end to end over HTTP against the local stack started as `make run` does: an order is confirmed,
shipped, moved by the carrier's signed webhook (each event delivered twice) and delivered, and the customer
gets exactly one SMS per step in the outbox (`make outbox`); a late order opens one complaint through
`make trigger JOB=late-deliveries` fired twice, and its customer hears of the delay once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import requests

from chalicelib.domain.shipments import signature_of
from infra import outbox
from tests.stack_process import ROOT, RunningStack, start_stack, stop_stack_cleanly, wait_for

USER = "agent.surabaya"


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    running = start_stack(SEED="none", QUIET_HOURS="off")  # whatever the hour the suite runs
    yield running
    stop_stack_cleanly(running)


def _today() -> date:
    return datetime.now(ZoneInfo("Asia/Jakarta")).date()


def _sms_to(stack: RunningStack, phone: str) -> list[str]:
    return [m["text"] for m in outbox.fetch(stack.aws_port, channel="sms") if m["recipient"] == outbox.mask(phone)]


def _confirmed_order(stack: RunningStack, customer_id: str, promised: date) -> dict[str, Any]:
    r = stack.request("POST", f"/customers/{customer_id}/orders", USER, json={
        "channel": "phone", "promised_date": promised.isoformat(),
        "lines": [{"sku": "E2E-OIL", "qty": 2, "tax_rate": "0.11"}]})
    assert r.status_code == 201, r.text
    moved = stack.request("PATCH", f"/orders/{r.json()['id']}", USER, json={"status": "confirmed"},
                          headers={"If-Match": r.headers["ETag"]})
    assert moved.status_code == 200, moved.text
    return dict(moved.json())


def _carrier(stack: RunningStack, carrier: str, event: dict[str, Any]) -> requests.Response:
    secrets = boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{stack.aws_port}",
                           region_name="ap-southeast-3", aws_access_key_id="local", aws_secret_access_key="local")
    key = secrets.get_secret_value(SecretId=f"relasi-dev-carrier-{carrier}")["SecretString"]
    body = json.dumps(event).encode()
    stamp = str(int(time.time()))
    return requests.post(f"{stack.base}/carrier-events/{carrier}", data=body, timeout=30, headers={
        "Content-Type": "application/json", "X-Relasi-Timestamp": stamp,
        "X-Relasi-Signature": signature_of(key, stamp, body)})


def test_an_order_from_confirmation_to_delivery_tells_the_customer_each_step_once(stack: RunningStack) -> None:
    product = stack.request("POST", "/products", "admin", json={
        "sku": "E2E-OIL", "name": "Oli mesin 1L", "category": "oil_and_filter", "unit": "litre",
        "list_price": "95000"})
    assert product.status_code == 201, product.text
    customer = stack.request("POST", "/customers", USER, json={"name": "Wulan Sari", "phone": "0813-5100-0001"}).json()
    order = _confirmed_order(stack, customer["id"], _today() + timedelta(days=3))
    shipped = stack.request("POST", f"/orders/{order['id']}/shipments", USER, json={
        "carrier": "jne", "tracking_number": "JNE0001E2E", "lines": [{"line_no": 1, "qty": 2}]})
    assert shipped.status_code == 201 and shipped.json()["order_status"] == "shipped", shipped.text
    for n, status in enumerate(("picked_up", "in_transit", "out_for_delivery", "delivered")):
        at = (datetime.now(UTC) - timedelta(minutes=10 - n)).isoformat()
        event = {"event_id": f"jne-{n}", "tracking_number": "JNE0001E2E", "status": status, "occurred_at": at}
        first, again = _carrier(stack, "jne", event), _carrier(stack, "jne", event)
        assert first.json()["recorded"] is True and again.json() == {
            "recorded": False, "applied": False, "shipment_status": status}
    assert stack.request("GET", f"/orders/{order['id']}", USER).json()["status"] == "delivered"
    texts = wait_for(lambda: (t := _sms_to(stack, customer["phone"])) and len(t) >= 5 and t, 60, "five SMS")
    time.sleep(1.5)  # nothing more may come
    texts = _sms_to(stack, customer["phone"])
    assert len(texts) == 5, texts
    assert "sudah kami konfirmasi" in texts[0] and "dikirim via JNE" in texts[1] and "https://jne.co.id/" in texts[1]
    assert "sedang diantar" in texts[2] and "sudah diterima" in texts[3]
    assert all(order["order_no"] in t and "Wulan" not in t for t in texts)
    # the survey about the order: its link opens the page on this stack's gateway, and takes one answer
    assert f"Bagaimana pesanan {order['order_no']}? Beri nilai 1-5: " in texts[4]
    token = texts[4].rsplit("/s/", 1)[1]
    page = stack.request("GET", f"/s/{token}")
    assert page.status_code == 200 and f"Seberapa puas Anda dengan pesanan {order['order_no']}?" in page.text
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert stack.request("POST", f"/s/{token}", data="csat=5", headers=form).status_code == 200
    assert stack.request("POST", f"/s/{token}", data="csat=4", headers=form).status_code == 409


def test_a_late_order_opens_one_complaint_and_tells_its_customer_once(stack: RunningStack) -> None:
    customer = stack.request("POST", "/customers", USER, json={"name": "Bayu Aji", "phone": "0813-5100-0002"}).json()
    order = _confirmed_order(stack, customer["id"], _today() - timedelta(days=2))
    for _ in range(2):  # the schedule fires twice
        done = subprocess.run([sys.executable, "-m", "infra.trigger", "late-deliveries", _today().isoformat()],
                              cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    late = stack.request("GET", f"/orders/{order['id']}", USER).json()
    assert late["late_since"] == _today().isoformat()
    complaint = stack.request("GET", f"/complaints/{late['late_complaint_id']}", USER).json()
    assert (complaint["category"], complaint["severity"], complaint["ref"]) == ("shipment", "high", order["id"])
    texts = wait_for(lambda: [t for t in _sms_to(stack, customer["phone"]) if "belum tiba" in t], 60, "the notice")
    time.sleep(1.5)
    assert len([t for t in _sms_to(stack, customer["phone"]) if "belum tiba" in t]) == 1, texts
