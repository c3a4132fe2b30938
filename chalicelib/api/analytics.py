"""Routes of the analytics area: live counts for dashboards, the warehouse export, and its analyses.

Answers carry counts and codes, no personal data, except churn risk: staff act
on it, so it names the branch's customers (managers of that branch, admins).
Each route is one (RouteSpec, view) entry in ROUTES.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from chalicelib.api import cursors
from chalicelib.api.http import Call, Reply, RouteSpec, View
from chalicelib.domain.errors import NotFound

if TYPE_CHECKING:
    from chalicelib.api.analytics_models import (
        AnalyticsSummaryQuery,
        AnomalyQuery,
        BackfillRequest,
        BasketQuery,
        ChurnRiskQuery,
        ExportRequest,
        FlagQuery,
        InsightsQuery,
        MoneyQuery,
        RevenueQuery,
        SatisfactionQuery,
    )
    from chalicelib.api.models import PageQuery

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def summary(call: Call[None, AnalyticsSummaryQuery]) -> Reply:
    from chalicelib.services import analytics

    q = call.query
    return Reply(analytics.summary(call.caller, q.branch, q.from_, q.to))


def revenue(call: Call[None, RevenueQuery]) -> Reply:
    from chalicelib.services import analytics

    q = call.query
    return Reply(analytics.revenue(call.caller, q.branch, q.from_, q.to, q.by))


def satisfaction(call: Call[None, SatisfactionQuery]) -> Reply:
    from chalicelib.services import analytics

    q = call.query
    return Reply(analytics.satisfaction(call.caller, q.branch, q.from_, q.to, q.by))


def request_export(call: Call[ExportRequest, None]) -> Reply:
    from chalicelib.services import analytics

    run = analytics.request_export(call.caller, call.body.date)
    return Reply(run, 202, {"Location": f"/analytics/exports/{run['date']}"})


def list_exports(call: Call[None, PageQuery]) -> Reply:
    from chalicelib.services import analytics

    scope = f"{call.caller.operation}|exports"
    items, next_key = analytics.list_runs(call.query.limit, cursors.decode(call.query.cursor, scope))
    return Reply({"items": items, "next_cursor": cursors.encode(next_key, scope)})


def get_export(call: Call[None, None], day: str) -> Reply:
    from chalicelib.services import analytics

    # YYYY-MM-DD only: fromisoformat also reads 20261202 and 2026-W49-3, which are not the run's address
    try:
        wanted = date.fromisoformat(day) if _DAY.fullmatch(day) else None
    except ValueError:
        wanted = None
    if wanted is None:
        raise NotFound("No export of that date has been run.")
    return Reply(analytics.get_run(wanted))


def request_backfill(call: Call[BackfillRequest, None]) -> Reply:
    from chalicelib.services import analytics

    backfill = analytics.request_backfill(call.caller, call.body.segments)
    return Reply(backfill, 202, {"Location": f"{BACKFILLS}/{backfill['id']}"})


def get_backfill(call: Call[None, None], backfill_id: str) -> Reply:
    from chalicelib.services import analytics

    return Reply(analytics.get_backfill(backfill_id))


def churn_risk(call: Call[None, ChurnRiskQuery]) -> Reply:
    from chalicelib.services import analytics

    return Reply(analytics.churn_risk(call.caller, call.query.branch, call.query.limit))


def insights(call: Call[None, InsightsQuery]) -> Reply:
    from chalicelib.services import analytics

    return Reply(analytics.insights(call.caller, call.query.branch))


def anomalies(call: Call[None, AnomalyQuery]) -> Reply:
    from chalicelib.services import analytics

    q = call.query
    return Reply(analytics.anomalies(call.caller, q.branch, q.from_, q.to, q.metric))


def profitability(call: Call[None, MoneyQuery]) -> Reply:
    from chalicelib.services import analytics

    return Reply(analytics.profitability(call.caller, call.query.branch))


def basket(call: Call[None, BasketQuery]) -> Reply:
    from chalicelib.services import analytics

    return Reply(analytics.basket(call.caller, call.query.branch, call.query.level))


def transaction_flags(call: Call[None, FlagQuery]) -> Reply:
    from chalicelib.services import analytics

    return Reply(analytics.transaction_flags(call.caller, call.query.branch, call.query.reason))


def forecast(call: Call[None, MoneyQuery]) -> Reply:
    from chalicelib.services import analytics

    return Reply(analytics.forecast(call.caller, call.query.branch))


EXPORTS = "/analytics/exports"
BACKFILLS = "/analytics/backfills"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("GET", "/analytics/summary", "analytics.summary",
               "Real-time counts of a branch or of every branch: customers by stage (now), new customers, "
               "interactions, complaints (open now, opened, resolved, resolution time, SLA breaches) and messages "
               "per day of a window (default the last 30 days)", response="AnalyticsSummary", errors=(400, 401, 403)), summary),
    (RouteSpec("GET", "/analytics/revenue", "analytics.summary", "Net revenue, orders, average order value and "
               "returns of a branch or of every branch, per day, month or product category of a window (default "
               "the last 30 days), from the live counters (IDR, exact: strings)", response="Revenue",
               errors=(400, 401, 403)), revenue),
    (RouteSpec("GET", "/analytics/satisfaction", "analytics.satisfaction", "Satisfaction surveys of a branch or of "
               "every branch over a window (default the last 30 days), from the live counters: sent, answered, "
               "response rate, CSAT (share of 4-5) and NPS, each with its count, per day, department or staff "
               "member (staff: their resolved complaints, within SLA, reopened, and the CSAT of their work; "
               "managers and admins only)", response="Satisfaction", errors=(400, 401, 403)), satisfaction),
    (RouteSpec("POST", EXPORTS, "analytics.exports", "Export the snapshot of a date to S3 now (replaces that "
               "date's export); runs in the background", 202, response="ExportRunOut",
               errors=(400, 401, 403, 409, 413, 415, 422, 503), headers=("Location",)), request_export),
    (RouteSpec("GET", EXPORTS, "analytics.exports", "Export runs, newest date first, with rows, bytes and status", response="ExportRunList", errors=(400, 401, 403)), list_exports),
    (RouteSpec("GET", EXPORTS + "/{day}", "analytics.exports", "The latest export run of a date",
               response="ExportRunDetail", errors=(401, 403, 404)), get_export),
    (RouteSpec("POST", BACKFILLS, "analytics.backfills", "Export every fact the change log never brought to a "
               "nightly run, once, into the day it happened: one invocation per scan segment of the table, then "
               "the switch; runs in the background, one at a time", 202, response="BackfillOut",
               errors=(400, 401, 403, 409, 413, 415, 422, 503), headers=("Location",)), request_backfill),
    (RouteSpec("GET", BACKFILLS + "/{backfill_id}", "analytics.backfills", "A backfill as it stands: segments "
               "done, rows and parts once succeeded, why it failed", response="BackfillOut",
               errors=(401, 403, 404)), get_backfill),
    (RouteSpec("GET", "/analytics/churn-risk", "analytics.churn_risk", "Customers of a branch most at risk of "
               "leaving, from the latest export, with the reasons",
               response="ChurnRiskList", errors=(400, 401, 403)), churn_risk),
    (RouteSpec("GET", "/analytics/insights", "analytics.summary", "From the latest export: customers per RFM "
               "segment and churn band, and complaint root causes of the recent weeks with the growing ones", response="Insights", errors=(400, 401, 403)), insights),
    (RouteSpec("GET", "/analytics/anomalies", "analytics.anomalies", "Days whose complaint or interaction counts of "
               "a branch and category/channel are far from their recent norm (robust z-score), from the latest "
               "export", response="AnomalyList", errors=(400, 401, 403)), anomalies),
    (RouteSpec("GET", "/analytics/profitability", "analytics.money", "From the latest export: per branch and month "
               "revenue, discounts, cost of goods, cost to serve and profit with the cost prices' coverage, and the "
               "customers of highest value over 24 months (ids for admins and managers)", response="Profitability",
               errors=(400, 401, 403)), profitability),
    (RouteSpec("GET", "/analytics/basket", "analytics.money", "From the latest export: products (categories, or "
               "SKUs) bought together in the last 180 days, as association rules with support, confidence and lift; "
               "a branch's, or every branch's together", response="BasketRules", errors=(400, 401, 403)), basket),
    (RouteSpec("GET", "/analytics/transaction-flags", "analytics.money", "From the latest export: orders of the "
               "last 30 days flagged for review (never blocked), each with its reason and the number that made it "
               "(order ids for admins and managers)", response="TransactionFlags", errors=(400, 401, 403)),
     transaction_flags),
    (RouteSpec("GET", "/analytics/forecast", "analytics.money", "From the latest export: monthly net revenue per "
               "branch three months ahead by the better of two baselines (seasonal naive, 3-month moving average), "
               "with both backtest errors (MAPE, 6 months)", response="Forecast", errors=(400, 401, 403)), forecast),
]
