"""Tell a customer something, exactly once per key, and keep it on their timeline."""

from __future__ import annotations

from chalicelib.domain.consent import Purpose, route
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import NotFound
from chalicelib.domain.interactions import Interaction
from chalicelib.domain.messages import Message
from chalicelib.observability import count
from chalicelib.persistence import consent, messages


def notify(customer: Customer, message: Message, *, key: str, purpose: Purpose,
           kind: str = "other", ref: str | None = None) -> str:
    """Send (or decide not to send) `message`; returns "sent", "skipped", "duplicate" or "gone" (the
    customer was erased meanwhile: nothing is sent or written).

    The decision is claimed under `key` first, in one transaction with the
    outbound interaction that records it, so a redelivered event or a retried
    run finds the claim and sends nothing twice. A send that fails releases
    the claim and raises, so the caller's retry sends it.
    """
    chosen = route(customer, purpose, sms_opted_out=consent.sms_opted_out(customer.phone))
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
        if chosen.channel == "sms":
            messaging.send_sms(chosen.address or "", message.text, transactional=purpose is not Purpose.MARKETING)
        else:
            messaging.send_email(chosen.address or "", message.subject, message.text)
    except Exception:
        messages.release(key, record)
        raise
    count("MessagesSent")
    return "sent"
