"""Request and response models of analytics: live counts, the warehouse export and its analyses."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from chalicelib import config as C
from chalicelib.api.models import BranchId, Input, Output, QueryInput, in_years_2000_to_2099, limit_of
from chalicelib.config import settings


def _yyyy_mm_dd(value: Any) -> Any:
    """Query dates as YYYY-MM-DD only (the lax date type would take a number of seconds too)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


QueryDate = Annotated[date, BeforeValidator(_yyyy_mm_dd), AfterValidator(in_years_2000_to_2099)]


class AnalyticsSummaryQuery(QueryInput):
    """Local dates (settings().timezone), both included; default: the last 30 days ending today."""

    branch: BranchId | None = None
    from_: QueryDate | None = Field(default=None, alias="from", description="first day (YYYY-MM-DD)")
    to: QueryDate | None = Field(default=None, description=f"last day (YYYY-MM-DD), default today; a window "
                                   f"is at most {C.ANALYTICS_WINDOW_MAX_DAYS} days")


class SummaryWindow(Output):
    from_: str = Field(alias="from")
    to: str
    days: int
    timezone: str


class SummaryDayCount(Output):
    date: str
    n: int


class SummaryNewCustomers(Output):
    total: int
    per_day: list[SummaryDayCount]


class SummaryInteractionsDay(Output):
    date: str
    n: int
    by_channel: dict[str, int]


class SummaryInteractions(Output):
    total: int = Field(description="interactions recorded by staff (the CRM's own messages are under notifications)")
    by_channel: dict[str, int]
    per_day: list[SummaryInteractionsDay]


class SummaryOpenComplaints(Output):
    department: str
    severity: str
    n: int


class SummaryHistogramBucket(Output):
    le_hours: float | None = Field(description="upper bound in hours (the previous bucket's bound excluded); "
                                   "null: longer than every bound")
    n: int


class SummaryResolutionHours(Output):
    count: int
    mean: float | None
    p50: float | None = Field(description="upper bound of the bucket where the cumulative count reaches half; "
                              "null if none or past the last bound")
    p90: float | None = Field(description="as p50, for 90%")
    histogram: list[SummaryHistogramBucket]


class SummaryComplaints(Output):
    open_total: int = Field(description="not resolved yet, now")
    open_by_department_severity: list[SummaryOpenComplaints]
    opened: int
    resolved: int
    opened_per_day: list[SummaryDayCount]
    resolved_per_day: list[SummaryDayCount]
    resolution_hours: SummaryResolutionHours = Field(description="complaints resolved in the window")
    sla_breaches: int
    sla_breaches_by_department: dict[str, int] = Field(description="by the day of the first deadline missed")


class SummaryMessageTotals(Output):
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


class RevenueRow(Output):
    net_revenue: str = Field(description="IDR: net totals of the orders confirmed up to closed, by the day placed")
    orders: int = Field(description="those orders")
    average_order_value: str | None = Field(description="null without orders")
    orders_placed: int = Field(description="orders placed, any status")
    orders_delivered: int = Field(description="by the day delivered")
    returns: int = Field(description="orders returned, by the day returned")
    returned_value: str


class SummaryRevenueDay(RevenueRow):
    date: str


class SummaryRevenue(RevenueRow):
    per_day: list[SummaryRevenueDay]


class AnalyticsSummary(Output):
    """Counts only: no personal data."""

    window: SummaryWindow
    branch: str | None = Field(description="null: every branch")
    customers_by_stage: dict[str, int] = Field(description="now")
    customers_total: int = Field(description="now")
    new_customers: SummaryNewCustomers
    interactions: SummaryInteractions
    complaints: SummaryComplaints
    notifications: SummaryNotifications
    revenue: SummaryRevenue


class RevenueQuery(AnalyticsSummaryQuery):
    by: Literal["day", "month", "category"] = "day"


class RevenueItem(Output):
    key: str = Field(description="the day (YYYY-MM-DD), the month (YYYY-MM) or the product category")
    net_revenue: str
    orders: int = Field(description="by category: the orders with lines of it (its revenue: those lines)")
    average_order_value: str | None
    orders_placed: int | None = None
    orders_delivered: int | None = None
    returns: int | None = None
    returned_value: str | None = None


class Revenue(Output):
    """Amounts only: no personal data."""

    window: SummaryWindow
    branch: str | None = Field(description="null: every branch")
    by: Literal["day", "month", "category"]
    currency: Literal["IDR"]
    totals: RevenueRow
    items: list[RevenueItem]


class SatisfactionQuery(AnalyticsSummaryQuery):
    by: Literal["day", "department", "staff"] = Field(default="day", description="staff: managers (their branch) "
                                                      "and admins only")


class Csat(Output):
    answers: int
    satisfied_share: float | None = Field(description="answers of 4 or 5 / answers (0-1); null without answers")
    distribution: dict[str, int] = Field(description="answers per score, \"1\" to \"5\"")
    insufficient: bool = Field(description=f"fewer than {C.SATISFACTION_MIN_ANSWERS} answers: not to be compared")


class Nps(Output):
    answers: int
    score: float | None = Field(description="promoters' share minus detractors' share, in points (-100 to 100)")
    promoters: int = Field(description="9-10")
    passives: int = Field(description="7-8")
    detractors: int = Field(description="0-6")
    insufficient: bool


class SatisfactionRow(Output):
    sent: int = Field(description="surveys sent on the window's days")
    answered: int = Field(description="surveys answered on the window's days")
    response_rate: float | None = Field(description="answered / sent (0-1)")
    csat: Csat
    nps: Nps


class SatisfactionItem(Output):
    key: str = Field(description="the day (YYYY-MM-DD), the department, or the staff member's id (the `sub` every "
                     "record's `by` holds)")
    name: str | None = Field(default=None, description="staff: their username in the staff directory (null when it "
                             "does not know the id)")
    sent: int | None = None
    answered: int | None = None
    response_rate: float | None = None
    csat: Csat
    nps: Nps | None = None
    complaints_resolved: int | None = Field(default=None, description="by staff or department: complaints (assigned "
                                            "to them, of the department) resolved on the window's days")
    acknowledged_within_sla: int | None = None
    resolved_within_sla: int | None = None
    reopened: int | None = None
    reopen_rate: float | None = None
    surveys_sent: int | None = None
    surveys_answered: int | None = None
    rank: int | None = Field(default=None, description=f"staff: by CSAT among those with "
                             f"{C.SATISFACTION_MIN_ANSWERS} answers or more; null for the others (listed by name)")


class Satisfaction(Output):
    """Counts and shares only: no customer, no comment."""

    window: SummaryWindow
    branch: str | None = Field(description="null: every branch")
    by: Literal["day", "department", "staff"]
    totals: SatisfactionRow
    items: list[SatisfactionItem]


# ---------------------------------------------------------------------------- analytics: export runs, churn, anomalies

def _export_date(value: date) -> date:
    from zoneinfo import ZoneInfo

    from chalicelib.domain.exports import exportable

    if not exportable(value, datetime.now(ZoneInfo(settings().timezone)).date()):
        raise ValueError(f"must be between {C.EXPORT_EARLIEST_DATE} and today")
    return value


ExportDate = Annotated[date, AfterValidator(_export_date)]


class ExportRequest(Input):
    """Export the snapshot of `date` (local date, up to today) now; replaces that date's export."""

    model_config = ConfigDict(extra="forbid", strict=True)  # strict: a JSON string "YYYY-MM-DD", not a number
    date: ExportDate


class BackfillRequest(Input):
    """Export every fact the change log never brought to a nightly run (history from before it, an import, a
    schema change), once, into the day it happened; the nightly runs keep the facts logged from today on."""

    model_config = ConfigDict(extra="forbid", strict=True)
    segments: int | None = Field(default=None, ge=1, le=C.BACKFILL_MAX_SEGMENTS, description=(
        "scan segments, each exported by its own invocation; default: one per "
        f"{C.BACKFILL_ITEMS_PER_SEGMENT:,} items of the table"))


class BackfillOut(Output):
    id: str
    status: Literal["running", "succeeded", "failed"]
    before: str = Field(description="local day: the backfill owns the facts logged before it (or never logged); "
                                    "the nightly runs those logged on it and after")
    trigger: Literal["api", "nightly"] = Field(description="who started it: an admin (POST /analytics/backfills), "
                                                           "or the nightly export, for a first deployment or a "
                                                           "deployment that changed the facts' files")
    segments: int
    segments_done: int
    rows: int | None = Field(description="facts written, once succeeded")
    parts: int | None = Field(description="parts written, once succeeded")
    started_at: str
    finished_at: str | None
    error: str | None = Field(description="SegmentFailed: a segment failed after its retries; FinishFailed: "
                                          "the switch failed (what the segments wrote is deleted in both cases); "
                                          "CleanupIncomplete: the backfill is current but some of what it "
                                          "replaces was left; Abandoned: it stopped without saying so and its "
                                          "lease ran out; or the error's type")


class ExportDatasetOut(Output):
    rows: int
    bytes: int
    parts: int


class ExportRunOut(Output):
    date: str
    run_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    trigger: Literal["schedule", "api", "catch_up"] | None = Field(
        description="catch_up: the nightly run found this date missing or failed within the last 7 days")
    requested_at: str | None
    started_at: str | None
    finished_at: str | None
    rows: int | None = Field(description="all datasets, once succeeded")
    bytes: int | None = Field(description="all datasets' gzipped parts, once succeeded")
    datasets: dict[str, ExportDatasetOut] | None
    error: str | None = Field(description="the error's type, when failed; Abandoned: the run stopped without "
                                          "finishing (a timeout or a crash) and let go of its date")


class ExportRunDetail(ExportRunOut):
    runs: list[ExportRunOut] = Field(description="every run of the date, as it ended, newest first (at most 20); "
                                                 "the first is the one above unless a request is still queued")


class ExportRunList(Output):
    items: list[ExportRunOut] = Field(description="newest date first")
    next_cursor: str | None


class ChurnRiskQuery(QueryInput):
    branch: BranchId | None = None
    limit: limit_of(C.CHURN_TOP_PER_BRANCH) = C.CHURN_API_LIMIT_DEFAULT  # type: ignore[valid-type]


class ChurnRiskCustomer(Output):
    customer_id: str
    name: str
    branch_id: str
    lifecycle_stage: str
    score: int = Field(description="0..100")
    band: Literal["low", "medium", "high"]
    reasons: list[str] = Field(description="reason codes, largest contribution first")


class ChurnRiskList(Output):
    as_of: str | None = Field(description="the export date the scores come from (null before the first export)")
    branch: str | None
    items: list[ChurnRiskCustomer] = Field(description="highest score first")


class AnomalyQuery(QueryInput):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    branch: BranchId | None = None
    metric: Literal["complaints", "interactions"] | None = None
    from_: QueryDate | None = Field(default=None, alias="from", description="first day (YYYY-MM-DD)")
    to: QueryDate | None = Field(default=None, description="last day (YYYY-MM-DD)")


class AnomalyOut(Output):
    day: str
    branch_id: str
    metric: Literal["complaints", "interactions"]
    dimension: str = Field(description="complaint category or interaction channel")
    count: int
    median: float
    mad: float
    robust_z: float
    direction: Literal["high", "low"]


class AnomalyList(Output):
    as_of: str | None
    branch: str | None
    truncated: bool = Field(description="more anomalies were found than are kept for the API")
    items: list[AnomalyOut] = Field(description="newest day first")


class InsightsQuery(QueryInput):
    branch: BranchId | None = None


class RootCauseWeek(Output):
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


class GrowingRootCause(Output):
    week_start: str = Field(description="the latest complete week")
    category: str
    department: str
    branch_id: str
    complaints: int
    baseline_mean: float = Field(description="mean of the weeks before")
    change: float


class RootCauses(Output):
    recent_weeks: list[RootCauseWeek] = Field(description="week x category x department x branch, last 4 weeks")
    growing: list[GrowingRootCause] = Field(description="largest growth first")


class DefectCluster(Output):
    model: str
    part_no: str
    batch_no: str
    vehicles: int = Field(description="distinct vehicles with a quality_control complaint in 28 days (3 or more)")
    complaints: int
    factory_defects: int = Field(description="of them, judged factory defects by QC")
    first_on: str
    last_on: str
    branches: list[str]


class Insights(Output):
    as_of: str | None = Field(description="the export date (null before the first export)")
    branch: str | None
    customers: int
    rfm_segments: dict[str, int]
    churn_bands: dict[Literal["low", "medium", "high"], int]
    complaint_root_causes: RootCauses
    defect_clusters: list[DefectCluster] = Field(description="model x part x batch, most vehicles first")



# --- the money analyses (chalicelib/domain/finance.py) ------------------------------------------------------

class MoneyQuery(QueryInput):
    branch: BranchId | None = None


class BasketQuery(QueryInput):
    branch: BranchId | None = None
    level: Literal["category", "sku"] = Field(default="category", description="sku: scopes with 2,000 orders or more")


FlagReason = Literal["amount_unusual", "velocity", "shared_phone", "discount_over_limit", "price_below_cost",
                     "quick_return", "changed_after_delivery", "staff_phone"]


class FlagQuery(QueryInput):
    branch: BranchId | None = None
    reason: FlagReason | None = None


class ProfitMonth(Output):
    month: str = Field(description="YYYY-MM (local)")
    orders: int
    revenue: str = Field(description="IDR: qty x unit price of revenue orders (before discounts and tax)")
    discounts: str
    cogs: str = Field(description="IDR: cost of goods, at the cost price each line was sold at")
    sms_sent: int = Field(description="SMS parts sent")
    emails_sent: int
    complaints: int
    cost_to_serve: str = Field(description="IDR: messages x their price + complaints x handling cost")
    profit: str = Field(description="IDR: revenue - discounts - cogs - cost_to_serve (may be negative)")
    lines: int
    lines_costed: int
    cost_coverage: float | None = Field(description="share of lines with a cost price (profit is too high below 1)")


class ValuableCustomer(Output):
    customer_key: str | None = Field(default=None, description="the export's pseudonym: analysts only")
    customer_id: str | None = Field(default=None, description="admins, and managers of the branch, only")
    value: str = Field(description="IDR: profit over the months")
    revenue: str
    orders: int
    cost_coverage: float | None


class BranchProfit(Output):
    branch_id: str
    months: list[ProfitMonth] = Field(description="oldest first, the 24 months up to the export's (empty before "
                                                  "the branch's first order, message or complaint in them)")
    top_customers: list[ValuableCustomer] = Field(description="highest historical value first")


class Profitability(Output):
    as_of: str | None = Field(description="the export date (null before the first export)")
    branch: str | None
    cost_to_serve: dict[str, int] | None = Field(description="the prices the export used (PROFIT_* settings)")
    months: list[ProfitMonth] = Field(description="the branches' months together")
    branches: list[BranchProfit]


class BasketRule(Output):
    scope: str
    level: Literal["category", "sku"]
    rank: int
    baskets: int = Field(description="revenue orders of the last 180 days in the scope")
    antecedent: list[str]
    consequent: str
    orders: int = Field(description="orders holding all of them")
    support: float
    confidence: float
    lift: float


class BasketRules(Output):
    as_of: str | None
    scope: str = Field(description="a branch, or all")
    level: Literal["category", "sku"]
    baskets: int | None
    rules: list[BasketRule] = Field(description="top 100 by lift")


class TransactionFlag(Output):
    order_key: str | None = Field(default=None, description="the export's pseudonym: analysts only")
    order_id: str | None = Field(default=None, description="admins, and managers of the branch, only")
    customer_key: str | None = Field(default=None, description="the export's pseudonym: analysts only")
    branch_id: str
    placed_on: str
    placed_at: str
    reason: FlagReason
    value: float | None = Field(description="what made it (robust z, orders in 24 h, customers on the phone, "
                                            "discount share, lines below cost, days kept)")
    limit: float | None
    net_total: str


class TransactionFlags(Output):
    as_of: str | None
    branch: str | None
    counts: dict[str, int] = Field(description="flags per reason")
    truncated: bool = Field(description="more flags than kept for the API (500 per branch): the export has all")
    items: list[TransactionFlag] = Field(description="newest first")


class ForecastMonth(Output):
    month: str
    forecast: str | None
    seasonal_naive: str | None
    moving_average: str | None


class ActualMonth(Output):
    month: str
    net_revenue: str


class BranchForecast(Output):
    branch_id: str
    method: Literal["seasonal_naive", "moving_average"] | None = Field(description="the lower backtest MAPE")
    mape_seasonal_naive: float | None
    mape_moving_average: float | None
    backtest_months: int | None
    months: list[ForecastMonth] = Field(description="the 3 months after the last complete one")
    actual: list[ActualMonth] = Field(description="net revenue of the 24 months up to the export's (the last partial)")


class Forecast(Output):
    as_of: str | None
    branch: str | None
    branches: list[BranchForecast]
