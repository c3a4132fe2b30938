"""Request and response models: they validate every request and generate /openapi.json.

Imported lazily (pydantic costs cold-start time) by chalicelib.api.http.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib import config as C
from chalicelib.config import settings
from chalicelib.domain import customers as rules
from chalicelib.domain.complaints import Category, Department, Severity
from chalicelib.domain.complaints import Status as ComplaintStatus
from chalicelib.domain.customers import Gender, Language, LifecycleStage, PreferredChannel
from chalicelib.domain.interactions import Direction, InteractionChannel, InteractionKind
from chalicelib.domain.reminders import DueKind
from chalicelib.domain.text import clean_text


class Input(BaseModel):
    """Every request model: text anywhere in it (fields, list items, map keys and values) is
    Unicode-normalised (NFC) and refused with control or invisible formatting characters
    (chalicelib/domain/text.py); fields named in MULTILINE may hold line breaks and tabs."""

    MULTILINE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any, info: ValidationInfo) -> Any:
        return clean_text(value, multiline=info.field_name in cls.MULTILINE)


class Strict(Input):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


def _phone(value: str) -> str:
    return rules.normalize_phone(value, settings().default_phone_region)


def _email(value: str) -> str:
    return rules.normalize_email(value)


def _branch(value: str) -> str:
    if value not in settings().branches:
        raise ValueError("is not a known branch")
    return value


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
BranchId = Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(_branch)]
Birthday = Annotated[date, AfterValidator(_birthday)]


def _json_date(value: Any) -> Any:
    """YYYY-MM-DD text to a date. A model with a mode="before" validator (CustomerPatch) gets its
    fields validated as Python values, where strict mode refuses a date written as text."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value  # not a calendar date: refused by the date type below
    return value


PatchBirthday = Annotated[date, BeforeValidator(_json_date), AfterValidator(_birthday)]
Address = Annotated[str, StringConstraints(max_length=C.ADDRESS_MAX_CHARS)]
City = Annotated[str, StringConstraints(max_length=C.CITY_MAX_CHARS)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=C.TAG_MAX_CHARS), AfterValidator(_tag)]
Tags = Annotated[list[Tag], Field(max_length=C.TAGS_MAX_ITEMS)]
AttrKey = Annotated[str, StringConstraints(min_length=1, max_length=C.ATTRIBUTE_KEY_MAX_CHARS)]
AttrValue = Annotated[str, StringConstraints(max_length=C.ATTRIBUTE_VALUE_MAX_CHARS)]
Attributes = Annotated[dict[AttrKey, AttrValue], Field(max_length=C.ATTRIBUTES_MAX_ITEMS)]


class ConsentIn(Strict):
    value: bool
    source: Annotated[str, StringConstraints(min_length=1, max_length=C.CONSENT_SOURCE_MAX_CHARS)]


class ConsentSet(Strict):
    sms_marketing: ConsentIn | None = None
    email_marketing: ConsentIn | None = None

    @model_validator(mode="after")
    def _something(self) -> ConsentSet:
        if self.sms_marketing is None and self.email_marketing is None:
            raise ValueError("give sms_marketing and/or email_marketing")
        return self


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


class ConsentOut(BaseModel):
    value: bool
    at: str = Field(description="UTC time the consent was recorded")
    source: str


class CustomerOut(BaseModel):
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


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


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


class InteractionOut(BaseModel):
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


class InteractionPage(BaseModel):
    items: list[InteractionOut]
    next_cursor: str | None


class InteractionEntry(InteractionOut):
    type: Literal["interaction"]


class ComplaintCreate(Strict):
    MULTILINE = frozenset({"description"})

    category: Category
    severity: Severity
    subject: Annotated[str, StringConstraints(min_length=1, max_length=C.SUBJECT_MAX_CHARS)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=C.DESCRIPTION_MAX_CHARS)]
    ref: Annotated[str, StringConstraints(min_length=1, max_length=C.REF_MAX_CHARS)] | None = None


class ComplaintPatch(Strict):
    """Move the case along its lifecycle, (re)assign it, note the resolution."""

    MULTILINE = frozenset({"resolution_note"})

    status: ComplaintStatus = None  # type: ignore[assignment]
    assignee: Annotated[str, StringConstraints(min_length=1, max_length=C.ASSIGNEE_MAX_CHARS)] | None = None
    resolution_note: Annotated[str, StringConstraints(min_length=1, max_length=C.RESOLUTION_NOTE_MAX_CHARS)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _status_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict) and "status" in data and data["status"] is None:
            raise ValueError("status cannot be removed")
        return data


class ComplaintHistoryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    at: str
    by: str
    change: Literal["created", "status", "assignee", "resolution_note"]
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class ComplaintFields(BaseModel):
    id: str
    customer_id: str
    branch_id: str
    category: Category
    department: Department
    severity: Severity
    subject: str
    description: str
    status: ComplaintStatus
    created_at: str
    updated_at: str
    created_by: str
    ack_due_at: str
    resolve_due_at: str
    due_at: str | None = Field(description="the next deadline: acknowledge while open, then resolve; null once resolved")
    breached: bool
    escalation_level: int = Field(ge=0, le=3)
    version: int
    ref: str | None = None
    assignee: str | None = None
    resolution_note: str | None = None
    acknowledged_at: str | None = None
    resolved_at: str | None = None
    closed_at: str | None = None


class ComplaintOut(ComplaintFields):
    history: list[ComplaintHistoryOut]


class ComplaintPage(BaseModel):
    items: list[ComplaintOut]
    next_cursor: str | None


class ComplaintEntry(ComplaintFields):
    type: Literal["complaint"]


class TimelinePage(BaseModel):
    items: list[Annotated[InteractionEntry | ComplaintEntry, Field(discriminator="type")]]
    next_cursor: str | None


def _due_date(value: date) -> date:
    if not date(2000, 1, 1) <= value <= date(2099, 12, 31):
        raise ValueError("must be a date between 2000-01-01 and 2099-12-31")
    return value


def _cents(value: float) -> float:
    exponent = Decimal(str(value)).as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -2:
        raise ValueError("may have at most 2 decimals")
    return value


class DueItemCreate(Strict):
    """Something of the customer's falling due: reminded C.REMINDER_OFFSETS_DAYS days before (T-7, T-1, T-0)."""

    kind: DueKind
    title: Annotated[str, StringConstraints(min_length=1, max_length=C.DUE_TITLE_MAX_CHARS)]
    due_date: Annotated[date, AfterValidator(_due_date)]
    amount: Annotated[float, Field(ge=0, le=C.DUE_AMOUNT_MAX, allow_inf_nan=False), AfterValidator(_cents)] | None = None
    ref: Annotated[str, StringConstraints(min_length=1, max_length=C.REF_MAX_CHARS)] | None = None


class DueItemOut(BaseModel):
    id: str
    customer_id: str
    kind: DueKind
    title: str
    due_date: str = Field(description="YYYY-MM-DD")
    amount: float | None = None
    ref: str | None = None
    created_at: str
    created_by: str


class DueItemList(BaseModel):
    items: list[DueItemOut] = Field(description="soonest first")


def _whole_number(value: Any) -> Any:
    """Numbers in a query string as plain digits only (int() would also take "5_0", "+5" or " 5")."""
    if isinstance(value, str) and not re.fullmatch(r"\d{1,9}", value):
        raise ValueError("must be a whole number")
    return value


Limit = Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=C.PAGE_LIMIT_MAX)]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class PageQuery(Input):
    # Query strings are text: numbers are coerced (not strict), unknown names refused.
    model_config = ConfigDict(extra="forbid")
    limit: Limit = C.PAGE_LIMIT_DEFAULT
    cursor: Cursor | None = None


class CustomerListQuery(PageQuery):
    branch: Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(_branch)] | None = None
    stage: LifecycleStage | None = None
    tag: Tag | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=C.NAME_MAX_CHARS)] | None = None


class ComplaintListQuery(PageQuery):
    branch: Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(_branch)] | None = None
    department: Department | None = None
    status: ComplaintStatus | None = None
    severity: Severity | None = None


class LookupQuery(Input):
    model_config = ConfigDict(extra="forbid")
    phone: Phone | None = None
    email: Email | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LookupQuery:
        if (self.phone is None) == (self.email is None):
            raise ValueError("give exactly one of phone or email")
        return self


class Health(BaseModel):
    status: Literal["ok"]


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None
    existing_customer_id: str | None = None
    field: str | None = None


# ---------------------------------------------------------------------------- analytics: real-time aggregates

def _yyyy_mm_dd(value: Any) -> Any:
    """Query dates as YYYY-MM-DD only (the lax date type would take a number of seconds too)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


QueryDate = Annotated[date, BeforeValidator(_yyyy_mm_dd), AfterValidator(_due_date)]


class AnalyticsSummaryQuery(Input):
    """Local dates (settings().timezone), both included; default: the last 30 days ending today."""

    model_config = ConfigDict(extra="forbid")
    branch: Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(_branch)] | None = None
    from_: QueryDate | None = Field(default=None, alias="from", description="first day (YYYY-MM-DD)")
    to: QueryDate | None = Field(default=None, description=f"last day (YYYY-MM-DD), default today; a window "
                                   f"is at most {C.ANALYTICS_WINDOW_MAX_DAYS} days")


class SummaryWindow(BaseModel):
    from_: str = Field(alias="from")
    to: str
    days: int
    timezone: str


class SummaryDayCount(BaseModel):
    date: str
    n: int


class SummaryNewCustomers(BaseModel):
    total: int
    per_day: list[SummaryDayCount]


class SummaryInteractionsDay(BaseModel):
    date: str
    n: int
    by_channel: dict[str, int]


class SummaryInteractions(BaseModel):
    total: int = Field(description="interactions recorded by staff (the CRM's own messages are under notifications)")
    by_channel: dict[str, int]
    per_day: list[SummaryInteractionsDay]


class SummaryOpenComplaints(BaseModel):
    department: str
    severity: str
    n: int


class SummaryHistogramBucket(BaseModel):
    le_hours: float | None = Field(description="upper bound in hours (the previous bucket's bound excluded); "
                                   "null: longer than every bound")
    n: int


class SummaryResolutionHours(BaseModel):
    count: int
    mean: float | None
    p50: float | None = Field(description="upper bound of the bucket where the cumulative count reaches half; "
                              "null if none or past the last bound")
    p90: float | None = Field(description="as p50, for 90%")
    histogram: list[SummaryHistogramBucket]


class SummaryComplaints(BaseModel):
    open_total: int = Field(description="not resolved yet, now")
    open_by_department_severity: list[SummaryOpenComplaints]
    opened: int
    resolved: int
    opened_per_day: list[SummaryDayCount]
    resolved_per_day: list[SummaryDayCount]
    resolution_hours: SummaryResolutionHours = Field(description="complaints resolved in the window")
    sla_breaches: int
    sla_breaches_by_department: dict[str, int] = Field(description="by the day of the first deadline missed")


class SummaryMessageTotals(BaseModel):
    sent: int
    pending: int = Field(description="decided, waiting to be sent")
    failed: int
    skipped: int
    skipped_by_reason: dict[str, int]


class SummaryMessagesDay(SummaryMessageTotals):
    date: str


class SummaryMessageCounts(SummaryMessageTotals):
    per_day: list[SummaryMessagesDay] = Field(description="by the day the message was decided")


class SummaryNotifications(SummaryMessageCounts):
    reminders: SummaryMessageCounts = Field(description="birthday greetings and due-date reminders")
    complaint_updates: SummaryMessageCounts


class AnalyticsSummary(BaseModel):
    """Counts only: no personal data."""

    window: SummaryWindow
    branch: str | None = Field(description="null: every branch")
    customers_by_stage: dict[str, int] = Field(description="now")
    customers_total: int = Field(description="now")
    new_customers: SummaryNewCustomers
    interactions: SummaryInteractions
    complaints: SummaryComplaints
    notifications: SummaryNotifications


# ---------------------------------------------------------------------------- analytics: export runs, churn, anomalies

def _export_date(value: date) -> date:
    from zoneinfo import ZoneInfo

    from chalicelib.domain.exports import exportable

    if not exportable(value, datetime.now(ZoneInfo(settings().timezone)).date()):
        raise ValueError(f"must be between {C.EXPORT_EARLIEST_DATE} and today")
    return value


ExportDate = Annotated[date, AfterValidator(_export_date)]
AnalyticsBranch = Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(_branch)]


class ExportRequest(Input):
    """Export the snapshot of `date` (local date, up to today) now; replaces that date's export."""

    model_config = ConfigDict(extra="forbid", strict=True)  # strict: a JSON string "YYYY-MM-DD", not a number
    date: ExportDate


class ExportDatasetOut(BaseModel):
    rows: int
    bytes: int
    parts: int


class ExportRunOut(BaseModel):
    date: str
    run_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    trigger: Literal["schedule", "api"] | None
    requested_at: str | None
    started_at: str | None
    finished_at: str | None
    rows: int | None = Field(description="all datasets, once succeeded")
    bytes: int | None = Field(description="all datasets' gzipped parts, once succeeded")
    datasets: dict[str, ExportDatasetOut] | None
    error: str | None = Field(description="the error's type, when failed; Abandoned: the run stopped without "
                                          "finishing (a timeout or a crash) and let go of its date")


class ExportRunList(BaseModel):
    items: list[ExportRunOut] = Field(description="newest date first")
    next_cursor: str | None


class ChurnRiskQuery(Input):
    model_config = ConfigDict(extra="forbid")
    branch: AnalyticsBranch | None = None
    limit: Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=C.CHURN_TOP_PER_BRANCH)] = \
        C.CHURN_API_LIMIT_DEFAULT


class ChurnRiskCustomer(BaseModel):
    customer_id: str
    name: str
    branch_id: str
    lifecycle_stage: str
    score: int = Field(description="0..100")
    band: Literal["low", "medium", "high"]
    reasons: list[str] = Field(description="reason codes, largest contribution first")


class ChurnRiskList(BaseModel):
    as_of: str | None = Field(description="the export date the scores come from (null before the first export)")
    branch: str | None
    items: list[ChurnRiskCustomer] = Field(description="highest score first")


class AnomalyQuery(Input):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    branch: AnalyticsBranch | None = None
    metric: Literal["complaints", "interactions"] | None = None
    from_: QueryDate | None = Field(default=None, alias="from", description="first day (YYYY-MM-DD)")
    to: QueryDate | None = Field(default=None, description="last day (YYYY-MM-DD)")


class AnomalyOut(BaseModel):
    day: str
    branch_id: str
    metric: Literal["complaints", "interactions"]
    dimension: str = Field(description="complaint category or interaction channel")
    count: int
    median: float
    mad: float
    robust_z: float
    direction: Literal["high", "low"]


class AnomalyList(BaseModel):
    as_of: str | None
    branch: str | None
    truncated: bool = Field(description="more anomalies were found than are kept for the API")
    items: list[AnomalyOut] = Field(description="newest day first")


class InsightsQuery(Input):
    model_config = ConfigDict(extra="forbid")
    branch: AnalyticsBranch | None = None


class RootCauseWeek(BaseModel):
    week_start: str
    week_complete: bool = Field(description="false for the export day's own week, so far (never growing)")
    category: str
    department: str
    branch_id: str
    complaints: int
    breached: int
    breach_share: float
    previous_week_complaints: int
    change: int
    growing: bool


class GrowingRootCause(BaseModel):
    week_start: str = Field(description="the latest complete week")
    category: str
    department: str
    branch_id: str
    complaints: int
    baseline_mean: float = Field(description="mean of the weeks before")
    change: float


class RootCauses(BaseModel):
    recent_weeks: list[RootCauseWeek] = Field(description="week x category x department x branch, last 4 weeks")
    growing: list[GrowingRootCause] = Field(description="largest growth first")


class Insights(BaseModel):
    as_of: str | None = Field(description="the export date (null before the first export)")
    branch: str | None
    customers: int
    rfm_segments: dict[str, int]
    churn_bands: dict[Literal["low", "medium", "high"], int]
    complaint_root_causes: RootCauses

