"""Birthday greetings and due-date reminders end to end, over HTTP and `make trigger`, against a local stack.

Customers with a birthday on the chosen day (one without SMS marketing
consent, one preferring email, one born on 29 February, greeted on 28
February of a non-leap year) and a due item a week ahead; the daily job is
triggered twice for the same date, and the outbox must hold exactly the
right messages, once.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra import outbox
from tests.stack_process import ROOT, RunningStack, start_stack, stop_stack_cleanly

DAY = "2027-02-28"  # 2027 is not a leap year
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    running = start_stack(SEED="none")
    yield running
    stop_stack_cleanly(running)


def _customer(stack: RunningStack, birthday: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "Intan Permata", "phone": f"0857-4100-{next(_numbers):04d}", "birthday": birthday, **fields}
    r = stack.request("POST", "/customers", "agent.bandung", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _trigger(stack: RunningStack) -> None:
    done = subprocess.run([sys.executable, "-m", "infra.trigger", "daily-reminders", DAY], cwd=ROOT, env=stack.env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _received(stack: RunningStack, recipient: str) -> list[dict[str, Any]]:
    return [m for m in outbox.fetch(stack.aws_port) if m["recipient"] == outbox.mask(recipient)]


def test_the_daily_job_sends_exactly_the_right_messages_once(stack: RunningStack) -> None:
    yes = {"value": True, "source": "showroom-form"}
    no = {"value": False, "source": "showroom-form"}
    sms_fan = _customer(stack, "1990-02-28", consent={"sms_marketing": yes})
    no_marketing = _customer(stack, "1985-02-28", consent={"sms_marketing": no})
    emailer = _customer(stack, "1979-02-28", preferred_channel="email", email=f"intan{next(_numbers)}@contoh.co.id",
                        language="en", consent={"email_marketing": yes})
    leapling = _customer(stack, "1992-02-29", consent={"sms_marketing": yes})
    not_today = _customer(stack, "1990-03-01", consent={"sms_marketing": yes})
    debtor = _customer(stack, "1970-06-01", consent={"sms_marketing": no})
    r = stack.request("POST", f"/customers/{debtor['id']}/due-items", "agent.bandung",
                      json={"kind": "installment", "title": "Cicilan mobil", "due_date": "2027-03-07", "amount": 3500000})
    assert r.status_code == 201, r.text

    _trigger(stack)
    _trigger(stack)  # a schedule that fires twice sends nothing twice

    expected = {sms_fan["phone"]: "sms", emailer["email"]: "email", leapling["phone"]: "sms", debtor["phone"]: "sms"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(_received(stack, who) for who in expected):
        time.sleep(0.5)
    time.sleep(2)  # let anything extra arrive
    for who, channel in expected.items():
        got = _received(stack, who)
        assert [m["channel"] for m in got] == [channel], (who, got)
    assert _received(stack, no_marketing["phone"]) == []
    assert _received(stack, not_today["phone"]) == []
    assert "Cicilan mobil" in _received(stack, debtor["phone"])[0]["text"]

    timeline = stack.request("GET", f"/customers/{no_marketing['id']}/timeline", "agent.bandung").json()["items"]
    skipped = [i for i in timeline if i["type"] == "interaction" and i["direction"] == "outbound"]
    assert [(i["delivery"], i["reason"]) for i in skipped] == [("skipped", "no_sms_marketing_consent")]
