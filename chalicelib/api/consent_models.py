"""Request and response models of consent (PUT /customers/{id}/consent; consent in a customer's create and change)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from chalicelib import config as C
from chalicelib.api.models import Output, Strict
from chalicelib.domain.consent import ConsentGiven


class ConsentIn(Strict):
    value: bool
    source: Annotated[str, StringConstraints(min_length=1, max_length=C.CONSENT_SOURCE_MAX_CHARS)]

    def to_domain(self) -> ConsentGiven:
        return ConsentGiven(value=self.value, source=self.source)


class ConsentSet(Strict):
    sms_marketing: ConsentIn | None = None
    email_marketing: ConsentIn | None = None

    @model_validator(mode="after")
    def _something(self) -> ConsentSet:
        if self.sms_marketing is None and self.email_marketing is None:
            raise ValueError("give sms_marketing and/or email_marketing")
        return self

    def to_domain(self) -> dict[str, ConsentGiven | None]:
        """Each topic given, by name (a topic not given stays as it was)."""
        return {topic: entry.to_domain() if entry is not None else None
                for topic, entry in (("sms_marketing", self.sms_marketing), ("email_marketing", self.email_marketing))}


class ConsentOut(Output):
    value: bool
    at: str = Field(description="UTC time the consent was recorded")
    source: str
