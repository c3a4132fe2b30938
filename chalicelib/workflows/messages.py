"""Tell a customer something, exactly once per key, and keep it on their timeline."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.domain.consent import Purpose, Route, route
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import NotFound
from chalicelib.domain.interactions import Interaction
from chalicelib.domain.messages import Message
from chalicelib.observability import count
from chalicelib.persistence import consent, messages


def notify(customer: Customer, message: Message, *, key: str, purpose: Purpose,
           kind: str = "other", ref: str | None = None, waking_hours: bool = False,
           send_at: datetime | None = None, chosen: Route | None = None) -> str:
    """Send (or decide not to send) `message`; returns "sent", "skipped", "deferred", "duplicate" or "gone" (the
    customer was erased meanwhile: nothing is sent or written). `send_at` in the future: it is claimed now and
    sent then by the reminders state machine (`withdraw_pending` takes it back before).

    The decision is claimed under `key` first, in one transaction with the
    outbound interaction that records it, so a redelivered event or a retried
    run finds the claim and sends nothing twice. A send that fails releases
    the claim and raises, so the caller's retry sends it. `chosen`: the route the caller decided on just before
    (the opt-out list is then not read again).
    """
    chosen = chosen or route(customer, purpose, sms_opted_out=consent.sms_opted_out(customer.phone))
    if send_at is not None and chosen.channel:
        from chalicelib.domain.clock import utcnow

        if send_at > utcnow():
            return _defer(customer, message, chosen.channel, chosen.address or "", send_at, key=key, kind=kind,
                          ref=ref)
    if waking_hours and chosen.channel:
        later = _after_quiet_hours()
        if later is not None:
            return _defer(customer, message, chosen.channel, chosen.address or "", later, key=key, kind=kind,
                          ref=ref)
    record = Interaction.outbound_message(
        customer_id=customer.id, branch_id=customer.branch_id, channel=chosen.channel or customer.preferred_channel,
        kind=kind, text=message.text, ref=ref, delivery="sent" if chosen.channel else "skipped",
        reason=chosen.skip_reason,
    )
    try:
        if not messages.claim(key, record):
            return "duplicate"
    except NotFound:
        return "gone"
    if chosen.channel is None:
        count("MessagesSkipped")
        return "skipped"
    from chalicelib import messaging

    try:
        context = {"customer": customer.id}  # a bounce or a complaint finds the customer by it
        if chosen.channel == "sms":
            messaging.send_sms(chosen.address or "", message.text, transactional=purpose is not Purpose.MARKETING,
                               context=context)
        else:
            messaging.send_email(chosen.address or "", message.subject, message.text, context=context)
    except Exception:
        messages.release(key, record)
        raise
    count("MessagesSent")
    return "sent"


def _after_quiet_hours() -> datetime | None:
    """The end of the quiet hours (UTC) when now is inside them (settings().quiet_hours, local), else None."""
    from chalicelib.config import settings
    from chalicelib.domain.clock import utcnow
    from chalicelib.domain.reminders import send_after

    s = settings()
    hours = s.quiet_hours
    if hours is None:
        return None
    now = utcnow()
    later = send_after(now, ZoneInfo(s.timezone), *hours)
    return later if later > now else None


def _defer(customer: Customer, message: Message, channel: str, address: str, later: datetime, *, key: str,
           kind: str, ref: str | None) -> str:
    """A message that may not go out in the quiet hours: claimed now as `pending` (on the timeline, with what
    to send it with), and handed to the reminders state machine, which waits until `later` and sends it once
    (pending -> sending -> sent). The execution is named after the key, so a redelivered record starts none."""
    import hashlib

    from chalicelib.config import settings
    from chalicelib.workflows.executions import start_or_find
    from chalicelib.workflows.reminders import execution_input

    record = Interaction.outbound_message(customer_id=customer.id, branch_id=customer.branch_id, channel=channel,
                                          kind=kind, text=message.text, ref=ref, delivery="pending", reason=None)
    send = {"address": address, "sms_type": "Transactional"} if channel == "sms" else {
        "address": address, "subject": message.subject}
    try:
        claimed, entry = messages.claim_entry(key, record, send=send)
    except NotFound:
        return "gone"
    if entry is None:
        return "duplicate"
    s = settings()
    if not s.reminder_state_machine_arn:
        raise RuntimeError("REMINDER_STATE_MACHINE_ARN is not set")
    name = "later-" + hashlib.sha256(key.encode()).hexdigest()[:40]
    local_day = later.astimezone(ZoneInfo(s.timezone)).date()
    start_or_find(s.reminder_state_machine_arn, name, execution_input(
        [entry], send_after=later, table=s.table_name, sender=s.sender_email, day=local_day))
    if not claimed:  # an earlier delivery of the record claimed it (and started the same execution)
        return "duplicate"
    count("MessagesDeferred")
    return "deferred"


def withdraw_pending(customer_id: str, key: str, reason: str) -> bool:
    """A message claimed under `key` to be sent later is not sent after all (what it was about is gone): its
    timeline entry goes from pending to skipped with `reason`, so the state machine that waits for it sends
    nothing. False when there is none, or it already went."""
    return messages.withdraw_pending(customer_id, key, reason)
