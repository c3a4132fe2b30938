"""The local stack keeps its state across a restart (infra/local_state.py), and `make reset` starts afresh.

Real processes, as a developer runs them: `make run` (python -m infra.local_stack) with its own
RELASI_STATE_DIR, stopped with Ctrl-C and started again; `make reset` (python -m infra.local_state).
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests

from tests.stack_process import ROOT, RunningStack, start_stack, stop_stack_cleanly, two_free_ports


def _phone() -> str:
    return f"+62812{random.randint(10_000_000, 99_999_999)}"


def _aws(stack: RunningStack, service: str) -> object:
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{stack.aws_port}", region_name="ap-southeast-3",
                        aws_access_key_id="local", aws_secret_access_key="local")


def _reset(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra.local_state"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def _outbox(stack: RunningStack) -> list[dict[str, object]]:
    r = requests.get(f"http://127.0.0.1:{stack.aws_port}/_relasi/outbox", timeout=30)
    assert r.status_code == 200
    return list(r.json()["messages"])


def _outbox_once_sent(stack: RunningStack, channel: str, timeout_s: float = 90.0) -> list[dict[str, object]]:
    """The outbox once it holds a message on `channel` (the stream pump and the sender take their time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        sent = _outbox(stack)
        if any(m["channel"] == channel for m in sent) or time.monotonic() > deadline:
            return sent
        time.sleep(0.5)


def test_data_tokens_cursors_exports_and_outbox_survive_a_restart_and_make_reset_starts_afresh(
        tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    first = start_stack(SEED="none", RELASI_STATE_DIR=state)
    try:
        admin = first.token("admin")  # the token of the first stack, used again after the restart
        auth = {"Authorization": f"Bearer {admin}"}
        phone = _phone()
        made = first.request("POST", "/customers", headers=auth, json={
            "name": "Rina Kusuma", "phone": phone, "branch_id": "bandung", "preferred_channel": "sms",
            "consent": {"sms_marketing": {"value": True, "source": "test"}}})
        assert made.status_code == 201, made.text
        customer = made.json()
        for n in range(2):
            assert first.request("POST", "/customers", headers=auth, json={
                "name": f"Other {n}", "phone": _phone(), "branch_id": "bandung"}).status_code == 201
        opened = first.request("POST", f"/customers/{customer['id']}/complaints", headers=auth, json={
            "category": "service", "severity": "high", "subject": "AC tidak dingin", "description": "Setelah servis"})
        assert opened.status_code == 201, opened.text
        page = first.request("GET", "/customers?branch=bandung&limit=1", headers=auth)
        cursor = page.json()["next_cursor"]
        assert cursor
        assert requests.post(f"http://127.0.0.1:{first.aws_port}/_relasi/time-scale", json={"scale": 60},
                             timeout=30).status_code == 200
        s3 = _aws(first, "s3")
        bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "-exports-" in b["Name"])  # type: ignore[attr-defined]
        s3.put_object(Bucket=bucket, Key="history/probe.json", Body=b'{"kept": true}',  # type: ignore[attr-defined]
                      ContentType="application/json")
        sent_before = _outbox_once_sent(first, "sms")
        assert any(m["channel"] == "sms" for m in sent_before), sent_before  # the complaint's receipt

        # A second stack on the same state, and a reset while the first runs, are refused (each would lose data).
        api_port, aws_port = two_free_ports()
        second = subprocess.run([sys.executable, "-m", "infra.local_stack"], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, env={**first.env, "RELASI_API_PORT": str(api_port),
                                                             "RELASI_AWS_PORT": str(aws_port)})
        assert second.returncode == 2
        assert "another local stack" in second.stderr and "RELASI_STATE_DIR" in second.stderr
        refused = _reset(first.env)
        assert refused.returncode == 1 and "stop it" in refused.stderr
    finally:
        stop_stack_cleanly(first)
    assert any("items saved in" in line for line in first.lines), first.lines[-5:]

    again = start_stack(SEED="none", RELASI_STATE_DIR=state)
    try:
        assert any("restoring what" in line for line in again.lines)
        assert any("1 open complaints watched again" in line for line in again.lines), again.lines
        kept = again.request("GET", f"/customers/{customer['id']}", headers=auth)  # the old token still works
        assert kept.status_code == 200, kept.text
        assert kept.json()["phone"] == customer["phone"] and kept.headers["ETag"] == made.headers["ETag"]
        # the uniqueness guards came back with the data: the same phone is still taken
        clash = again.request("POST", "/customers", headers=auth, json={
            "name": "Someone Else", "phone": phone, "branch_id": "jakarta"})
        assert clash.status_code == 409, clash.text
        # a cursor handed out before the restart goes on where it stopped (the signing key was kept)
        rest = again.request("GET", f"/customers?branch=bandung&limit=1&cursor={cursor}", headers=auth)
        assert rest.status_code == 200, rest.text
        assert rest.json()["items"] and rest.json()["items"][0]["id"] != page.json()["items"][0]["id"]
        complaint = again.request("GET", f"/complaints/{opened.json()['id']}", headers=auth)
        assert complaint.status_code == 200 and complaint.json()["status"] == "open"
        # the counters the stream consumer kept came back as they were, and nothing was counted twice
        counts = again.request("GET", "/analytics/summary?branch=bandung", headers=auth)
        assert counts.status_code == 200, counts.text
        assert counts.json()["new_customers"]["total"] == 3, counts.json()
        s3 = _aws(again, "s3")
        assert s3.get_object(Bucket=bucket, Key="history/probe.json")["Body"].read() == b'{"kept": true}'  # type: ignore[attr-defined]
        assert [m["id"] for m in _outbox(again)[:len(sent_before)]] == [m["id"] for m in sent_before]
        scale = requests.get(f"http://127.0.0.1:{again.aws_port}/_relasi/time-scale", timeout=30)
        assert scale.json()["scale"] == 60
    finally:
        stop_stack_cleanly(again)

    done = _reset(again.env)
    assert done.returncode == 0, done.stderr
    fresh = start_stack(SEED="none", RELASI_STATE_DIR=state)
    try:
        assert any("a fresh start" in line for line in fresh.lines)
        gone = fresh.request("GET", f"/customers/{customer['id']}", "admin")
        assert gone.status_code == 404
        assert _outbox(fresh) == []
    finally:
        stop_stack_cleanly(fresh)
