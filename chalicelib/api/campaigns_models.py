"""Request and response models of campaigns (chalicelib/api/campaigns.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints, model_validator

from chalicelib.api.models import Output, PageQuery, Strict
from chalicelib.config import settings
from chalicelib.domain import campaigns as rules
from chalicelib.domain.campaigns import CampaignChanges, Channel, NewCampaign, Purpose, Variant
from chalicelib.domain.clock import iso

Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=150)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120)]
SenderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{3,11}$")]


class Texts(Strict):
    """A text in each language (Indonesian, English). Placeholders: {first_name}, {branch_name}."""

    MULTILINE: ClassVar[frozenset[str]] = frozenset({"id", "en"})
    id: Text
    en: Text


class Subjects(Strict):
    id: Subject
    en: Subject


class VariantIn(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[A-E]$")]
    share: Annotated[int, Field(ge=1, le=99)]
    messages: Texts
    subjects: Subjects | None = None


def _variants(messages: Texts | None, subjects: Subjects | None, variants: list[VariantIn] | None) -> list[Variant]:
    if variants:
        return [Variant(v.id, v.share, v.messages.model_dump(), v.subjects.model_dump() if v.subjects else {})
                for v in variants]
    assert messages is not None
    return [Variant("A", 100, messages.model_dump(), subjects.model_dump() if subjects else {})]


def _check_variants(messages: Any, variants: list[VariantIn] | None, required: bool) -> None:
    if messages is not None and variants is not None:
        raise ValueError("give either messages or variants, not both")
    if required and messages is None and variants is None:
        raise ValueError("give messages (one text per language) or 2-5 variants")
    if variants is not None:
        if not rules.VARIANTS_MIN <= len(variants) <= rules.VARIANTS_MAX:
            raise ValueError(f"variants: {rules.VARIANTS_MIN} to {rules.VARIANTS_MAX}")
        if len({v.id for v in variants}) != len(variants):
            raise ValueError("variants: each id once")
        if sum(v.share for v in variants) != 100:
            raise ValueError("variants: the shares must add up to 100")


class CampaignCreate(Strict):
    name: Name
    channel: Channel
    purpose: Purpose
    audience: dict[str, Any] = Field(default_factory=dict, description=(
        "Conditions that must all hold (at most 10): branch_in, stage_in, tags_any, tags_all, city_in (lists), "
        "language, customer_since_before, customer_since_after (YYYY-MM-DD), birthday_month (1-12)."),
        examples=[{"branch_in": ["bandung", "surabaya"], "stage_in": ["customer"]}])
    messages: Texts | None = None
    subjects: Subjects | None = Field(default=None, description="email: the subject in each language")
    variants: list[VariantIn] | None = None
    holdout_pct: Annotated[int, Field(ge=0, le=50)] = 10
    send_at: datetime | None = Field(default=None, description="when to start (default: when scheduled)")
    sender_id: SenderId | None = None
    max_parts: Annotated[int, Field(ge=1, le=rules.SMS_PARTS_MAX_ADMIN)] = Field(
        default=1, description="SMS parts a message may take (more than 1: admins only)")

    @model_validator(mode="after")
    def _one_way(self) -> CampaignCreate:
        _check_variants(self.messages, self.variants, required=True)
        if self.send_at is not None and self.send_at.tzinfo is None:
            raise ValueError("send_at needs a time zone (e.g. 2026-12-07T09:00:00+07:00)")
        return self

    def to_domain(self) -> NewCampaign:
        return NewCampaign(name=self.name, channel=self.channel.value, purpose=self.purpose.value,
                           audience=rules.audience_of(self.audience, settings().branches),
                           variants=_variants(self.messages, self.subjects, self.variants),
                           holdout_pct=self.holdout_pct, send_at=iso(self.send_at) if self.send_at else None,
                           sender_id=self.sender_id, max_parts=self.max_parts)


class CampaignPatch(Strict):
    """The draft's fields to change (JSON merge patch); `messages` or `variants` replace the texts."""

    name: Name = None  # type: ignore[assignment]
    purpose: Purpose = None  # type: ignore[assignment]
    audience: dict[str, Any] = None  # type: ignore[assignment]
    messages: Texts | None = None
    subjects: Subjects | None = None
    variants: list[VariantIn] | None = None
    holdout_pct: Annotated[int, Field(ge=0, le=50)] = None  # type: ignore[assignment]
    send_at: datetime | None = None
    sender_id: SenderId | None = None
    max_parts: Annotated[int, Field(ge=1, le=rules.SMS_PARTS_MAX_ADMIN)] = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one_way(self) -> CampaignPatch:
        _check_variants(self.messages, self.variants, required=False)
        for name in ("name", "purpose", "audience", "holdout_pct", "max_parts"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be removed")
        if self.model_fields_set & {"messages", "variants"} and self.messages is None and self.variants is None:
            raise ValueError("the texts cannot be removed: give messages or variants")
        if "subjects" in self.model_fields_set and self.messages is None and self.variants is None:
            raise ValueError("subjects change with the texts: give messages (or variants) too")
        if self.send_at is not None and self.send_at.tzinfo is None:
            raise ValueError("send_at needs a time zone")
        return self

    def to_domain(self) -> CampaignChanges:
        sent = self.model_fields_set
        values: dict[str, Any] = {k: getattr(self, k) for k in ("name", "holdout_pct", "sender_id", "max_parts")
                                  if k in sent}
        if "purpose" in sent:
            values["purpose"] = self.purpose.value
        if "audience" in sent:
            values["audience"] = rules.audience_of(self.audience, settings().branches)
        if "send_at" in sent:
            values["send_at"] = iso(self.send_at) if self.send_at else None
        if sent & {"messages", "variants"}:
            values["variants"] = _variants(self.messages, self.subjects, self.variants)
        return CampaignChanges(values)


class TestSend(Strict):
    addresses: list[Annotated[str, StringConstraints(min_length=3, max_length=254)]] = Field(
        min_length=1, max_length=rules.TEST_SEND_MAX, description="staff phone numbers (sms) or emails (email)")


class CampaignListQuery(PageQuery):
    pass


class VariantOut(Output):
    id: str
    share: int
    messages: dict[str, str]
    subjects: dict[str, str]


class CampaignOut(Output):
    id: str
    number: int
    name: str
    channel: Channel
    purpose: Purpose
    audience: dict[str, Any]
    variants: list[VariantOut]
    holdout_pct: int
    send_at: str | None
    sender_id: str | None
    max_parts: int
    status: str
    created_by: str
    created_at: str
    updated_at: str
    version: int
    approved_by: str | None
    recipients: int | None
    started_at: str | None
    finished_at: str | None
    paused_reason: str | None
    estimated_recipients: int | None


class CampaignPage(Output):
    items: list[CampaignOut]
    next_cursor: str | None


class SampleRecipient(Output):
    customer_id: str
    branch_id: str
    language: str
    variant: str | None
    address: str = Field(description="masked to its last 4 characters")


class CampaignPreview(Output):
    matched: int
    eligible: int = Field(description="matched less those with no address, no consent or opted out")
    to_send: int = Field(description="eligible less the global control group, the holdout and the capped")
    excluded: dict[str, int]
    parts_per_message: int | None
    estimated_parts: int
    estimated_cost: int = Field(description="IDR")
    estimated_duration_s: float
    sample: list[SampleRecipient]
    customers_read: int


class PreviewRunning(Output):
    status: str = Field(description="running")
    campaign_version: int = Field(description="the version of the campaign being previewed")
    requested_at: str


class CampaignReport(Output):
    campaign_id: str
    status: str
    branch: str | None
    matched: int
    eligible: int
    excluded: dict[str, int]
    control: int
    holdout: int
    to_send: int
    sent: int
    accepted: int
    delivered: int = Field(description="the operator's or the mail server's receipt said delivered")
    undelivered: int = Field(description="a final receipt said not delivered (see undelivered_by_code)")
    undelivered_by_code: dict[str, int] = Field(
        description="blocked, carrier_unreachable, ttl_expired ... (SMS); bounce_permanent, bounce_transient, "
                    "rejected (email)")
    failed: int = Field(description="the sending service refused the message (never handed over)")
    failed_by_code: dict[str, int]
    capped: int
    withdrawn: int
    queued: int
    awaiting_receipt: int = Field(description="accepted, no final receipt yet (within 72 hours of the end)")
    unknown: int = Field(description="accepted, and no final receipt 72 hours after the end")
    opted_out: int
    parts: int
    cost: int
    by_variant: dict[str, dict[str, Any]]
    by_branch: dict[str, dict[str, Any]]
    conversions: dict[str, Any] | None
    sends_by_hour: list[dict[str, Any]] = Field(description="messages handed to the sending service per hour (UTC)")


class TestSendOut(Output):
    sent: int
    addresses: int
