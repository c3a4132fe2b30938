"""Replies to our SMS number: STOP/BERHENTI/UNSUBSCRIBE and START/MULAI keep the CRM's own opt-out list.

Messages arrive on an SNS topic as Amazon SNS two-way SMS JSON
({"originationNumber", "messageBody", ...}). Repeating a keyword changes
nothing, so redelivery is harmless.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.config import settings
from chalicelib.domain.clock import iso, utcnow
from chalicelib.domain.consent import opt_out_change
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
