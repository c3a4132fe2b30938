"""Request and response models of customers: profiles, listing and search, the screen-pop lookup."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from chalicelib import config as C
from chalicelib.api.consent_models import ConsentOut, ConsentSet
from chalicelib.api.models import BranchId, Output, PageQuery, QueryInput, Strict, json_date
from chalicelib.config import settings
from chalicelib.domain import customers as rules
from chalicelib.domain.customers import (
    CustomerChanges,
    Gender,
    Language,
    LifecycleStage,
    NewCustomer,
    PreferredChannel,
)


def _phone(value: str) -> str:
    return rules.normalize_phone(value, settings().default_phone_region)


def _email(value: str) -> str:
    return rules.normalize_email(value)


def _birthday(value: date) -> date:
    if value > datetime.now(UTC).date() or value.year < 1900:
        raise ValueError("must be a date between 1900 and today")
    return value


def _tag(value: str) -> str:
    if not rules.TAG_PATTERN.match(value):
        raise ValueError("must be lower-case letters, digits and - _ : . only")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=C.NAME_MAX_CHARS)]
Phone = Annotated[str, StringConstraints(min_length=4, max_length=32), AfterValidator(_phone)]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254), AfterValidator(_email)]
Birthday = Annotated[date, AfterValidator(_birthday)]


PatchBirthday = Annotated[date, BeforeValidator(json_date), AfterValidator(_birthday)]
Address = Annotated[str, StringConstraints(max_length=C.ADDRESS_MAX_CHARS)]
City = Annotated[str, StringConstraints(max_length=C.CITY_MAX_CHARS)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=C.TAG_MAX_CHARS), AfterValidator(_tag)]
Tags = Annotated[list[Tag], Field(max_length=C.TAGS_MAX_ITEMS)]
AttrKey = Annotated[str, StringConstraints(min_length=1, max_length=C.ATTRIBUTE_KEY_MAX_CHARS)]
AttrValue = Annotated[str, StringConstraints(max_length=C.ATTRIBUTE_VALUE_MAX_CHARS)]
Attributes = Annotated[dict[AttrKey, AttrValue], Field(max_length=C.ATTRIBUTES_MAX_ITEMS)]


def _text(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


class CustomerCreate(Strict):
    """A new customer. `branch_id` defaults to the caller's branch."""

    MULTILINE = frozenset({"address"})

    name: Name
    phone: Phone
    email: Email | None = None
    birthday: Birthday | None = None
    gender: Gender | None = None
    address: Address | None = None
    city: City | None = None
    branch_id: BranchId | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.LEAD
    tags: Tags = Field(default_factory=list)
    preferred_channel: PreferredChannel = PreferredChannel.SMS
    language: Language = Language.ID
    consent: ConsentSet | None = None
    attributes: Attributes = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))

    def to_domain(self) -> NewCustomer:
        return NewCustomer(
            name=self.name, phone=self.phone, email=self.email, birthday=_text(self.birthday),
            gender=self.gender.value if self.gender else None, address=self.address, city=self.city,
            branch_id=self.branch_id, lifecycle_stage=self.lifecycle_stage.value, tags=tuple(self.tags),
            preferred_channel=self.preferred_channel.value, language=self.language.value,
            consent=self.consent.to_domain() if self.consent else {}, attributes=dict(self.attributes),
        )


class CustomerPatch(Strict):
    """JSON merge patch (RFC 7396) of the writable fields; null clears an optional field."""

    MULTILINE = frozenset({"address"})

    name: Name = None  # type: ignore[assignment]
    phone: Phone = None  # type: ignore[assignment]
    email: Email | None = None
    birthday: PatchBirthday | None = None
    gender: Gender | None = None
    address: Address | None = None
    city: City | None = None
    branch_id: BranchId = None  # type: ignore[assignment]
    lifecycle_stage: LifecycleStage = None  # type: ignore[assignment]
    tags: Tags | None = None
    preferred_channel: PreferredChannel = None  # type: ignore[assignment]
    language: Language = None  # type: ignore[assignment]
    consent: ConsentSet | None = None
    attributes: dict[AttrKey, AttrValue | None] | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("name", "phone", "branch_id", "lifecycle_stage", "preferred_channel", "language"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be removed")
        return data

    def to_domain(self) -> CustomerChanges:
        return CustomerChanges(
            sent=frozenset(self.model_fields_set), name=self.name, phone=self.phone, email=self.email,
            birthday=_text(self.birthday), gender=self.gender.value if self.gender else None, address=self.address,
            city=self.city, branch_id=self.branch_id,
            lifecycle_stage=self.lifecycle_stage.value if self.lifecycle_stage else None,
            tags=tuple(dict.fromkeys(self.tags)) if self.tags is not None else None,
            preferred_channel=self.preferred_channel.value if self.preferred_channel else None,
            language=self.language.value if self.language else None,
            consent=self.consent.to_domain() if self.consent else None, attributes=self.attributes,
        )


class CustomerOut(Output):
    id: str
    name: str
    phone: str = Field(description="E.164")
    email: str | None = None
    birthday: str | None = Field(default=None, description="YYYY-MM-DD")
    gender: Gender | None = None
    address: str | None = None
    city: str | None = None
    branch_id: str
    lifecycle_stage: LifecycleStage
    tags: list[str]
    preferred_channel: PreferredChannel
    language: Language
    consent: dict[Literal["sms_marketing", "email_marketing"], ConsentOut]
    attributes: dict[str, str]
    created_at: str
    updated_at: str
    version: int


class CustomerPage(Output):
    items: list[CustomerOut]
    next_cursor: str | None


class CustomerListQuery(PageQuery):
    branch: BranchId | None = None
    stage: LifecycleStage | None = None
    tag: Tag | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=C.NAME_MAX_CHARS)] | None = None


class LookupQuery(QueryInput):
    phone: Phone | None = None
    email: Email | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LookupQuery:
        if (self.phone is None) == (self.email is None):
            raise ValueError("give exactly one of phone or email")
        return self
