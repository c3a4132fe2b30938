"""The `message_events` function: what the sending services report after they accepted a message
(chalicelib/domain/message_events.py reads the events).

- A campaign message's receipt moves its recipient row accepted -> delivered | undelivered (with the code) and
  adds to the campaign's counters (the whole report, per branch and per variant) in one transaction, once: a
  redelivered or late event finds the row moved and changes nothing.
- An email that bounced for good or that its reader marked as spam withdraws the customer's email marketing
  consent (source `ses_bounce` or `ses_complaint`), once; an erased customer changes nothing.

Nothing personal is logged: the events carry addresses; the log says the outcome and the code.
"""

from __future__ import annotations

from chalicelib.domain.clock import iso, utcnow
from chalicelib.domain.message_events import MessageEvent, parse


def handle(message: str) -> str:
    """One SNS message. Returns what it did (for the log and the tests)."""
    from chalicelib.observability import logger

    event = parse(message)
    if event is None:
        return "ignored"
    done = [_receipt(event)] if event.campaign_id and event.customer_id else []
    if event.withdraws_email_consent and event.customer_id:
        done.append(_withdraw_email(event))
    outcome = ",".join(done) or "unmatched"
    logger().info("message event", extra={"channel": event.channel, "outcome": event.outcome, "code": event.code,
                                          "done": outcome})
    return outcome


def _receipt(event: MessageEvent) -> str:
    from chalicelib.persistence import campaigns as repo

    row = repo.get_recipient(event.campaign_id or "", event.customer_id or "")
    if row is None or row.status != "accepted":
        return "receipt:none"
    status = "delivered" if event.outcome in ("delivered", "complained") else "undelivered"
    names = [status, f"r.{(row.sent_at or row.snapshot_at)[:13]}"] + ([f"{status}.{event.code}"] if event.code else [])
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        counts[f"b.{row.branch_id}.{name}"] = 1
        if row.variant:
            counts[f"v.{row.variant}.{name}"] = 1
    recorded = repo.record_receipt(row, status, event.code, iso(utcnow()), counts)
    return f"receipt:{status}" if recorded else "receipt:none"


def _withdraw_email(event: MessageEvent) -> str:
    from chalicelib.domain.consent import ConsentGiven
    from chalicelib.workflows.consent import withdraw_unattended

    source = "ses_complaint" if event.outcome == "complained" else "ses_bounce"
    changed = withdraw_unattended(event.customer_id or "", "email_marketing", ConsentGiven(value=False,
                                                                                           source=source))
    return "consent:withdrawn" if changed else "consent:none"
