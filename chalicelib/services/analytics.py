"""Analytics use cases: the live summary of a branch (or of every branch) over a window of days, and what the
export job left behind: its runs, churn risk, anomalies."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config import ANALYTICS_WINDOW_DEFAULT_DAYS, ANALYTICS_WINDOW_MAX_DAYS, settings
from chalicelib.domain import aggregates as rules
from chalicelib.domain.access import Access
from chalicelib.domain.clock import utcnow
from chalicelib.domain.complaints import Department
from chalicelib.domain.customers import LifecycleStage
from chalicelib.domain.errors import FieldError, Forbidden, ValidationFailed
from chalicelib.domain.interactions import InteractionChannel


def window(first: date | None, last: date | None, *, now: datetime | None = None) -> rules.Window:
    """The days asked for: `last` defaults to today, `first` to the ANALYTICS_WINDOW_DEFAULT_DAYS ending at `last`."""
    local_today = (now or utcnow()).astimezone(ZoneInfo(settings().timezone)).date()
    given_last = last is not None
    last = last or local_today
    first = first or last - timedelta(days=ANALYTICS_WINDOW_DEFAULT_DAYS - 1)
    if last < first:  # blame what the caller sent: a `from` after today when `to` was left to its default
        raise ValidationFailed([FieldError("query.to", "must not be before from") if given_last
                                else FieldError("query.from", "must not be after today (to's default)")])
    if (last - first).days + 1 > ANALYTICS_WINDOW_MAX_DAYS:
        raise ValidationFailed([FieldError("query.from", f"the window is at most {ANALYTICS_WINDOW_MAX_DAYS} days")])
    return rules.Window(first, last)


def scope_for(access: Access, branch: str | None) -> str | None:
    """The branch to report on (None: every branch). Branch-scoped callers get their own branch, only."""
    if access.branch is None:
        return branch
    if (branch is not None and branch != access.branch) or access.branch not in settings().branches:
        raise Forbidden("You may only see analytics of your own branch.")
    return access.branch


def summary(access: Access, branch: str | None, first: date | None, last: date | None) -> dict[str, Any]:
    """The summary answer (no personal data): one Query over the window's day counters, one GetItem of the current ones."""
    from chalicelib.persistence import aggregates as repo

    scope = scope_for(access, branch)
    days = window(first, last)
    by_day, now, _ = repo.read(scope or rules.ALL, days.first.isoformat(), days.last.isoformat())
    body = rules.summarize(
        days, by_day, now,
        stages=[s.value for s in LifecycleStage],
        channels=[c.value for c in InteractionChannel],
        departments=[d.value for d in Department],
    )
    return {
        "window": {"from": days.first.isoformat(), "to": days.last.isoformat(), "days": len(days.days),
                   "timezone": settings().timezone},
        "branch": scope,
        **body,
    }


def revenue(access: Access, branch: str | None, first: date | None, last: date | None, by: str) -> dict[str, Any]:
    """Revenue from the live counters (no personal data): one Query over the window's day counters."""
    from chalicelib.persistence import aggregates as repo

    scope = scope_for(access, branch)
    days = window(first, last)
    by_day = repo.read_days(scope or rules.ALL, days.first.isoformat(), days.last.isoformat())
    return {"window": {"from": days.first.isoformat(), "to": days.last.isoformat(), "days": len(days.days),
                       "timezone": settings().timezone},
            "branch": scope, "by": by, "currency": "IDR", **rules.revenue(days, by_day, by)}


def satisfaction(access: Access, branch: str | None, first: date | None, last: date | None, by: str
                 ) -> dict[str, Any]:
    """Surveys sent and answered, response rate, CSAT and NPS from the live counters: one Query over the window's
    day counters. By staff member: managers (their branch) and admins only; analysts see departments, never
    people."""
    from chalicelib.config import SATISFACTION_MIN_ANSWERS
    from chalicelib.persistence import aggregates as repo

    scope = _staff_scope(access, branch) if by == "staff" else scope_for(access, branch)
    days = window(first, last)
    by_day = repo.read_days(scope or rules.ALL, days.first.isoformat(), days.last.isoformat())
    body = rules.satisfaction(days, by_day, by, SATISFACTION_MIN_ANSWERS)
    if by == "staff":
        body["items"] = [{**row, "name": name} for row, name in zip(body["items"], _names_of(body["items"]),
                                                                    strict=True)]
    return {"window": {"from": days.first.isoformat(), "to": days.last.isoformat(), "days": len(days.days),
                       "timezone": settings().timezone}, "branch": scope, "by": by, **body}


def _staff_scope(access: Access, branch: str | None) -> str | None:
    """People's performance: admins any branch (or all), a manager their own branch only, whatever other role they
    also hold (an analyst's every-branch grant opens no one's performance)."""
    from chalicelib.domain.access import Role

    roles = access.principal.roles
    if Role.ADMIN in roles:
        return branch
    own = access.principal.branch
    if Role.MANAGER not in roles or own is None or (branch is not None and branch != own):
        raise Forbidden("Staff performance is for the branch's managers and admins; ask by day or department.")
    return own


def _names_of(rows: list[dict[str, Any]]) -> list[str | None]:
    """The staff members' usernames (the directory), or None where it does not know the id or cannot be read."""
    from chalicelib import staff
    from chalicelib.domain.errors import ServiceUnavailable

    if not rows:
        return []
    try:
        names = staff.usernames()
    except ServiceUnavailable:
        return [None] * len(rows)
    return [names.get(str(row["key"])) for row in rows]


def request_export(access: Access, day: date) -> dict[str, Any]:
    from chalicelib.workflows import analytics as analytics_export

    return run_out(analytics_export.request(day, access.principal.sub))


def request_backfill(access: Access, segments: int | None) -> dict[str, Any]:
    from chalicelib.workflows import backfill

    return backfill_out(backfill.request(access.principal.sub, segments))


def get_backfill(backfill_id: str) -> dict[str, Any]:
    from chalicelib.domain.clock import is_id
    from chalicelib.domain.errors import NotFound
    from chalicelib.persistence import backfills

    record = backfills.get(backfill_id) if is_id(backfill_id) else None  # any other path id cannot exist
    if record is None:
        raise NotFound("No backfill has that id.")
    return backfill_out(record)


def _stamp(record: dict[str, Any], name: str) -> str | None:
    """A record's epoch seconds as ISO 8601, or None."""
    from datetime import UTC

    from chalicelib.domain.clock import iso

    value = record.get(name)
    return iso(datetime.fromtimestamp(int(value), UTC)) if value is not None else None


def _as_it_stands(record: dict[str, Any], active: tuple[str, ...], now: datetime | None) -> tuple[str, str | None]:
    """(status, error) of a run or backfill: one still active after its lease has died without saying so (a Lambda
    timeout, out of memory, an execution stopped) shows as failed, `Abandoned`."""
    status, error = str(record["status"]), record.get("error")
    lease_until = record.get("lease_until")
    if status in active and lease_until is not None and int(lease_until) < (now or utcnow()).timestamp():
        return "failed", "Abandoned"
    return status, error


def backfill_out(record: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """A backfill as the API shows it (epoch seconds as ISO 8601; a dead one as `Abandoned`)."""
    status, error = _as_it_stands(record, ("running",), now)
    from chalicelib.persistence.backfills import AUTOMATIC

    return {"id": record["id"], "status": status, "before": record["before"],
            "trigger": "nightly" if record.get("requested_by") == AUTOMATIC else "api",
            "segments": int(record["segments"]),
            "segments_done": len(record.get("done") or ()), "rows": record.get("rows"), "parts": record.get("parts"),
            "started_at": _stamp(record, "started_at_epoch"), "finished_at": _stamp(record, "finished_at_epoch"),
            "error": error}


def run_out(record: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """An export run as the API shows it (epoch seconds as ISO 8601).

    A run still queued or running after its lease has died without saying so
    (a Lambda timeout, out of memory): it shows as failed, `Abandoned`.
    """
    from chalicelib.persistence.analytics_results import ACTIVE

    datasets = record.get("datasets") or {}
    status, error = _as_it_stands(record, ACTIVE, now)
    return {
        "date": record["date"],
        "run_id": record["run_id"],
        "status": status,
        "trigger": record.get("trigger"),
        "requested_at": _stamp(record, "requested_at_epoch"),
        "started_at": _stamp(record, "started_at_epoch"),
        "finished_at": _stamp(record, "finished_at_epoch"),
        "rows": sum(int(d["rows"]) for d in datasets.values()) if datasets else None,
        "bytes": sum(int(d["bytes"]) for d in datasets.values()) if datasets else None,
        "datasets": datasets or None,
        "error": error,
    }


def list_runs(limit: int, start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    from chalicelib.persistence import analytics_results

    records, next_key = analytics_results.list_runs(limit, start)
    return [run_out(r) for r in records], next_key


RUNS_SHOWN = 20  # GET /analytics/exports/{day}: that many of the day's runs, newest first


def get_run(day: date) -> dict[str, Any]:
    """The day's export as it stands, and its runs (each as it ended; a run that died shows as Abandoned)."""
    from chalicelib.domain.errors import NotFound
    from chalicelib.persistence import analytics_results

    record = analytics_results.get_run(day.isoformat())
    if record is None:
        raise NotFound("No export of that date has been run.")
    runs = analytics_results.runs_of(day.isoformat(), RUNS_SHOWN)
    return {**run_out(record), "runs": [run_out(r) for r in runs]}


def churn_risk(access: Access, branch: str | None, limit: int) -> dict[str, Any]:
    """The branch's most at-risk customers of the newest export, with names as they are now.

    A customer erased or moved to another branch since the export is left out.
    """
    from chalicelib.config import settings
    from chalicelib.persistence import analytics_results, customers

    scope = scope_for(access, branch)
    branches = [scope] if scope is not None else list(settings().branches)
    ranked: list[dict[str, Any]] = []
    as_of: list[str] = []
    for b in branches:
        latest = analytics_results.get_churn(b)
        if latest:
            as_of.append(str(latest["as_of"]))
            ranked.extend({**c, "branch_id": b} for c in latest.get("customers", []))
    ranked.sort(key=lambda c: (-int(c["score"]), str(c["customer_id"])))
    items: list[dict[str, Any]] = []
    # Profiles are read for a few more than `limit`, in case some were erased or moved meanwhile.
    for start in range(0, len(ranked), max(limit, 25)):
        chunk = ranked[start:start + max(limit, 25)]
        profiles = customers.get_many([str(c["customer_id"]) for c in chunk])
        for c in chunk:
            profile = profiles.get(str(c["customer_id"]))
            if profile is None or profile.branch_id != c["branch_id"]:
                continue
            items.append({"customer_id": profile.id, "name": profile.name, "branch_id": profile.branch_id,
                          "lifecycle_stage": profile.lifecycle_stage, "score": int(c["score"]), "band": c["band"],
                          "reasons": list(c["reasons"])})
            if len(items) == limit:
                break
        if len(items) == limit:
            break
    return {"as_of": min(as_of) if as_of else None, "branch": scope, "items": items}


def anomalies(access: Access, branch: str | None, first: date | None, last: date | None,
              metric: str | None) -> dict[str, Any]:
    from chalicelib.persistence import analytics_results

    if first is not None and last is not None and first > last:
        raise ValidationFailed([FieldError("query.to", "must not be before from")])
    scope = scope_for(access, branch)
    latest = analytics_results.get_anomalies() or {}
    items = [
        a for a in latest.get("anomalies", [])
        if (scope is None or a["branch_id"] == scope)
        and (metric is None or a["metric"] == metric)
        and (first is None or a["day"] >= first.isoformat())
        and (last is None or a["day"] <= last.isoformat())
    ]
    items.sort(key=lambda a: (a["day"], a["branch_id"], a["metric"], a["dimension"]), reverse=True)
    return {"as_of": latest.get("as_of"), "branch": scope, "truncated": bool(latest.get("truncated")), "items": items}


def insights(access: Access, branch: str | None) -> dict[str, Any]:
    """RFM segments and churn bands (customers per name), recent complaint root causes and the growing ones, and
    the defect clusters, of a branch or of every branch, from the latest export. Counts only."""
    from chalicelib.domain.analytics import RFM_SEGMENTS
    from chalicelib.persistence import analytics_results

    scope = scope_for(access, branch)
    latest = analytics_results.get_insights() or {}
    per_branch = latest.get("branches", {})
    chosen = [scope] if scope is not None else list(settings().branches)
    segments = {name: sum(int(per_branch.get(b, {}).get("segments", {}).get(name, 0)) for b in chosen)
                for name in RFM_SEGMENTS}
    bands = {band: sum(int(per_branch.get(b, {}).get("churn_bands", {}).get(band, 0)) for b in chosen)
             for band in ("low", "medium", "high")}

    def mine(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if scope is None or r["branch_id"] == scope]

    return {
        "as_of": latest.get("as_of"), "branch": scope, "customers": sum(segments.values()),
        "rfm_segments": segments, "churn_bands": bands,
        "complaint_root_causes": {"recent_weeks": mine(latest.get("root_causes_recent", [])),
                                  "growing": mine(latest.get("growing", []))},
        # QC: model x part x batch with 3+ vehicles complaining in 28 days (a branch sees those it reported in)
        "defect_clusters": [c for c in latest.get("defect_clusters", []) if scope is None or scope in c["branches"]],
    }


# --------------------------------------------------------------------------
# The money analyses of the latest export (chalicelib/domain/finance.py)
# --------------------------------------------------------------------------

def _names_records(access: Access, branches: list[str]) -> bool:
    """Admins, and managers asking about their own branch only, get customer and order ids to act on (and not the
    export's pseudonyms beside them: no table from pseudonym to person); analysts pseudonyms and counts only."""
    from chalicelib.domain.access import Role

    roles = access.principal.roles
    return Role.ADMIN in roles or (Role.MANAGER in roles and branches == [access.principal.branch])


def _shown(row: dict[str, Any], named: bool, ids: tuple[str, ...], keys: tuple[str, ...]) -> dict[str, Any]:
    hidden = keys if named else ids
    return {k: v for k, v in row.items() if k not in hidden}


def _money(access: Access, branch: str | None) -> tuple[str | None, list[str], dict[str, dict[str, Any]]]:
    from chalicelib.persistence import analytics_results

    scope = scope_for(access, branch)
    chosen = [scope] if scope is not None else list(settings().branches)
    return scope, chosen, analytics_results.get_money(chosen)


def _as_of(found: dict[str, dict[str, Any]]) -> str | None:
    return max((str(item["as_of"]) for item in found.values()), default=None)


_MONTH_SUMS = ("orders", "revenue", "discounts", "cogs", "sms_sent", "emails_sent", "complaints", "cost_to_serve",
               "profit", "lines", "lines_costed")


def _months_together(branches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The branches' months summed (amounts exactly, as text), with the coverage of them together."""
    from decimal import Decimal

    from chalicelib.domain.money import money_text

    total: dict[str, dict[str, Decimal]] = {}
    for b in branches:
        for m in b["months"]:
            row = total.setdefault(m["month"], {name: Decimal(0) for name in _MONTH_SUMS})
            for name in _MONTH_SUMS:
                row[name] += Decimal(str(m[name]))
    out = []
    for month, row in sorted(total.items()):
        counts = {name: int(row[name]) for name in ("orders", "sms_sent", "emails_sent", "complaints", "lines",
                                                    "lines_costed")}
        amounts = {name: money_text(row[name]) for name in ("revenue", "discounts", "cogs", "cost_to_serve", "profit")}
        out.append({"month": month, **counts, **amounts, "cost_coverage":
                    round(counts["lines_costed"] / counts["lines"], 6) if counts["lines"] else None})
    return out


def profitability(access: Access, branch: str | None) -> dict[str, Any]:
    """Per branch, its months (revenue, discounts, cost of goods, cost to serve, profit, cost coverage) and its
    customers of highest historical value over PROFIT_MONTHS months; and the branches' months together."""
    scope, chosen, found = _money(access, branch)
    named = _names_records(access, chosen)
    branches = [{"branch_id": b, "months": found.get(b, {}).get("profitability", {}).get("months", []),
                 "top_customers": [_shown(c, named, ("customer_id",), ("customer_key",))
                                   for c in found.get(b, {}).get("profitability", {}).get("top_customers", [])]}
                for b in chosen]
    prices = next((found[b]["profitability"]["cost_to_serve"] for b in chosen
                   if "cost_to_serve" in found.get(b, {}).get("profitability", {})), None)
    return {"as_of": _as_of(found), "branch": scope, "cost_to_serve": prices, "months": _months_together(branches),
            "branches": branches}


def basket(access: Access, branch: str | None, level: str) -> dict[str, Any]:
    """Products bought together: the branch's rules, or every branch's together ("all") for callers who see all."""
    from chalicelib.persistence import analytics_results

    key = scope_for(access, branch) or "all"
    found = analytics_results.get_money([key])
    rules = [r for r in found.get(key, {}).get("basket", []) if r["level"] == level]
    return {"as_of": _as_of(found), "scope": key, "level": level,
            "baskets": int(rules[0]["baskets"]) if rules else None, "rules": rules}


def transaction_flags(access: Access, branch: str | None, reason: str | None) -> dict[str, Any]:
    """Orders of the last 30 days of the export flagged for review (never blocked), newest first, with the reason."""
    scope, chosen, found = _money(access, branch)
    named = _names_records(access, chosen)
    items: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    truncated = False
    for b in chosen:
        flags = found.get(b, {}).get("flags", {})
        truncated = truncated or bool(flags.get("truncated"))
        for name, n in flags.get("counts", {}).items():
            counts[name] = counts.get(name, 0) + int(n)
        items.extend(f for f in flags.get("items", []) if reason is None or f["reason"] == reason)
    items.sort(key=lambda f: (str(f["placed_at"]), str(f["order_key"]), str(f["reason"])), reverse=True)
    items = [_shown(f, named, ("order_id",), ("order_key", "customer_key")) for f in items]
    return {"as_of": _as_of(found), "branch": scope, "counts": counts, "truncated": truncated, "items": items}


def forecast(access: Access, branch: str | None) -> dict[str, Any]:
    """Per branch: net revenue of the recent months and of the 3 months ahead, by the method with the lower backtest
    error, with both methods' numbers."""
    scope, chosen, found = _money(access, branch)
    out = []
    for b in chosen:
        content = found.get(b, {}).get("forecast", {})
        months = content.get("months", [])
        first = months[0] if months else {}
        out.append({"branch_id": b, "method": first.get("method"),
                    "mape_seasonal_naive": first.get("mape_seasonal_naive"),
                    "mape_moving_average": first.get("mape_moving_average"),
                    "backtest_months": first.get("backtest_months"),
                    "months": [{k: m[k] for k in ("month", "forecast", "seasonal_naive", "moving_average")}
                               for m in months],
                    "actual": content.get("actual", [])})
    return {"as_of": _as_of(found), "branch": scope, "branches": out}
