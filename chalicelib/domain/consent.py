"""Consent: what a customer agreed to be sent, the SMS opt-out keywords, and who may be messaged on which channel.

Marketing consent is recorded per topic (`sms_marketing`, `email_marketing`)
with when and where it was given. A number that replied STOP gets no SMS at
all until START (the CRM's own list: chalicelib/persistence/consent.py).
Routing a message (`route`) applies both with the customer's preferred channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

CONSENT_TOPICS = ("sms_marketing", "email_marketing")


@dataclass
class Consent:
    """Consent to a topic as recorded: the answer, when (UTC) and where it was given."""

    value: bool
    at: str
    source: str


@dataclass(frozen=True)
class ConsentGiven:
    """Consent to a topic as a request gives it; the time is the CRM's when it records it."""

    value: bool
    source: str


def recorded(given: Mapping[str, ConsentGiven | None], now: str, current: Mapping[str, Consent]) -> dict[str, Consent]:
    """`current` with each topic given now recorded at `now` (last write wins per topic)."""
    result = dict(current)
    for topic, entry in given.items():
        if entry is not None:
            result[topic] = Consent(value=entry.value, at=now, source=entry.source)
    return result


class Purpose(StrEnum):
    TRANSACTIONAL = "transactional"  # complaint updates: sent without marketing consent
    SERVICE = "service"  # due-date reminders: sent unless opted out of everything
    MARKETING = "marketing"  # birthday greetings: need marketing consent
    SURVEY = "survey"  # a satisfaction survey about an order or a work order: not to who withdrew marketing consent


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
        if purpose is Purpose.SURVEY and _withdrawn(customer, "email_marketing"):
            return Route(None, None, "email_marketing_consent_withdrawn")
        return Route("email", customer.email)
    if sms_opted_out:
        return Route(None, None, "sms_opted_out")
    if purpose is Purpose.MARKETING and not _consents(customer, "sms_marketing"):
        return Route(None, None, "no_sms_marketing_consent")
    if purpose is Purpose.SURVEY and _withdrawn(customer, "sms_marketing"):
        return Route(None, None, "sms_marketing_consent_withdrawn")
    return Route("sms", customer.phone)


def _consents(customer: Reachable, topic: str) -> bool:
    entry = customer.consent.get(topic)
    return bool(entry and entry.value)


def _withdrawn(customer: Reachable, topic: str) -> bool:
    """The customer said no to the topic (not merely never asked)."""
    entry = customer.consent.get(topic)
    return entry is not None and entry.value is False


# --------------------------------------------------------------------------
# SMS replies
# --------------------------------------------------------------------------

STOP_WORDS = frozenset({"STOP", "BERHENTI", "UNSUBSCRIBE"})
START_WORDS = frozenset({"START", "MULAI"})


def opt_out_change(text: str) -> bool | None:
    """True: opt out of all SMS; False: opt back in (service messages); None: not a keyword."""
    word = " ".join(text.split()).upper()
    if word in STOP_WORDS:
        return True
    if word in START_WORDS:
        return False
    return None
