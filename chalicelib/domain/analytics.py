"""Analytics: age bands, RFM engagement, churn risk, complaint root causes and daily anomalies (pure).

The export job streams over the whole CRM table in pages with flat memory, so
nothing here ever holds rows: the per-customer functions take one small
feature record the job has already counted, and the two accumulators
(RootCauses, DailyCounts) keep one counter per dimension combination (weeks x
categories x departments x branches; days x branches x dimensions), whatever
the number of rows. Everything is deterministic: the same input gives the same
output in the same order, so two exports of the same data compare equal, and
every output is plain JSON (no NaN, no infinity).

Every tunable number lives in chalicelib/config.py; the two statistical
constants of the robust z-score are properties of the normal distribution,
not choices, so they stay here.
"""

from __future__ import annotations

import calendar
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from chalicelib.config import (
    AGE_BAND_START_YEARS,
    ANOMALY_MIN_ABS_CHANGE,
    ANOMALY_MIN_HISTORY_DAYS,
    ANOMALY_ROBUST_Z_MIN,
    ANOMALY_WINDOW_DAYS,
    CHURN_ENGAGEMENT_DROP_MIN_PREV_INTERACTIONS,
    CHURN_ENGAGEMENT_DROP_MIN_SHARE,
    CHURN_ENGAGEMENT_DROP_POINTS,
    CHURN_HIGH_SCORE_MIN,
    CHURN_MARKETING_CONSENT_WITHDRAWN_POINTS,
    CHURN_MEDIUM_SCORE_MIN,
    CHURN_NO_CONTACT_POINTS_BY_MIN_DAYS,
    CHURN_OPEN_COMPLAINT_POINTS_EACH,
    CHURN_OPEN_COMPLAINTS_MAX_POINTS,
    CHURN_RECENT_COMPLAINT_POINTS_EACH,
    CHURN_RECENT_COMPLAINTS_MAX_POINTS,
    CHURN_SLA_BREACH_POINTS_EACH,
    CHURN_SLA_BREACHES_MAX_POINTS,
    CHURN_SLOW_RESOLUTION_POINTS_EACH,
    CHURN_SLOW_RESOLUTIONS_MAX_POINTS,
    CHURN_SMS_OPTED_OUT_POINTS,
    RFM_FREQUENCY_SCORE_MIN_INTERACTIONS,
    RFM_RECENCY_SCORE_MAX_DAYS,
    ROOT_CAUSE_GROWING_MIN_COMPLAINTS,
)

# --------------------------------------------------------------------------
# Age bands
# --------------------------------------------------------------------------

_BIRTHDAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNKNOWN_AGE_BAND = "unknown"


def _age_band_names(starts: tuple[int, ...]) -> tuple[str, ...]:
    # Derived from the configured starts so the names can never disagree with the boundaries.
    names = [f"under_{starts[0]}"]
    names += [f"{low}_{high - 1}" for low, high in zip(starts, starts[1:], strict=False)]
    names.append(f"{starts[-1]}_plus")
    return tuple(names)


_AGE_BANDS = _age_band_names(AGE_BAND_START_YEARS)


def _age_on(born: date, on: date) -> int:
    # Someone born on 29 February has their birthday on 28 February in common
    # years, as the birthday greeting does (chalicelib/domain/reminders.py).
    month, day = born.month, born.day
    if (month, day) == (2, 29) and not calendar.isleap(on.year):
        day = 28
    return on.year - born.year - ((on.month, on.day) < (month, day))


def age_band(birthday: str | None, on: date) -> str:
    """The customer's age band on `on`; "unknown" when the birthday is missing, malformed or in the future.

    Only the exact YYYY-MM-DD form is accepted: `date.fromisoformat` would also
    take "20001124" or week dates, which the API never stores, so seeing one
    means the data is wrong and its age should not be guessed.
    """
    if birthday is None or not _BIRTHDAY.fullmatch(birthday):
        return _UNKNOWN_AGE_BAND
    try:
        born = date.fromisoformat(birthday)
    except ValueError:
        return _UNKNOWN_AGE_BAND
    if born > on:
        return _UNKNOWN_AGE_BAND
    age = _age_on(born, on)
    band = sum(1 for start in AGE_BAND_START_YEARS if age >= start)
    return _AGE_BANDS[band]


# --------------------------------------------------------------------------
# RFM engagement
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Engagement:
    """What the export job counted of one customer's interactions, relative to the as-of date."""

    last_interaction_on: date | None
    interactions_last_90_days: int
    interactions_prev_90_days: int  # days 91..180 before the as-of date
    interactions_last_365_days: int
    monetary: float | None = None  # IDR: net totals of the orders of the last 365 days that are revenue
    customer_since: date | None = None  # the local day the customer was created (None: unknown, long ago)

    def silent_days(self, as_of: date) -> int | None:
        """Days without an interaction: since the last one, else since the customer was created (None: unknown)."""
        if self.last_interaction_on is not None:
            return max(0, (as_of - self.last_interaction_on).days)
        return None if self.customer_since is None else max(0, (as_of - self.customer_since).days)


@dataclass(frozen=True)
class RfmScore:
    recency_days: int | None
    frequency: int  # = interactions_last_365_days
    monetary: float | None
    r_score: int  # 1..5
    f_score: int  # 1..5
    segment: str


# R (rows, 5 = most recent) x F (columns, 1..5) -> segment. Rectangles of the
# classic RFM grid, without "promising" and "about_to_sleep", which fold into
# "new" and "need_attention".
_SEGMENT_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("new", "potential_loyal", "potential_loyal", "champions", "champions"),
    4: ("new", "potential_loyal", "potential_loyal", "champions", "champions"),
    3: ("need_attention", "need_attention", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"),
    1: ("lost", "lost", "at_risk", "at_risk", "cant_lose"),
}
RFM_SEGMENTS: tuple[str, ...] = (
    "champions", "loyal", "potential_loyal", "new", "need_attention", "at_risk", "cant_lose", "hibernating", "lost",
)


def _recency_score(recency_days: int | None) -> int:
    if recency_days is None:
        return 1
    for score, max_days in zip((5, 4, 3, 2), RFM_RECENCY_SCORE_MAX_DAYS, strict=True):
        if recency_days <= max_days:
            return score
    return 1


def _frequency_score(interactions: int) -> int:
    return 1 + sum(1 for minimum in RFM_FREQUENCY_SCORE_MIN_INTERACTIONS if interactions >= minimum)


def rfm(e: Engagement, as_of: date) -> RfmScore:
    """Recency and frequency scores (1..5) and the customer's segment.

    Fixed thresholds (RFM_RECENCY_SCORE_MAX_DAYS, RFM_FREQUENCY_SCORE_MIN_INTERACTIONS)
    rather than quintiles of the population: a customer's score then depends
    on that customer alone, so it is computed in one pass and means the same
    thing from one export to the next. Monetary is carried through unscored
    until there are orders.

    Segments, by recency score R and frequency score F:

        R \\ F | 1               2                3               4          5
        ------+---------------------------------------------------------------------
          5   | new             potential_loyal  potential_loyal champions  champions
          4   | new             potential_loyal  potential_loyal champions  champions
          3   | need_attention  need_attention   need_attention  loyal      loyal
          2   | hibernating     hibernating      at_risk         at_risk    cant_lose
          1   | lost            lost             at_risk         at_risk    cant_lose

    F = 1 is at most one interaction in the year (RFM_FREQUENCY_SCORE_MIN_INTERACTIONS
    starts at 2), so "new" is one recent contact: with F = 1 meaning none, any
    contact within a year would give F >= 2 and "new" could never happen.
    A customer never contacted has no recency (None) and F = 1; R is scored
    from the days since the customer was created, so one who joined last week
    is "new" and one who joined a year ago without a word since is "lost"
    (with `customer_since` unknown: R = 1, "lost"). A last interaction after
    `as_of` (clock skew, a backdated export) counts as today rather than as a
    negative recency.
    """
    recency = None if e.last_interaction_on is None else max(0, (as_of - e.last_interaction_on).days)
    r_score = _recency_score(e.silent_days(as_of))
    f_score = _frequency_score(e.interactions_last_365_days)
    return RfmScore(
        recency_days=recency,
        frequency=e.interactions_last_365_days,
        monetary=e.monetary,
        r_score=r_score,
        f_score=f_score,
        segment=_SEGMENT_GRID[r_score][f_score - 1],
    )


# --------------------------------------------------------------------------
# Churn risk
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChurnFeatures:
    engagement: Engagement
    open_complaints: int
    complaints_last_90_days: int
    breached_complaints_last_365_days: int
    slow_resolutions_last_365_days: int  # after the SLA resolve deadline or CHURN_SLOW_RESOLUTION_MIN_HOURS
    sms_opted_out: bool
    marketing_consent_withdrawn: bool  # a marketing consent set to no after the customer was created


def consent_withdrawn(consent: Mapping[str, Mapping[str, object] | None] | None, created_at: str,
                      before: str) -> bool:
    """A marketing consent (SMS or email) that is no, set after the customer was created and before `before` (the
    snapshot's end, ISO 8601 UTC): taken back, not declined at sign-up (which stamps the creation time)."""
    for topic in ("sms_marketing", "email_marketing"):
        entry = (consent or {}).get(topic) or {}
        if entry.get("value") is False and created_at < str(entry.get("at") or "") < before:
            return True
    return False


@dataclass(frozen=True)
class ChurnRisk:
    score: int  # 0..100, capped
    band: str  # "low" | "medium" | "high"
    reasons: tuple[str, ...]  # reason codes, highest contribution first


def _per_item(count: int, each: int, cap: int) -> int:
    return min(max(count, 0) * each, cap)


def _no_contact(e: Engagement, as_of: date) -> tuple[int, str]:
    """Silence since the last interaction (`no_contact_<threshold>_days`), or since the customer was created when
    there was none (`never_contacted`, once the silence reaches the first threshold: a customer of last week is
    not at risk for it)."""
    silent = e.silent_days(as_of)
    if silent is None:  # never contacted, created when is unknown: the longest silence
        return max(points for _, points in CHURN_NO_CONTACT_POINTS_BY_MIN_DAYS), "never_contacted"
    reached = [(days, points) for days, points in CHURN_NO_CONTACT_POINTS_BY_MIN_DAYS if silent >= days]
    if not reached:
        return 0, ""
    days, points = max(reached)
    # The threshold reached, not the exact days: a small, stable set of codes to group by.
    return points, f"no_contact_{days}_days" if e.last_interaction_on is not None else "never_contacted"


def _engagement_drop(e: Engagement) -> tuple[int, str]:
    previous, last = e.interactions_prev_90_days, e.interactions_last_90_days
    # Below a minimum of previous activity a "drop" is noise (1 -> 0 is -100%).
    if previous < CHURN_ENGAGEMENT_DROP_MIN_PREV_INTERACTIONS or last >= previous:
        return 0, ""
    if (previous - last) < CHURN_ENGAGEMENT_DROP_MIN_SHARE * previous:
        return 0, ""
    percent = (previous - last) * 100 // previous  # integer arithmetic: no 59.999 in a code
    return CHURN_ENGAGEMENT_DROP_POINTS, f"engagement_down_{percent}_percent"


def churn_risk(f: ChurnFeatures, as_of: date) -> ChurnRisk:
    """An additive 0..100 score whose every point has a reason code, so staff can see why.

    Components, in their tie-breaking order (weights in chalicelib/config.py):

        no contact       CHURN_NO_CONTACT_POINTS_BY_MIN_DAYS   "no_contact_<threshold>_days" / "never_contacted"
                         (the silence since the last interaction, or since the customer was created)
        engagement drop  CHURN_ENGAGEMENT_DROP_POINTS          "engagement_down_<percent>_percent"
        open complaints  each, capped                          "open_complaints_<n>"
        SLA breaches     each, capped (last 365 days)          "sla_breached_<n>"
        recent           each, capped (created last 90 days)   "recent_complaints_<n>"
        slow resolutions each, capped (last 365 days)          "slow_resolution_<n>"
        SMS opt-out      CHURN_SMS_OPTED_OUT_POINTS            "sms_opted_out"
        marketing        CHURN_MARKETING_CONSENT_WITHDRAWN_POINTS "marketing_consent_withdrawn"

    A complaint may count in several components (open, recent and breached):
    each is a separate signal of dissatisfaction. The total is capped at 100
    but every contributing reason is still listed; reasons carry counts only,
    never text or personal data, so the export can be shared.
    """
    e = f.engagement
    components: list[tuple[int, str]] = [
        _no_contact(e, as_of),
        _engagement_drop(e),
        (_per_item(f.open_complaints, CHURN_OPEN_COMPLAINT_POINTS_EACH, CHURN_OPEN_COMPLAINTS_MAX_POINTS),
         f"open_complaints_{f.open_complaints}"),
        (_per_item(f.breached_complaints_last_365_days, CHURN_SLA_BREACH_POINTS_EACH, CHURN_SLA_BREACHES_MAX_POINTS),
         f"sla_breached_{f.breached_complaints_last_365_days}"),
        (_per_item(f.complaints_last_90_days, CHURN_RECENT_COMPLAINT_POINTS_EACH, CHURN_RECENT_COMPLAINTS_MAX_POINTS),
         f"recent_complaints_{f.complaints_last_90_days}"),
        (_per_item(f.slow_resolutions_last_365_days, CHURN_SLOW_RESOLUTION_POINTS_EACH,
                   CHURN_SLOW_RESOLUTIONS_MAX_POINTS),
         f"slow_resolution_{f.slow_resolutions_last_365_days}"),
        (CHURN_SMS_OPTED_OUT_POINTS if f.sms_opted_out else 0, "sms_opted_out"),
        (CHURN_MARKETING_CONSENT_WITHDRAWN_POINTS if f.marketing_consent_withdrawn else 0,
         "marketing_consent_withdrawn"),
    ]
    contributing = [(points, order, code) for order, (points, code) in enumerate(components) if points > 0]
    contributing.sort(key=lambda item: (-item[0], item[1]))
    score = min(100, sum(points for points, _, _ in contributing))
    if score >= CHURN_HIGH_SCORE_MIN:
        band = "high"
    elif score >= CHURN_MEDIUM_SCORE_MIN:
        band = "medium"
    else:
        band = "low"
    return ChurnRisk(score=score, band=band, reasons=tuple(code for _, _, code in contributing))


def churn_sort_key(customer_key: str, risk: ChurnRisk) -> tuple[int, str]:
    """Highest risk first, then by key: equal scores keep one order from one export to the next."""
    return (-risk.score, customer_key)


# --------------------------------------------------------------------------
# Complaint root causes
# --------------------------------------------------------------------------


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())  # the ISO week's Monday


class RootCauses:
    """Complaints per ISO week x category x department x branch, and how many breached their SLA.

    Only combinations that had complaints in a week have a row: a drop to zero
    shows as a missing row, which keeps memory to the combinations seen.
    """

    def __init__(self) -> None:
        # (week_start, category, department, branch_id) -> [complaints, breached]
        self._counts: dict[tuple[date, str, str, str], list[int]] = {}

    def add(self, *, created_on: date, category: str, department: str, branch_id: str, breached: bool) -> None:
        cell = self._counts.setdefault((_week_start(created_on), category, department, branch_id), [0, 0])
        cell[0] += 1
        cell[1] += int(breached)

    def rows(self, as_of: date | None = None) -> list[dict[str, object]]:
        """One row per week x category x department x branch. A week that has not ended by `as_of` (the
        snapshot's day; None: every week has) is `week_complete` false and never `growing`: a few days of a
        week compared with the whole week before would look like a fall."""
        result: list[dict[str, object]] = []
        for key in sorted(self._counts, key=lambda k: (k[0], k[3], k[2], k[1])):
            week, category, department, branch_id = key
            complaints, breached = self._counts[key]
            previous_cell = self._counts.get((week - timedelta(days=7), category, department, branch_id))
            previous = previous_cell[0] if previous_cell else 0
            change = complaints - previous
            complete = as_of is None or week + timedelta(days=6) <= as_of
            result.append({
                "week_start": week.isoformat(),
                "week_complete": complete,
                "category": category,
                "department": department,
                "branch_id": branch_id,
                "complaints": complaints,
                "breached": breached,
                "breach_share": round(breached / complaints, 4),
                "previous_week_complaints": previous,
                "change": change,
                "growing": complete and change > 0 and complaints >= ROOT_CAUSE_GROWING_MIN_COMPLAINTS,
            })
        return result


def _as_int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an int in a root-cause row, got {type(value).__name__}")
    return value


def growing_categories(rows: Iterable[Mapping[str, object]], *, weeks: int) -> list[dict[str, object]]:
    """The category x department x branch combinations whose complaints grew in the latest week.

    The trend is the latest complete week present in `rows` (rows with
    `week_complete` false, the snapshot's own unfinished week, are left out)
    against the mean of the `weeks - 1` calendar weeks before it; a week without a row for a
    combination counts 0 (RootCauses leaves such weeks out), so a quiet
    period lowers the baseline instead of being skipped. A combination grows
    when its latest week is above that mean and has at least
    ROOT_CAUSE_GROWING_MIN_COMPLAINTS complaints. Combinations with no
    complaints in the latest week never grow and are left out.

    Each result: week_start (the latest week), category, department,
    branch_id, complaints, baseline_mean (4 decimals), change (complaints
    minus baseline_mean, 4 decimals); the largest change first, then by
    branch_id, department, category.
    """
    if weeks < 2:
        raise ValueError("a trend needs at least 2 weeks: the latest and one before it")
    by_combination: dict[tuple[str, str, str], dict[date, int]] = {}
    for row in rows:
        if row.get("week_complete") is False:
            continue
        combination = (str(row["category"]), str(row["department"]), str(row["branch_id"]))
        week = date.fromisoformat(str(row["week_start"]))
        per_week = by_combination.setdefault(combination, {})
        per_week[week] = per_week.get(week, 0) + _as_int(row["complaints"])
    if not by_combination:
        return []
    latest = max(week for per_week in by_combination.values() for week in per_week)
    before = [latest - timedelta(days=7 * n) for n in range(1, weeks)]
    growing: list[tuple[float, str, str, str, int, float]] = []
    for (category, department, branch_id), per_week in by_combination.items():
        complaints = per_week.get(latest, 0)
        baseline = sum(per_week.get(week, 0) for week in before) / len(before)
        if complaints > baseline and complaints >= ROOT_CAUSE_GROWING_MIN_COMPLAINTS:
            growing.append((-(complaints - baseline), branch_id, department, category, complaints, baseline))
    return [
        {
            "week_start": latest.isoformat(),
            "category": category,
            "department": department,
            "branch_id": branch_id,
            "complaints": complaints,
            "baseline_mean": round(baseline, 4),
            "change": round(complaints - baseline, 4),
        }
        for _, branch_id, department, category, complaints, baseline in sorted(growing)
    ]


# --------------------------------------------------------------------------
# Daily anomalies
# --------------------------------------------------------------------------

_METRICS = ("complaints", "interactions")
# The MAD of a normal distribution is 0.6745 sigma (the 75th percentile of the
# standard normal), and its mean absolute deviation sqrt(2/pi) sigma = sigma / 1.253314.
_MAD_TO_Z = 0.6745
_MEAN_AD_TO_SIGMA = 1.253314


class DailyCounts:
    """Events per day x branch x metric x dimension (complaints by category, interactions by channel)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], dict[date, int]] = {}

    def add(self, *, day: date, branch_id: str, metric: str, dimension: str, n: int = 1) -> None:
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {', '.join(_METRICS)}, got {metric!r}")
        if n < 0:
            raise ValueError("a count cannot be negative")
        # n = 0 still starts the series on that day: its history begins there.
        per_day = self._series.setdefault((branch_id, metric, dimension), {})
        per_day[day] = per_day.get(day, 0) + n

    def series(self) -> dict[tuple[str, str, str], dict[date, int]]:
        """(branch_id, metric, dimension) -> day -> count, days without events absent; a copy, in key order."""
        return {key: dict(sorted(self._series[key].items())) for key in sorted(self._series)}


@dataclass(frozen=True)
class Anomaly:
    day: date
    branch_id: str
    metric: str
    dimension: str
    count: int
    median: float
    mad: float
    robust_z: float
    direction: str  # "high" | "low"


def _robust_z(count: int, window: list[int]) -> tuple[float, float, float]:
    """(median, MAD, robust z) of `count` against `window`, always finite.

    MAD > 0: the modified z-score of Iglewicz & Hoaglin, 0.6745 (x - median) / MAD.
    MAD = 0 (more than half the window on the median): the scale falls back
    to 1.253314 x the mean absolute deviation from the median, z = (x - median) / that.
    Both 0 (a flat window): z = ANOMALY_ROBUST_Z_MIN (x - median) / ANOMALY_MIN_ABS_CHANGE,
    i.e. the scale is chosen so that a change of ANOMALY_MIN_ABS_CHANGE is
    exactly the threshold: no infinity in the export, and |z| still grows
    with the size of the change. The reported MAD is always the real one.
    """
    median = statistics.median(window)
    deviations = [abs(value - median) for value in window]
    mad = statistics.median(deviations)
    difference = count - median
    if mad > 0:
        z = _MAD_TO_Z * difference / mad
    else:
        mean_ad = statistics.fmean(deviations)
        if mean_ad > 0:
            z = difference / (_MEAN_AD_TO_SIGMA * mean_ad)
        else:
            z = ANOMALY_ROBUST_Z_MIN * difference / ANOMALY_MIN_ABS_CHANGE
    return float(median), float(mad), z


def anomalies(counts: DailyCounts, *, first_day: date, last_day: date) -> list[Anomaly]:
    """Days in [first_day, last_day] whose count is far from the norm of the days before it.

    The norm of a day is the ANOMALY_WINDOW_DAYS days before it, days without
    events counting 0, but never before the series' first day (a branch or a
    channel that did not exist yet is not "quiet"); a day is judged only once
    that history is ANOMALY_MIN_HISTORY_DAYS long. A day is flagged when
    |robust z| >= ANOMALY_ROBUST_Z_MIN and the count is at least
    ANOMALY_MIN_ABS_CHANGE away from the median: on sparse series (mostly
    zeros) the fallback scale is tiny and a single complaint would otherwise
    be "anomalous". Sorted by day, branch, metric, dimension.
    """
    found: list[Anomaly] = []
    for (branch_id, metric, dimension), per_day in counts.series().items():
        if not per_day:
            continue
        start = min(per_day)
        day = max(first_day, start + timedelta(days=ANOMALY_MIN_HISTORY_DAYS))
        while day <= last_day:
            window_start = max(start, day - timedelta(days=ANOMALY_WINDOW_DAYS))
            window = [per_day.get(window_start + timedelta(days=i), 0) for i in range((day - window_start).days)]
            count = per_day.get(day, 0)
            median, mad, z = _robust_z(count, window)
            if abs(z) >= ANOMALY_ROBUST_Z_MIN and abs(count - median) >= ANOMALY_MIN_ABS_CHANGE:
                found.append(Anomaly(
                    day=day, branch_id=branch_id, metric=metric, dimension=dimension, count=count,
                    median=round(median, 4), mad=round(mad, 4), robust_z=round(z, 4),
                    direction="high" if count > median else "low",
                ))
            day += timedelta(days=1)
    found.sort(key=lambda a: (a.day, a.branch_id, a.metric, a.dimension))
    return found


# ------------------------------------------------------------------ quality control: defects that cluster

DEFECT_WINDOW_DAYS = 28
DEFECT_MIN_VEHICLES = 3


@dataclass(frozen=True)
class QcReport:
    """A quality_control complaint that names a part and its batch (no person: the vehicle is its VIN's key)."""

    vehicle: str
    part_no: str
    batch_no: str
    created_on: date
    branch_id: str
    factory_defect: bool | None


def defect_clusters(reports: Iterable[QcReport], model_of: Mapping[str, str], as_of: date, *,
                    window_days: int = DEFECT_WINDOW_DAYS, min_vehicles: int = DEFECT_MIN_VEHICLES) -> list[dict[str, Any]]:
    """Model x part x batch with at least `min_vehicles` distinct vehicles complaining in the `window_days` up to
    `as_of` (reports QC judged as wear, factory_defect false, are left out), most vehicles first."""
    since = as_of - timedelta(days=window_days - 1)
    groups: dict[tuple[str, str, str], list[QcReport]] = {}
    for r in reports:
        if r.factory_defect is False or not since <= r.created_on <= as_of:
            continue
        groups.setdefault((model_of.get(r.vehicle, "unknown"), r.part_no, r.batch_no), []).append(r)
    rows = []
    for (model, part, batch), found in groups.items():
        vehicles = {r.vehicle for r in found}
        if len(vehicles) < min_vehicles:
            continue
        rows.append({"model": model, "part_no": part, "batch_no": batch, "vehicles": len(vehicles),
                     "complaints": len(found), "factory_defects": sum(r.factory_defect is True for r in found),
                     "first_on": min(r.created_on for r in found).isoformat(),
                     "last_on": max(r.created_on for r in found).isoformat(),
                     "branches": sorted({r.branch_id for r in found})})
    return sorted(rows, key=lambda r: (-r["vehicles"], -r["complaints"], r["model"], r["part_no"], r["batch_no"]))
