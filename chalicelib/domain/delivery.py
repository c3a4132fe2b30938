"""Who may be messaged, on which channel: consent, opt-outs and preferences."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from chalicelib.domain.customers import Consent


class Purpose(StrEnum):
    TRANSACTIONAL = "transactional"  # complaint updates: sent without marketing consent
    SERVICE = "service"  # due-date reminders: sent unless opted out of everything
    MARKETING = "marketing"  # birthday greetings: need marketing consent


@dataclass(frozen=True)
class Route:
    channel: str | None  # "sms" | "email" | None when skipped
    address: str | None
    skip_reason: str | None = None


class Reachable(Protocol):
    """What routing reads of a customer: a Customer, or a due item's copy of its contact data."""

    @property
    def phone(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def preferred_channel(self) -> str: ...
    @property
    def consent(self) -> Mapping[str, Consent]: ...


def route(customer: Reachable, purpose: Purpose, *, sms_opted_out: bool) -> Route:
    """The channel is the customer's preference; nothing goes to a number that said STOP."""
    channel = customer.preferred_channel
    if channel == "email":
        if not customer.email:
            return Route(None, None, "no_email_address")
        if purpose is Purpose.MARKETING and not _consents(customer, "email_marketing"):
            return Route(None, None, "no_email_marketing_consent")
        return Route("email", customer.email)
    if sms_opted_out:
        return Route(None, None, "sms_opted_out")
    if purpose is Purpose.MARKETING and not _consents(customer, "sms_marketing"):
        return Route(None, None, "no_sms_marketing_consent")
    return Route("sms", customer.phone)


def _consents(customer: Reachable, topic: str) -> bool:
    entry = customer.consent.get(topic)
    return bool(entry and entry.value)
