"""Consent changes no staff member makes: replies to our SMS number (STOP/BERHENTI/UNSUBSCRIBE and START/MULAI
keep the CRM's own opt-out list), and withdrawals from an opt-out link or an SES bounce or complaint
(`withdraw_unattended`).

Messages arrive on an SNS topic as Amazon SNS two-way SMS JSON
({"originationNumber", "messageBody", ...}). Repeating a keyword changes
nothing, so redelivery is harmless.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from chalicelib.config import settings
from chalicelib.domain.clock import iso, utcnow
from chalicelib.domain.consent import ConsentGiven, opt_out_change, recorded
from chalicelib.domain.customers import normalize_phone
from chalicelib.observability import count, flush, logger


def handle(message: str) -> str:
    """Returns what was done: "opted_out", "opted_in", "ignored" or "invalid"."""
    from chalicelib.persistence import consent

    try:
        body: Any = json.loads(message)
        sender = normalize_phone(str(body["originationNumber"]), settings().default_phone_region)
        text = str(body["messageBody"])
    except (ValueError, KeyError, TypeError):
        outcome = "invalid"
    else:
        change = opt_out_change(text)
        if change is None:
            outcome = "ignored"
        else:
            consent.set_sms_opt_out(sender, change, at=iso(utcnow()), source="sms-reply")
            outcome = "opted_out" if change else "opted_in"
    logger().info("inbound sms", extra={"outcome": outcome})  # never the number or the text
    count(f"InboundSms_{outcome}")
    flush()
    return outcome


def withdraw_unattended(customer_id: str, topic: str, given: ConsentGiven) -> bool:
    """A withdrawal no staff member asked for (an opt-out link's confirmation: the signed link is the permission;
    a hard bounce or a spam complaint that SES reports): the topic's consent becomes `given` unless it is already
    withdrawn. Returns whether this call changed it; an erased customer changes
    nothing. A profile changed meanwhile is read again."""
    from chalicelib.config import STALE_READ_ATTEMPTS
    from chalicelib.domain.errors import Conflict, NotFound, PreconditionFailed, StaleRead
    from chalicelib.persistence import customers as repo

    for _ in range(STALE_READ_ATTEMPTS):
        current = repo.get(customer_id, consistent=True)
        if current is None:
            return False
        entry = current.consent.get(topic)
        if entry is not None and not entry.value:
            return False
        now = iso(utcnow())
        updated = replace(current, consent=recorded({topic: given}, now, current.consent), updated_at=now,
                          version=current.version + 1)
        try:
            repo.update(current, updated)
        except (PreconditionFailed, StaleRead, Conflict):
            continue
        except NotFound:
            return False  # erased meanwhile
        return True
    raise StaleRead("The customer kept changing; retry.")
