"""Request and response models of interactions: a customer's history and timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from chalicelib import config as C
from chalicelib.api.complaints_models import ComplaintEntry
from chalicelib.api.models import Output, Strict
from chalicelib.domain.interactions import Direction, InteractionChannel, InteractionKind, NewInteraction


def _occurred(value: datetime) -> datetime:
    """A time the CRM can store: with an offset, from C.INTERACTIONS_EARLIEST_UTC up to now (an id is made from it)."""
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, e.g. Z or +07:00")
    earliest = datetime.fromisoformat(C.INTERACTIONS_EARLIEST_UTC)
    # Years far outside the range are refused before any arithmetic with the offset (which could overflow).
    if not earliest.year - 1 <= value.year <= datetime.now(UTC).year + 1 or value < earliest:
        raise ValueError(f"must be between {C.INTERACTIONS_EARLIEST_UTC[:10]} and now")
    if value > datetime.now(UTC):
        raise ValueError("must not be in the future")
    return value


class InteractionCreate(Strict):
    MULTILINE = frozenset({"summary"})

    channel: InteractionChannel
    direction: Direction
    kind: InteractionKind
    summary: Annotated[str, StringConstraints(min_length=1, max_length=C.SUMMARY_MAX_CHARS)]
    occurred_at: Annotated[datetime, AfterValidator(_occurred)] | None = None
    ref: Annotated[str, StringConstraints(min_length=1, max_length=C.REF_MAX_CHARS)] | None = None

    def to_domain(self) -> NewInteraction:
        return NewInteraction(channel=self.channel.value, direction=self.direction.value, kind=self.kind.value,
                              summary=self.summary, occurred_at=self.occurred_at, ref=self.ref)


class InteractionOut(Output):
    id: str
    customer_id: str
    channel: InteractionChannel
    direction: Direction
    kind: InteractionKind
    summary: str
    staff_id: str
    occurred_at: str
    created_at: str
    ref: str | None = None
    delivery: Literal["pending", "sending", "sent", "skipped", "failed"] | None = Field(
        default=None, description="set on messages the CRM sends itself: pending/sending until sent, or why not "
        "(skipped, failed: see reason)")
    reason: str | None = Field(default=None, description="why a message was not sent")


class InteractionPage(Output):
    items: list[InteractionOut]
    next_cursor: str | None


class InteractionEntry(InteractionOut):
    type: Literal["interaction"]


class OrderEntry(Output):
    """An order on the timeline (GET /orders/{id} has its lines and history)."""

    type: Literal["order"]
    id: str
    order_no: str
    branch_id: str
    status: str
    payment_status: str
    net_total: str
    placed_at: str
    promised_date: str | None


class CampaignMessageEntry(Output):
    """A campaign message the customer was sent (GET /campaigns/{id} has its texts)."""

    type: Literal["campaign_message"]
    campaign_id: str
    status: str = Field(description="accepted, failed, delivered, undelivered")
    variant: str | None
    sent_at: str
    opted_out_at: str | None


class SurveyEntry(Output):
    """A satisfaction survey the customer was sent, and their answer. The comment is theirs, for staff to read
    here: it is never logged or exported."""

    type: Literal["survey"]
    subject: Literal["complaint", "work_order", "order"]
    subject_id: str
    subject_ref: str = Field(description="what the customer read: the order's number, or the reference")
    branch_id: str = Field(description="where the subject was handled (satisfaction is counted there)")
    department: str
    status: Literal["sent", "answered"]
    asks_nps: bool = Field(description="the 0-10 recommendation question was asked (once a quarter at most)")
    sent_at: str
    expires_at: str
    csat: int | None = Field(description="1-5")
    nps: int | None = Field(description="0-10; null if not asked or skipped")
    comment: str | None
    answered_at: str | None


class TimelinePage(Output):
    items: list[Annotated[InteractionEntry | ComplaintEntry | OrderEntry | CampaignMessageEntry | SurveyEntry,
                          Field(discriminator="type")]]
    next_cursor: str | None
