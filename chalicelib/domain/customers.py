"""Customer profile: the value rules (phone, email, names, lifecycle) and the entity."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.domain.consent import Consent, ConsentGiven
from chalicelib.domain.versions import etag_for


class LifecycleStage(StrEnum):
    LEAD = "lead"
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    INACTIVE = "inactive"
    CHURNED = "churned"


class PreferredChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Language(StrEnum):
    ID = "id"
    EN = "en"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNDISCLOSED = "undisclosed"


TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-:.]*$")
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().]{6,}$")


ACCEPTED_PHONE_FORMS = "e.g. 0812-3456-7890 or +62 812 3456 7890"  # said with every refusal


def normalize_phone(raw: str, default_region: str) -> str:
    """Return the E.164 form of a phone number or raise ValueError.

    Accepts local forms such as `0812-3456-7890` and international ones such as
    `+62 812 3456 7890`; the default region decides what a leading 0 means.
    """
    import phonenumbers  # lazy: its metadata costs cold-start time

    accepted = ACCEPTED_PHONE_FORMS
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"is not a phone number ({accepted})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"is not a valid phone number ({accepted})")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(text: str) -> bool:
    return bool(_PHONE_LIKE.match(text.strip())) and sum(c.isdigit() for c in text) >= 6


def normalize_email(raw: str) -> str:
    """Return the validated, lower-cased address or raise ValueError."""
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        # email_validator's message may quote the address: keep it out.
        raise ValueError("is not a valid email address") from None
    return result.normalized.lower()


def name_key(name: str) -> str:
    """Search form of a name: accents stripped, case folded, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


@dataclass
class Customer:
    id: str
    name: str
    phone: str
    branch_id: str
    created_at: str
    updated_at: str
    version: int = 1
    email: str | None = None
    birthday: str | None = None  # YYYY-MM-DD
    gender: str | None = None
    address: str | None = None
    city: str | None = None
    lifecycle_stage: str = LifecycleStage.LEAD.value
    tags: list[str] = field(default_factory=list)
    preferred_channel: str = PreferredChannel.SMS.value
    language: str = Language.ID.value
    consent: dict[str, Consent] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return etag_for(self.version)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewCustomer:
    """A customer as a request describes them (values already checked), before the CRM stamps id and times."""

    name: str
    phone: str  # E.164
    email: str | None = None
    birthday: str | None = None  # YYYY-MM-DD
    gender: str | None = None
    address: str | None = None
    city: str | None = None
    branch_id: str | None = None  # None: the caller's
    lifecycle_stage: str = LifecycleStage.LEAD.value
    tags: tuple[str, ...] = ()
    preferred_channel: str = PreferredChannel.SMS.value
    language: str = Language.ID.value
    consent: Mapping[str, ConsentGiven | None] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomerChanges:
    """A JSON merge patch of a customer: the fields in `sent` change (None clears an optional one);
    an attribute set to None is removed, consent is recorded per topic given."""

    sent: frozenset[str]
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    birthday: str | None = None
    gender: str | None = None
    address: str | None = None
    city: str | None = None
    branch_id: str | None = None
    lifecycle_stage: str | None = None
    tags: tuple[str, ...] | None = None
    preferred_channel: str | None = None
    language: str | None = None
    consent: Mapping[str, ConsentGiven | None] | None = None
    attributes: Mapping[str, str | None] | None = None


@dataclass(frozen=True)
class Erasure:
    """A customer being erased: the profile is gone already, what they owned is being deleted."""

    id: str
    branch_id: str
    started_at: str


def check_channel_reachable(preferred_channel: str, email: str | None) -> str | None:
    """The preferred channel must have an address to reach; returns a problem or None."""
    if preferred_channel == PreferredChannel.EMAIL.value and not email:
        return "email is required when preferred_channel is email"
    return None
