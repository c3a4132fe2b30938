"""What the sending services say happened to a message after they accepted it.

Two sources publish to the stack's message-events topic (infra/template.yaml):

- AWS End User Messaging SMS (the SMS v2 API's configuration set): one JSON event per state, `eventType`
  `TEXT_*`, with the `context` the sender gave (`campaign`, `customer`). Indonesian operators' receipts are
  unreliable and may come up to 72 hours late, or never: a message with no final event stays "accepted" and the
  campaign report counts it `unknown` once 72 hours have passed.
- Amazon SES (the configuration set's event destination): `eventType` (or, for identity notifications,
  `notificationType`) Delivery, Bounce, Complaint, Reject, with the message's tags in `mail.tags`.

Parsing reads no address: the events carry the phone number or email address, which stays in the event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# SMS v2 event types that say nothing final yet (the carrier took it; a receipt may follow)
_SMS_NOT_FINAL = frozenset({"TEXT_PENDING", "TEXT_QUEUED", "TEXT_SUCCESSFUL", "TEXT_UNKNOWN"})
CODE_MAX = 40


@dataclass(frozen=True)
class MessageEvent:
    channel: str  # sms | email
    outcome: str  # delivered | undelivered | complained
    code: str | None  # why it was not delivered: the event type, lower case (blocked, ttl_expired, bounce_permanent)
    campaign_id: str | None
    customer_id: str | None

    @property
    def withdraws_email_consent(self) -> bool:
        """A hard bounce (the address does not exist) or a complaint (marked as spam) ends email marketing."""
        return self.channel == "email" and (self.outcome == "complained" or self.code == "bounce_permanent")


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _code(raw: str) -> str:
    return "".join(ch for ch in raw.lower() if ch.isalnum() or ch == "_")[:CODE_MAX] or "unknown"


def parse(message: str) -> MessageEvent | None:
    """The event an SNS message carries, or None: not JSON, not a known source, or not final."""
    try:
        body = json.loads(message)
    except (TypeError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    kind = body.get("eventType") or body.get("notificationType")
    if not isinstance(kind, str):
        return None
    if kind.startswith("TEXT_"):
        context = _object(body.get("context"))
        campaign, customer = _text(context.get("campaign")), _text(context.get("customer"))
        if kind in _SMS_NOT_FINAL:
            return None
        if kind == "TEXT_DELIVERED":
            return MessageEvent("sms", "delivered", None, campaign, customer)
        return MessageEvent("sms", "undelivered", _code(kind[len("TEXT_"):]), campaign, customer)
    mail = _object(body.get("mail"))
    tags = _object(mail.get("tags"))
    campaign, customer = _text(tags.get("campaign")), _text(tags.get("customer"))
    if kind == "Delivery":
        return MessageEvent("email", "delivered", None, campaign, customer)
    if kind == "Bounce":
        permanent = _object(body.get("bounce")).get("bounceType") == "Permanent"
        return MessageEvent("email", "undelivered", "bounce_permanent" if permanent else "bounce_transient",
                            campaign, customer)
    if kind == "Complaint":
        return MessageEvent("email", "complained", None, campaign, customer)
    if kind in ("Reject", "Rendering Failure", "RenderingFailure"):
        return MessageEvent("email", "undelivered", "rejected", campaign, customer)
    return None
