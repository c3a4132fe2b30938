"""What every capability's request and response models share (chalicelib/api/<capability>_models.py).

Models validate requests and generate /openapi.json. pydantic costs cold-start
time, so a model module is imported only when a route of its capability is
first called (chalicelib/api/http.py): a request imports its own capability's
models and this module, nothing else.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from chalicelib import config as C
from chalicelib.config import settings
from chalicelib.domain.text import clean_text


class Input(BaseModel):
    """Every request model: text anywhere in it (fields, list items, map keys and values) is
    Unicode-normalised (NFC) and refused with control or invisible formatting characters
    (chalicelib/domain/text.py); fields named in MULTILINE may hold line breaks and tabs.

    Built on first use (defer_build): a request pays for the models it validates, not for its
    capability's others."""

    model_config = ConfigDict(defer_build=True)
    MULTILINE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any, info: ValidationInfo) -> Any:
        return clean_text(value, multiline=info.field_name in cls.MULTILINE)


class Strict(Input):
    """A JSON body: unknown fields refused, no type coercion, surrounding white space stripped."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True, defer_build=True)


class QueryInput(Input):
    """A query string: text, so numbers are coerced (not strict); unknown names refused."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


def _branch(value: str) -> str:
    if value not in settings().branches:
        raise ValueError("is not a known branch")
    return value


BranchId = Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(_branch)]


def _whole_number(value: Any) -> Any:
    """Numbers in a query string as plain digits only (int() would also take "5_0", "+5" or " 5")."""
    if isinstance(value, str) and not re.fullmatch(r"\d{1,9}", value):
        raise ValueError("must be a whole number")
    return value


def limit_of(maximum: int) -> Any:
    """A page size in a query string, 1..maximum. The bounds come before the BeforeValidator (which
    still runs first): only so does the schema show them as minimum/maximum."""
    return Annotated[int, Field(ge=1, le=maximum), BeforeValidator(_whole_number)]


Limit = Annotated[int, Field(ge=1, le=C.PAGE_LIMIT_MAX), BeforeValidator(_whole_number)]  # limit_of(PAGE_LIMIT_MAX)
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


def in_years_2000_to_2099(value: date) -> date:
    if not date(2000, 1, 1) <= value <= date(2099, 12, 31):
        raise ValueError("must be a date between 2000-01-01 and 2099-12-31")
    return value


def json_date(value: Any) -> Any:
    """YYYY-MM-DD text to a date. A model with a mode="before" validator (the merge patches) gets its fields
    validated as Python values, where strict mode refuses a date written as text."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value  # not a calendar date: refused by the date type
    return value


# A calendar date in a JSON body, 2000-2099, in any model (a merge patch's too).
Day = Annotated[date, BeforeValidator(json_date), AfterValidator(in_years_2000_to_2099)]


class PageQuery(QueryInput):
    limit: Limit = C.PAGE_LIMIT_DEFAULT
    cursor: Cursor | None = None


class Output(BaseModel):
    """Every response model: it only documents answers (/openapi.json), so it is built when that is asked for."""

    model_config = ConfigDict(defer_build=True)


class FieldProblem(Output):
    field: str
    message: str


class Problem(Output):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None
    existing_customer_id: str | None = None
    field: str | None = None
