"""Interaction: one entry of a customer's history (a call, a visit, a chat...)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class InteractionChannel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    WEB = "web"
    VISIT = "visit"
    SMS = "sms"
    CHAT = "chat"
    SOCIAL = "social"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class InteractionKind(StrEnum):
    INQUIRY = "inquiry"
    FEEDBACK = "feedback"
    SALES_TALK = "sales_talk"
    SERVICE_TALK = "service_talk"
    COMPLAINT_FOLLOWUP = "complaint_followup"
    ORDER_UPDATE = "order_update"
    SERVICE_UPDATE = "service_update"  # the workshop's messages: an appointment, a work order
    SURVEY = "survey"  # a satisfaction survey's message (chalicelib/workflows/surveys.py)
    OTHER = "other"


@dataclass(frozen=True)
class NewInteraction:
    """An interaction as staff record it (values checked); the CRM adds id, staff and times."""

    channel: str
    direction: str
    kind: str
    summary: str
    occurred_at: datetime | None = None  # None: now
    ref: str | None = None


@dataclass
class Interaction:
    id: str
    customer_id: str
    channel: str
    direction: str
    kind: str
    summary: str
    staff_id: str
    occurred_at: str
    created_at: str
    ref: str | None = None
    # messages the CRM sent (or decided not to send) on its own
    delivery: str | None = None  # "sent" | "skipped"
    reason: str | None = None  # why it was skipped
    # The customer's branch when it was recorded: stored for the real-time
    # aggregates (per-branch counters), not part of the API's answer.
    branch_id: str | None = None

    @classmethod
    def outbound_message(cls, *, customer_id: str, branch_id: str | None, channel: str, kind: str, text: str,
                         ref: str | None, delivery: str, reason: str | None) -> Interaction:
        """A message the CRM sends (or decides not to send) by itself, as it shows on the timeline."""
        from chalicelib.config import SYSTEM_STAFF_ID
        from chalicelib.domain.clock import iso, new_id, utcnow

        now = utcnow()
        return cls(id=new_id(now), customer_id=customer_id, channel=channel, direction="outbound", kind=kind,
                   summary=text, staff_id=SYSTEM_STAFF_ID, occurred_at=iso(now), created_at=iso(now), ref=ref,
                   delivery=delivery, reason=reason, branch_id=branch_id)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("branch_id")
        return body

    def to_timeline_item(self) -> dict[str, Any]:
        return {"type": "interaction", **self.to_dict()}
