"""Complaints end to end over HTTP against the local stack started as `make run` does.

With RELASI_TIME_SCALE shortening every workflow wait (the SLA and the due
times stored on complaints stay the real ones): a critical complaint starts
exactly one escalation through the stream, which escalates L1, L2 and L3
with one ops alert per level; a complaint resolved before its deadline
escalates nothing. The customer gets exactly one SMS per event, seen in the
outbox (`make outbox`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra import outbox
from tests.stack_process import RunningStack, start_stack, stop_stack_cleanly, wait_for

_numbers = itertools.count(1)
# critical: acknowledge 1 h -> L1 after 0.5 s; resolve 8 h -> L2 after 4 s; L3 after 8 s
TIME_SCALE = 7200


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    running = start_stack(SEED="none", RELASI_TIME_SCALE=str(TIME_SCALE))
    yield running
    stop_stack_cleanly(running)


def _alerts_for(stack: RunningStack, complaint_id: str) -> list[dict[str, Any]]:
    return [m for m in outbox.fetch(stack.aws_port, channel="ops")
            if m["attributes"].get("complaint_id") == complaint_id]


def _create(stack: RunningStack, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    user = "agent.surabaya"
    phone = f"0813-5000-{next(_numbers):04d}"
    customer = stack.request("POST", "/customers", user, json={"name": "Dewi Kusuma", "phone": phone}).json()
    r = stack.request("POST", f"/customers/{customer['id']}/complaints", user, json={
        "category": "shipment", "subject": "Order not arrived", "description": "Ordered car not delivered", **fields})
    assert r.status_code == 201, r.text
    return customer, r.json()


def test_a_critical_complaint_escalates_three_levels_with_one_alert_each(stack: RunningStack) -> None:
    customer, complaint = _create(stack, severity="critical")
    alerts = wait_for(lambda: (a := _alerts_for(stack, complaint["id"])) and len(a) >= 3 and a, 60, "three alerts")
    time.sleep(1.0)  # nothing more may come
    alerts = _alerts_for(stack, complaint["id"])
    assert [a["attributes"]["level"] for a in alerts] == ["1", "2", "3"]
    assert {a["recipient"] for a in alerts} == {"relasi-dev-ops-shipment"}
    for a in alerts:
        assert a["attributes"]["branch_id"] == "surabaya" and a["attributes"]["severity"] == "critical"
        for secret in ("Dewi", "Kusuma", customer["phone"], "Order not arrived", "not delivered"):
            assert secret not in a["text"] and secret not in str(a["attributes"])
    got = stack.request("GET", f"/complaints/{complaint['id']}", "agent.surabaya").json()
    assert got["escalation_level"] == 3 and got["breached"] is True
    assert got["ack_due_at"] == complaint["ack_due_at"]  # the real SLA is kept
    # each escalation is in the complaint's history, once (the stream consumer records it), with the level it reached
    escalations = wait_for(lambda: (e := [h for h in stack.request("GET", f"/complaints/{complaint['id']}",
                                                                   "agent.surabaya").json()["history"]
                                           if h["change"] == "escalation"]) and len(e) >= 3 and e, 30,
                            "three escalations in the history")
    assert [(h["from"], h["to"], h["by"]) for h in escalations] == [("L0", "L1", "escalation"),
                                                                    ("L1", "L2", "escalation"),
                                                                    ("L2", "L3", "escalation")]
    texts = [m for m in outbox.fetch(stack.aws_port, channel="sms") if m["recipient"] == outbox.mask(customer["phone"])]
    assert len(texts) == 1 and complaint["id"][-8:] in texts[0]["text"]


def test_a_complaint_resolved_in_time_escalates_nothing(stack: RunningStack) -> None:
    customer, c = _create(stack, severity="low")  # L1 after 12 s at this scale
    user = "agent.surabaya"
    for patch in ({"status": "acknowledged"}, {"status": "in_progress"},
                  {"status": "resolved", "resolution_note": "Delivered"}):
        r = stack.request("PATCH", f"/complaints/{c['id']}", user, json=patch, headers={"If-Match": f'"v{c["version"]}"'})
        assert r.status_code == 200, r.text
        c = r.json()
    mine = outbox.mask(customer["phone"])

    def texts() -> list[str]:
        return [m["text"] for m in outbox.fetch(stack.aws_port, channel="sms") if m["recipient"] == mine]

    wait_for(lambda: [t for t in texts() if "Bagaimana penanganan" not in t] and len(
        [t for t in texts() if "Bagaimana penanganan" not in t]) == 2, 30, "received + resolved SMS")
    time.sleep(14)  # past the acknowledge deadline at this scale
    told = texts()
    # received, resolved, and the survey about it (tests/test_surveys.py; after the quiet hours if in them)
    assert sum("telah kami terima" in t for t in told) == sum("telah diselesaikan" in t for t in told) == 1
    assert sum("Bagaimana penanganan" in t for t in told) <= 1 and len(told) <= 3
    assert _alerts_for(stack, c["id"]) == []
    assert stack.request("GET", f"/complaints/{c['id']}", user).json()["escalation_level"] == 0


def test_the_time_scale_of_a_running_stack_changes_without_a_restart(
        stack: RunningStack, capsys: pytest.CaptureFixture[str]) -> None:
    from infra import time_scale

    port = ["--aws-port", str(stack.aws_port)]
    assert time_scale.main(port) == 0 and capsys.readouterr().out.strip() == f"time scale: {TIME_SCALE}"
    try:
        assert time_scale.main(["3600", *port]) == 0 and capsys.readouterr().out.strip() == "time scale: 3600"
        assert time_scale.main(port) == 0 and capsys.readouterr().out.strip() == "time scale: 3600"
        for bad in ("0", "fast", "100000"):
            assert time_scale.main([bad, *port]) == 2
            assert "from 1 to 86400" in capsys.readouterr().err
        assert stack.request("GET", "/customers", "agent.surabaya", params={"limit": 1}).status_code == 200  # same data
    finally:
        assert time_scale.main([str(TIME_SCALE), *port]) == 0
