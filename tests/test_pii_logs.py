"""No personal data in logs, metrics or error answers.

Runs a full API session (create, read, search, look up, update, history,
conflicts, validation errors, erasure) while capturing every byte written to
stdout/stderr (Powertools logs and EMF metrics go there) and every log record
of every logger, then searches all of it for the personal data that was sent.
"""

from __future__ import annotations

import io
import logging
import urllib.parse
import uuid
from typing import Any

import pytest


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


@pytest.fixture
def all_logs(capfd: pytest.CaptureFixture[str]) -> Any:
    """Everything the process logs or prints while the test runs."""
    from chalicelib.observability import logger

    records = _Records()
    stream = io.StringIO()
    # Powertools' JSON handler keeps the stdout it was created with; point it
    # at our buffer for the test so every line it writes is searched.
    json_handlers = [h for h in logging.getLogger(logger().name).handlers if isinstance(h, logging.StreamHandler)]
    assert json_handlers
    previous = [h.setStream(stream) for h in json_handlers]
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)  # stricter than Lambda's default (WARNING); botocore DEBUG wire logs are never on
    root.addHandler(records)
    logger().addHandler(records)
    try:
        yield lambda: "\n".join(records.lines) + "\n" + stream.getvalue() + "".join(capfd.readouterr())
    finally:
        root.removeHandler(records)
        logger().removeHandler(records)
        root.setLevel(old_level)
        for h, old in zip(json_handlers, previous, strict=True):
            h.setStream(old)


def test_a_full_api_session_logs_no_personal_data(as_user: Any, all_logs: Any) -> None:
    agent, manager = as_user("agent.jakarta"), as_user("manager.jakarta")
    marker = uuid.uuid4().hex[:6]
    name = f"Kartika Wulandari{marker}"
    local_phone = f"0813-{marker[:2].encode().hex()[:4]}-{int(marker, 16) % 10000:04d}"
    email = f"kartika.{marker}@contoh.co.id"
    address = f"Jl. Kebon Sirih No. {marker}"
    birthday = "1987-06-15"
    summary = f"Keluhan rem berdecit, minta dijadwalkan servis {marker}"

    created = agent.post("/customers", {"name": name, "phone": local_phone, "email": email, "address": address,
                                        "birthday": birthday, "city": "Jakarta Pusat"},
                         headers={"Idempotency-Key": marker})
    assert created.status_code == 201, created.body
    c = created.json
    e164 = c["phone"]
    cid = c["id"]
    quoted = urllib.parse.quote
    steps = [
        agent.get(f"/customers/{cid}"),
        agent.get(f"/customers?q={quoted(name[:12])}"),
        agent.get(f"/customers?q={quoted(e164)}"),
        agent.get(f"/customers/lookup?phone={quoted(local_phone)}"),
        agent.get(f"/customers/lookup?email={quoted(email)}"),
        agent.post("/customers", {"name": name, "phone": local_phone}),  # 409
        agent.post("/customers", {"name": name, "phone": "0813", "email": f"{marker}@@x"}),  # 400
        agent.post("/customers", {"name": name, "phone": local_phone, "birthday": "1987-13-40"}),  # 400
        agent.post("/customers", {"name": name, "phone": local_phone}, headers={"Idempotency-Key": marker}),  # 422
        agent.post(f"/customers/{cid}/interactions",
                   {"channel": "phone", "direction": "inbound", "kind": "feedback", "summary": summary}),
        agent.post(f"/customers/{cid}/interactions",
                   {"channel": "phone", "direction": "inbound", "kind": "feedback", "summary": summary, "x": name}),
        agent.get(f"/customers/{cid}/timeline"),
        agent.patch(f"/customers/{cid}", {"address": address + " B"}, headers={"If-Match": '"v1"'}),
        agent.patch(f"/customers/{cid}", {"email": "bad" + email}, headers={"If-Match": '"v9"'}),
        as_user("agent.bandung").get(f"/customers/lookup?email={quoted(email)}"),  # 404
        manager.delete(f"/customers/{cid}"),
    ]
    assert [s.status_code for s in steps] == [200, 200, 200, 200, 200, 409, 400, 400, 422, 201, 400, 200, 200, 412, 404, 204]
    for s in steps:
        if s.status_code >= 400:
            body = s.body.decode()
            for secret in (name, email, e164, local_phone, address, birthday, summary):
                assert secret not in body

    captured = all_logs()
    assert '"message":"request"' in captured and '"Requests"' in captured  # the capture works
    leaked = [label for label, secret in {
        "name": name, "name prefix": name[:12], "email": email, "email (encoded)": quoted(email),
        "phone E.164": e164, "phone (encoded)": quoted(e164), "phone as typed": local_phone,
        "phone digits": e164[1:], "address": address, "birthday": birthday, "summary": summary,
    }.items() if secret in captured]
    assert leaked == []
