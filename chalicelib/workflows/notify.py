"""Tell a customer something, exactly once per key, and keep it on their timeline."""

from __future__ import annotations

from chalicelib.domain import delivery
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import NotFound
from chalicelib.domain.interactions import Interaction
from chalicelib.domain.messages import Message
from chalicelib.observability import count
from chalicelib.persistence import messages


def notify(customer: Customer, message: Message, *, key: str, purpose: delivery.Purpose,
           kind: str = "other", ref: str | None = None) -> str:
    """Send (or decide not to send) `message`; returns "sent", "skipped", "duplicate" or "gone" (the
    customer was erased meanwhile: nothing is sent or written).

    The decision is claimed under `key` first, in one transaction with the
    outbound interaction that records it, so a redelivered event or a retried
    run finds the claim and sends nothing twice. A send that fails releases
    the claim and raises, so the caller's retry sends it.
    """
    route = delivery.route(customer, purpose, sms_opted_out=messages.sms_opted_out(customer.phone))
    record = Interaction.outbound_message(
        customer_id=customer.id, branch_id=customer.branch_id, channel=route.channel or customer.preferred_channel,
        kind=kind, text=message.text, ref=ref, delivery="sent" if route.channel else "skipped",
        reason=route.skip_reason,
    )
    try:
        if not messages.claim(key, record):
            return "duplicate"
    except NotFound:
        return "gone"
    if route.channel is None:
        count("MessagesSkipped")
        return "skipped"
    from chalicelib import messaging

    try:
        if route.channel == "sms":
            messaging.send_sms(route.address or "", message.text, transactional=purpose is not delivery.Purpose.MARKETING)
        else:
            messaging.send_email(route.address or "", message.subject, message.text)
    except Exception:
        messages.release(key, record)
        raise
    count("MessagesSent")
    return "sent"
