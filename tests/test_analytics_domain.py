"""Analytics analyses (chalicelib/domain/analytics.py): hand-made cases with known answers, no AWS."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from datetime import date, timedelta
from typing import Any

import pytest

from chalicelib.domain.analytics import (
    RFM_SEGMENTS,
    Anomaly,
    ChurnFeatures,
    ChurnRisk,
    DailyCounts,
    Engagement,
    RootCauses,
    age_band,
    anomalies,
    churn_risk,
    churn_sort_key,
    growing_categories,
    rfm,
)
from chalicelib.domain.analytics import _age_on as _age_on

AS_OF = date(2026, 11, 23)

# --------------------------------------------------------------------------
# Age bands
# --------------------------------------------------------------------------


def test_age_changes_on_the_birthday_itself_not_the_day_before() -> None:
    assert age_band("2001-11-24", date(2026, 11, 23)) == "18_24"  # 24 the day before
    assert age_band("2001-11-24", date(2026, 11, 24)) == "25_34"  # 25 on the day


def test_someone_born_on_29_february_comes_of_age_on_28_february_in_a_common_year() -> None:
    assert age_band("2012-02-29", date(2030, 2, 27)) == "under_18"
    assert age_band("2012-02-29", date(2030, 2, 28)) == "18_24"


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (date(2000, 11, 24), date(2026, 11, 23), 25),
        (date(2000, 11, 24), date(2026, 11, 24), 26),
        (date(2008, 2, 29), date(2026, 2, 27), 17),
        (date(2008, 2, 29), date(2026, 2, 28), 18),  # common year: 28 February
        (date(2008, 2, 29), date(2032, 2, 28), 23),  # leap year: waits for 29 February
        (date(2008, 2, 29), date(2032, 2, 29), 24),
        (date(2008, 3, 1), date(2032, 2, 29), 23),
    ],
)
def test_ages_turn_on_the_birthday_and_29_february_falls_back_to_28_february(born: date, on: date, age: int) -> None:
    assert _age_on(born, on) == age


@pytest.mark.parametrize(
    ("birthday", "band"),
    [
        ("2026-11-23", "under_18"),  # born today: 0
        ("2008-11-24", "under_18"),
        ("2008-11-23", "18_24"),
        ("2001-11-23", "25_34"),
        ("1991-11-23", "35_44"),
        ("1981-11-23", "45_54"),
        ("1971-11-23", "55_64"),
        ("1961-11-24", "55_64"),
        ("1961-11-23", "65_plus"),
        ("1920-01-01", "65_plus"),
    ],
)
def test_every_band_starts_on_its_birthday(birthday: str, band: str) -> None:
    assert age_band(birthday, AS_OF) == band


@pytest.mark.parametrize("birthday", [None, "", "not-a-date", "2000-13-01", "2001-02-29", "20001124", "2000-11-24T00:00",
                                      "2026-11-24", "2100-01-01"])
def test_a_missing_malformed_or_future_birthday_is_unknown(birthday: str | None) -> None:
    assert age_band(birthday, AS_OF) == "unknown"


# --------------------------------------------------------------------------
# RFM
# --------------------------------------------------------------------------


def _engagement(days_ago: int | None, last_365: int, last_90: int = 0, prev_90: int = 0) -> Engagement:
    last = None if days_ago is None else AS_OF - timedelta(days=days_ago)
    return Engagement(last_interaction_on=last, interactions_last_90_days=last_90,
                      interactions_prev_90_days=prev_90, interactions_last_365_days=last_365)


def test_a_customer_silent_for_200_days_is_lost() -> None:
    score = rfm(_engagement(200, 2), AS_OF)
    assert (score.recency_days, score.frequency, score.r_score, score.f_score, score.segment) == (200, 2, 1, 2, "lost")


def test_a_customer_never_contacted_has_no_recency_and_is_lost() -> None:
    score = rfm(_engagement(None, 0), AS_OF)
    assert (score.recency_days, score.r_score, score.f_score, score.segment) == (None, 1, 1, "lost")
    assert score.monetary is None


def _joined(days_ago: int) -> Engagement:
    """A customer created `days_ago` days before AS_OF, never contacted since."""
    return replace(_engagement(None, 0), customer_since=AS_OF - timedelta(days=days_ago))


def test_a_customer_who_joined_last_week_without_contact_yet_is_new_not_lost() -> None:
    score = rfm(_joined(6), AS_OF)
    assert (score.recency_days, score.r_score, score.f_score, score.segment) == (None, 5, 1, "new")
    assert rfm(_joined(45), AS_OF).segment == "need_attention"
    assert rfm(_joined(200), AS_OF).segment == "lost"


def test_a_frequent_recent_customer_is_a_champion() -> None:
    score = rfm(_engagement(3, 20), AS_OF)
    assert (score.r_score, score.f_score, score.segment) == (5, 5, "champions")


@pytest.mark.parametrize(
    ("days_ago", "last_365", "segment"),
    [
        (2, 1, "new"),
        (20, 4, "potential_loyal"),
        (45, 8, "loyal"),
        (45, 2, "need_attention"),
        (90, 1, "hibernating"),
        (90, 7, "at_risk"),
        (150, 15, "cant_lose"),
        (150, 4, "at_risk"),
    ],
)
def test_segments_follow_the_grid(days_ago: int, last_365: int, segment: str) -> None:
    assert rfm(_engagement(days_ago, last_365), AS_OF).segment == segment


@pytest.mark.parametrize(("days_ago", "r_score"), [(0, 5), (14, 5), (15, 4), (30, 4), (31, 3), (60, 3), (61, 2),
                                                   (120, 2), (121, 1), (5000, 1)])
def test_recency_score_thresholds_are_inclusive_day_counts(days_ago: int, r_score: int) -> None:
    assert rfm(_engagement(days_ago, 1), AS_OF).r_score == r_score


@pytest.mark.parametrize(("last_365", "f_score"), [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3), (7, 3), (8, 4), (14, 4),
                                                   (15, 5), (500, 5)])
def test_frequency_score_thresholds_count_the_last_365_days(last_365: int, f_score: int) -> None:
    assert rfm(_engagement(1, last_365), AS_OF).f_score == f_score


def test_an_interaction_dated_after_the_as_of_date_counts_as_today() -> None:
    assert rfm(_engagement(-3, 1), AS_OF).recency_days == 0


def test_monetary_is_carried_through_unscored() -> None:
    assert rfm(replace(_engagement(1, 1), monetary=1500.5), AS_OF).monetary == 1500.5


def test_every_cell_of_the_grid_is_a_named_segment_and_every_segment_is_reachable() -> None:
    recency_for = {5: 1, 4: 20, 3: 45, 2: 90, 1: 200}
    frequency_for = {1: 1, 2: 2, 3: 4, 4: 8, 5: 15}
    seen = {rfm(_engagement(recency_for[r], frequency_for[f]), AS_OF).segment for r in range(1, 6) for f in range(1, 6)}
    assert seen == set(RFM_SEGMENTS)
    assert len(RFM_SEGMENTS) == 9


# --------------------------------------------------------------------------
# Churn risk
# --------------------------------------------------------------------------


def _features(engagement: Engagement | None = None, *, open_complaints: int = 0, complaints_last_90_days: int = 0,
              breached_complaints_last_365_days: int = 0, slow_resolutions_last_365_days: int = 0,
              sms_opted_out: bool = False, marketing_consent_withdrawn: bool = False) -> ChurnFeatures:
    return ChurnFeatures(
        engagement=engagement or _engagement(5, 10, last_90=3, prev_90=3),
        open_complaints=open_complaints,
        complaints_last_90_days=complaints_last_90_days,
        breached_complaints_last_365_days=breached_complaints_last_365_days,
        slow_resolutions_last_365_days=slow_resolutions_last_365_days,
        sms_opted_out=sms_opted_out,
        marketing_consent_withdrawn=marketing_consent_withdrawn,
    )


def test_a_content_recent_customer_has_no_risk_and_no_reasons() -> None:
    assert churn_risk(_features(), AS_OF) == ChurnRisk(score=0, band="low", reasons=())


def test_no_contact_counts_the_longest_threshold_reached() -> None:
    assert churn_risk(_features(_engagement(59, 1)), AS_OF).reasons == ()
    assert churn_risk(_features(_engagement(60, 1)), AS_OF) == ChurnRisk(10, "low", ("no_contact_60_days",))
    assert churn_risk(_features(_engagement(130, 1)), AS_OF) == ChurnRisk(25, "low", ("no_contact_120_days",))
    assert churn_risk(_features(_engagement(400, 0)), AS_OF) == ChurnRisk(35, "medium", ("no_contact_180_days",))


def test_a_customer_never_contacted_scores_as_the_longest_silence() -> None:
    assert churn_risk(_features(_engagement(None, 0)), AS_OF) == ChurnRisk(35, "medium", ("never_contacted",))


def test_a_customer_never_contacted_is_at_risk_only_once_the_silence_since_joining_reaches_a_threshold() -> None:
    assert churn_risk(_features(_joined(1)), AS_OF) == ChurnRisk(0, "low", ())
    assert churn_risk(_features(_joined(59)), AS_OF) == ChurnRisk(0, "low", ())
    assert churn_risk(_features(_joined(60)), AS_OF) == ChurnRisk(10, "low", ("never_contacted",))
    assert churn_risk(_features(_joined(365)), AS_OF) == ChurnRisk(35, "medium", ("never_contacted",))


@pytest.mark.parametrize(("consent", "withdrawn"), [
    ({}, False),
    (None, False),
    ({"sms_marketing": {"value": False, "at": "2026-01-01T00:00:00.000Z"}}, False),  # declined when created
    ({"sms_marketing": {"value": False, "at": "2026-03-01T00:00:00.000Z"}}, True),  # taken back later
    ({"email_marketing": {"value": False, "at": "2026-03-01T00:00:00.000Z"}}, True),
    ({"sms_marketing": {"value": True, "at": "2026-03-01T00:00:00.000Z"}}, False),
    ({"sms_marketing": {"value": False, "at": "2026-06-01T00:00:00.000Z"}}, False),  # after the snapshot
])
def test_marketing_consent_is_withdrawn_when_set_to_no_after_the_customer_was_created(
        consent: dict[str, Any] | None, withdrawn: bool) -> None:
    from chalicelib.domain.analytics import consent_withdrawn

    assert consent_withdrawn(consent, "2026-01-01T00:00:00.000Z", before="2026-05-01T00:00:00.000Z") is withdrawn


def test_engagement_that_fell_by_60_percent_is_a_reason() -> None:
    risk = churn_risk(_features(_engagement(10, 14, last_90=4, prev_90=10)), AS_OF)
    assert risk == ChurnRisk(20, "low", ("engagement_down_60_percent",))


@pytest.mark.parametrize(
    ("last_90", "prev_90", "reasons"),
    [
        (2, 4, ("engagement_down_50_percent",)),  # exactly the minimum share
        (6, 10, ()),  # 40%: not enough
        (0, 2, ()),  # too little before to call it a trend
        (5, 3, ()),  # growing
        (0, 3, ("engagement_down_100_percent",)),
        (1, 3, ("engagement_down_66_percent",)),  # rounded down
    ],
)
def test_engagement_drop_needs_a_minimum_share_and_enough_previous_activity(
        last_90: int, prev_90: int, reasons: tuple[str, ...]) -> None:
    assert churn_risk(_features(_engagement(10, 20, last_90=last_90, prev_90=prev_90)), AS_OF).reasons == reasons


def test_each_complaint_component_is_capped() -> None:
    risk = churn_risk(_features(open_complaints=10), AS_OF)
    assert risk == ChurnRisk(25, "low", ("open_complaints_10",))
    assert churn_risk(_features(complaints_last_90_days=9), AS_OF).score == 15
    assert churn_risk(_features(breached_complaints_last_365_days=7), AS_OF).score == 20
    assert churn_risk(_features(slow_resolutions_last_365_days=4), AS_OF).score == 10


def test_everything_at_once_is_capped_at_100_and_lists_every_reason_biggest_first() -> None:
    features = _features(
        _engagement(100, 10, last_90=0, prev_90=10),
        open_complaints=5, complaints_last_90_days=3, breached_complaints_last_365_days=1,
        slow_resolutions_last_365_days=1, sms_opted_out=True, marketing_consent_withdrawn=True,
    )
    # 25 + 20 + 15 + 15 + 10 + 10 + 5 + 5 = 105 -> 100; ties keep the component order
    assert churn_risk(features, AS_OF) == ChurnRisk(100, "high", (
        "open_complaints_5",
        "engagement_down_100_percent",
        "recent_complaints_3",
        "sms_opted_out",
        "no_contact_60_days",
        "sla_breached_1",
        "slow_resolution_1",
        "marketing_consent_withdrawn",
    ))


def test_bands_start_at_30_and_60() -> None:
    assert churn_risk(_features(sms_opted_out=True, marketing_consent_withdrawn=True), AS_OF).band == "low"  # 20
    assert churn_risk(_features(open_complaints=1, breached_complaints_last_365_days=2), AS_OF).band == "medium"  # 30
    never = _engagement(None, 0)
    assert churn_risk(_features(never, open_complaints=2, marketing_consent_withdrawn=True), AS_OF).score == 60
    assert churn_risk(_features(never, open_complaints=2, marketing_consent_withdrawn=True), AS_OF).band == "high"


def test_reasons_are_codes_without_free_text() -> None:
    features = _features(_engagement(None, 0), open_complaints=2, sms_opted_out=True)
    assert all(re.fullmatch(r"[a-z0-9_]+", code) for code in churn_risk(features, AS_OF).reasons)


def test_customers_rank_by_score_then_key() -> None:
    risks = {
        "c": ChurnRisk(40, "medium", ()),
        "a": ChurnRisk(40, "medium", ()),
        "b": ChurnRisk(90, "high", ()),
        "d": ChurnRisk(0, "low", ()),
    }
    ranked = sorted(risks, key=lambda key: churn_sort_key(key, risks[key]))
    assert ranked == ["b", "a", "c", "d"]


# --------------------------------------------------------------------------
# Complaint root causes
# --------------------------------------------------------------------------

MON = date(2026, 11, 16)  # a Monday


def _add(causes: RootCauses, day: date, times: int = 1, *, breached: int = 0, category: str = "service",
         department: str = "service", branch_id: str = "jakarta") -> None:
    for i in range(times):
        causes.add(created_on=day, category=category, department=department, branch_id=branch_id,
                   breached=i < breached)


def test_breach_share_per_week_and_change_against_previous_week() -> None:
    causes = RootCauses()
    _add(causes, MON, 2, breached=1)
    _add(causes, MON + timedelta(days=7), 3, breached=2)
    assert causes.rows() == [
        {"week_start": "2026-11-16", "week_complete": True, "category": "service", "department": "service",
         "branch_id": "jakarta", "complaints": 2, "breached": 1, "breach_share": 0.5, "previous_week_complaints": 0,
         "change": 2, "growing": False},
        {"week_start": "2026-11-23", "week_complete": True, "category": "service", "department": "service",
         "branch_id": "jakarta", "complaints": 3, "breached": 2, "breach_share": 0.6667,
         "previous_week_complaints": 2, "change": 1, "growing": True},
    ]


def test_monday_to_sunday_is_one_iso_week_even_across_new_year() -> None:
    causes = RootCauses()
    _add(causes, MON)
    _add(causes, MON + timedelta(days=6))  # Sunday
    _add(causes, date(2026, 1, 1))  # a Thursday: its week starts in 2025
    assert [(r["week_start"], r["complaints"]) for r in causes.rows()] == [("2025-12-29", 1), ("2026-11-16", 2)]


def test_growth_below_the_minimum_count_is_not_growing() -> None:
    causes = RootCauses()
    _add(causes, MON, 1)
    _add(causes, MON + timedelta(days=7), 2)
    assert causes.rows()[-1]["change"] == 1
    assert causes.rows()[-1]["growing"] is False


def test_previous_week_is_the_same_category_department_and_branch_only() -> None:
    causes = RootCauses()
    _add(causes, MON, 5, branch_id="bandung")
    _add(causes, MON, 5, category="billing", department="finance")
    _add(causes, MON + timedelta(days=14), 4)  # two weeks later: no row the week before
    _add(causes, MON + timedelta(days=7), 4)
    last = causes.rows()[-1]
    assert (last["week_start"], last["branch_id"], last["category"]) == ("2026-11-30", "jakarta", "service")
    assert (last["previous_week_complaints"], last["change"]) == (4, 0)
    week_two = [r for r in causes.rows() if r["week_start"] == "2026-11-23"][0]
    assert (week_two["previous_week_complaints"], week_two["change"], week_two["growing"]) == (0, 4, True)


def test_rows_sort_by_week_branch_department_category() -> None:
    causes = RootCauses()
    _add(causes, MON, branch_id="surabaya")
    _add(causes, MON, category="shipment", department="shipment")
    _add(causes, MON, category="billing", department="finance")
    _add(causes, MON, category="other", department="finance")
    _add(causes, MON - timedelta(days=7), branch_id="surabaya")
    keys = [(r["week_start"], r["branch_id"], r["department"], r["category"]) for r in causes.rows()]
    assert keys == [
        ("2026-11-09", "surabaya", "service", "service"),
        ("2026-11-16", "jakarta", "finance", "billing"),
        ("2026-11-16", "jakarta", "finance", "other"),
        ("2026-11-16", "jakarta", "shipment", "shipment"),
        ("2026-11-16", "surabaya", "service", "service"),
    ]


def test_no_complaints_give_no_rows_and_nothing_growing() -> None:
    assert RootCauses().rows() == []
    assert growing_categories([], weeks=4) == []


def test_growing_categories_compare_the_latest_week_with_the_mean_of_the_weeks_before() -> None:
    causes = RootCauses()
    for week, (a, b, c, d) in enumerate([(1, 5, 0, 4), (2, 5, 0, 4), (1, 5, 0, 4), (6, 5, 3, 0)]):
        day = MON + timedelta(days=7 * week)
        _add(causes, day, a, category="billing", department="finance")
        _add(causes, day, b, category="service", department="service")
        _add(causes, day, c, category="shipment", department="shipment")
        _add(causes, day, d, category="sales", department="sales")
    assert growing_categories(causes.rows(), weeks=4) == [
        {"week_start": "2026-12-07", "category": "billing", "department": "finance", "branch_id": "jakarta",
         "complaints": 6, "baseline_mean": 1.3333, "change": 4.6667},
        {"week_start": "2026-12-07", "category": "shipment", "department": "shipment", "branch_id": "jakarta",
         "complaints": 3, "baseline_mean": 0.0, "change": 3.0},
    ]
    # only the week before: billing 1 -> 6, shipment 0 -> 3
    assert [r["change"] for r in growing_categories(causes.rows(), weeks=2)] == [5.0, 3.0]


def test_a_week_without_any_complaint_counts_zero_in_the_baseline() -> None:
    causes = RootCauses()
    _add(causes, MON, 4)
    _add(causes, MON + timedelta(days=14), 4)
    assert growing_categories(causes.rows(), weeks=3) == [
        {"week_start": "2026-11-30", "category": "service", "department": "service", "branch_id": "jakarta",
         "complaints": 4, "baseline_mean": 2.0, "change": 2.0},
    ]


def test_the_snapshots_unfinished_week_is_marked_and_never_grows() -> None:
    causes = RootCauses()
    _add(causes, MON, 3)
    _add(causes, MON + timedelta(days=7), 5)  # the snapshot's own week, two days in
    rows = causes.rows(as_of=MON + timedelta(days=8))
    assert [(r["week_start"], r["week_complete"], r["change"], r["growing"]) for r in rows] == [
        ("2026-11-16", True, 3, True), ("2026-11-23", False, 2, False)]
    # on the week's Sunday it is complete
    assert causes.rows(as_of=MON + timedelta(days=13))[-1]["growing"] is True


def test_growth_is_judged_on_the_last_complete_week_not_the_days_of_the_current_one() -> None:
    causes = RootCauses()
    for week in range(3):
        _add(causes, MON + timedelta(days=7 * week), 1)
    _add(causes, MON + timedelta(days=21), 4)  # a complete week that grew: 4 against 1 a week
    _add(causes, MON + timedelta(days=28), 1)  # Monday of the snapshot's week: one so far
    monday = MON + timedelta(days=28)
    (grew,) = growing_categories(causes.rows(as_of=monday), weeks=4)
    assert (grew["week_start"], grew["complaints"], grew["baseline_mean"]) == ("2026-12-07", 4, 1.0)
    # had the unfinished week counted, its single complaint would be the latest week, which does not grow
    assert growing_categories(causes.rows(), weeks=4) == []


def test_a_trend_needs_at_least_two_weeks() -> None:
    with pytest.raises(ValueError):
        growing_categories([], weeks=1)


# --------------------------------------------------------------------------
# Daily anomalies
# --------------------------------------------------------------------------

DAY0 = date(2026, 1, 1)


def _series(counts: DailyCounts, values: list[int], *, start: date = DAY0, branch_id: str = "jakarta",
            metric: str = "complaints", dimension: str = "service") -> None:
    for i, n in enumerate(values):
        if n or i == 0:  # n = 0 on the first day still starts the series
            counts.add(day=start + timedelta(days=i), branch_id=branch_id, metric=metric, dimension=dimension, n=n)


def _judge(values: list[int]) -> list[Anomaly]:
    """The last value judged against the ones before it."""
    counts = DailyCounts()
    _series(counts, values)
    last = DAY0 + timedelta(days=len(values) - 1)
    return anomalies(counts, first_day=last, last_day=last)


def test_a_spike_of_complaints_after_a_flat_month_is_flagged_high() -> None:
    found = _judge([2] * 28 + [10])
    # MAD and mean absolute deviation are both 0: z = 3.5 * (10 - 2) / 3
    assert found == [Anomaly(day=date(2026, 1, 29), branch_id="jakarta", metric="complaints", dimension="service",
                             count=10, median=2.0, mad=0.0, robust_z=9.3333, direction="high")]


def test_a_flat_month_needs_the_minimum_absolute_change() -> None:
    assert _judge([2] * 28 + [4]) == []
    assert _judge([2] * 28 + [5])[0].robust_z == 3.5


def test_the_modified_z_score_uses_the_mad() -> None:
    assert _judge([4, 6] * 14 + [10]) == []  # 0.6745 * 5 / 1 = 3.3725
    found = _judge([4, 6] * 14 + [11])
    assert (found[0].median, found[0].mad, found[0].robust_z, found[0].direction) == (5.0, 1.0, 4.047, "high")


def test_a_day_far_below_the_norm_is_flagged_low() -> None:
    found = _judge([9, 11] * 14 + [4])
    assert (found[0].count, found[0].robust_z, found[0].direction) == (4, -4.047, "low")


def test_when_the_mad_is_zero_the_mean_absolute_deviation_scales_the_score() -> None:
    # 20 days of 5 and 8 of 7: median 5, MAD 0, mean absolute deviation 16/28
    found = _judge([5] * 20 + [7] * 8 + [9])
    assert (found[0].median, found[0].mad, found[0].robust_z) == (5.0, 0.0, 5.5852)


def test_a_single_complaint_on_a_sparse_series_is_not_an_anomaly() -> None:
    values = [1] + [0] * 27
    assert _judge(values + [2]) == []  # z is huge on the tiny fallback scale, but only 2 above the median
    assert _judge(values + [3])[0].direction == "high"


def test_days_without_events_count_as_zero_in_the_norm() -> None:
    # 10 on the first and last day of the window, nothing in between: the median is 0, not 10
    found = _judge([10] + [0] * 26 + [10] + [10])
    assert (found[0].median, found[0].robust_z) == (0.0, 11.1704)


def test_a_quiet_day_after_a_busy_month_is_flagged_low_with_count_zero() -> None:
    counts = DailyCounts()
    _series(counts, [10] * 28, metric="interactions", dimension="whatsapp")
    found = anomalies(counts, first_day=date(2026, 1, 29), last_day=date(2026, 1, 29))
    assert (found[0].count, found[0].metric, found[0].dimension, found[0].direction) == (0, "interactions", "whatsapp",
                                                                                        "low")


def test_only_the_window_before_the_day_forms_the_norm() -> None:
    assert _judge([50] * 28 + [2] * 28 + [2]) == []
    assert _judge([50] * 28 + [2] * 28 + [10])[0].median == 2.0


def test_a_series_younger_than_the_minimum_history_is_not_judged() -> None:
    assert _judge([2] * 13 + [40]) == []
    found = _judge([2] * 14 + [40])  # 14 days of history: judged against those 14 days
    assert (found[0].day, found[0].median) == (date(2026, 1, 15), 2.0)


def test_days_before_the_series_first_day_are_not_quiet_history() -> None:
    counts = DailyCounts()
    # starts 1 March; the spike on 10 March has only 9 days of history and is not judged
    _series(counts, [4] * 9 + [30] + [4] * 14 + [30], start=date(2026, 3, 1))
    found = anomalies(counts, first_day=DAY0, last_day=date(2026, 3, 31))
    assert [(a.day, a.count, a.median, a.direction) for a in found] == [
        (date(2026, 3, 25), 30, 4.0, "high"),
    ]
    assert found[0].robust_z == 19.1492  # 26 above the median on a scale of 1.253314 * 26/24


def test_anomalies_sort_by_day_branch_metric_dimension() -> None:
    counts = DailyCounts()
    for branch_id, metric, dimension in [("surabaya", "complaints", "service"), ("jakarta", "interactions", "sms"),
                                         ("jakarta", "complaints", "billing"), ("jakarta", "complaints", "sales")]:
        _series(counts, [2] * 28 + [10, 10], branch_id=branch_id, metric=metric, dimension=dimension)
    found = anomalies(counts, first_day=date(2026, 1, 29), last_day=date(2026, 1, 30))
    assert [(a.day.day, a.branch_id, a.metric, a.dimension) for a in found] == [
        (29, "jakarta", "complaints", "billing"), (29, "jakarta", "complaints", "sales"),
        (29, "jakarta", "interactions", "sms"), (29, "surabaya", "complaints", "service"),
        (30, "jakarta", "complaints", "billing"), (30, "jakarta", "complaints", "sales"),
        (30, "jakarta", "interactions", "sms"), (30, "surabaya", "complaints", "service"),
    ]


def test_no_counts_or_an_empty_range_find_nothing() -> None:
    assert anomalies(DailyCounts(), first_day=DAY0, last_day=date(2026, 12, 31)) == []
    counts = DailyCounts()
    _series(counts, [2] * 28 + [10])
    assert anomalies(counts, first_day=date(2026, 1, 29), last_day=date(2026, 1, 28)) == []


def test_anomalies_are_plain_json_even_on_a_flat_window() -> None:
    found = _judge([0] * 28 + [7])
    text = json.dumps([asdict(a) for a in found], default=str, allow_nan=False)
    assert json.loads(text)[0]["robust_z"] == round(3.5 * 7 / 3, 4)


def test_daily_counts_add_up_and_leave_quiet_days_out() -> None:
    counts = DailyCounts()
    counts.add(day=DAY0, branch_id="jakarta", metric="interactions", dimension="call")
    counts.add(day=DAY0, branch_id="jakarta", metric="interactions", dimension="call", n=4)
    counts.add(day=DAY0 + timedelta(days=2), branch_id="jakarta", metric="interactions", dimension="call", n=2)
    assert counts.series() == {("jakarta", "interactions", "call"): {DAY0: 5, DAY0 + timedelta(days=2): 2}}


@pytest.mark.parametrize(("metric", "n"), [("orders", 1), ("complaints", -1)])
def test_daily_counts_refuse_unknown_metrics_and_negative_counts(metric: str, n: int) -> None:
    with pytest.raises(ValueError):
        DailyCounts().add(day=DAY0, branch_id="jakarta", metric=metric, dimension="service", n=n)


# --- what staff typed: city and tags ------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "exported"), [
    ("Surabaya", "Surabaya"), ("  Kota   Bandung ", "Kota Bandung"), ("Daerah Istimewa Yogyakarta", "Daerah Istimewa Yogyakarta"),
    ("Bandar Lampung", "Bandar Lampung"), ("Pangkal-Pinang", "Pangkal-Pinang"), ("Jakarta Selatan.", "Jakarta Selatan."),
    (None, None), ("   ", None),
    ("Jl. Mawar 12, RT 3", "other"), ("0812 3456 7890", "other"), ("budi@contoh.id", "other"),
    ("rumah kuning dekat pasar lama", "other"), ("Surabaya, call after 5pm", "other"), ("x" * 41, "other"),
])
def test_a_city_is_exported_only_when_it_reads_like_a_place_name(typed: str | None, exported: str | None) -> None:
    from chalicelib.domain.exports import export_city

    assert export_city(typed) == exported


def test_tags_with_a_run_of_digits_are_not_exported() -> None:
    from chalicelib.domain.exports import export_tags

    assert export_tags(["vip", "b2b", "promo-2024", "081234567890", "nik:3578012345670001", "lebaran-25"]) == [
        "vip", "b2b", "lebaran-25"]
    assert export_tags(None) == []


# --- a complaint as of the snapshot's end ---------------------------------------------------------------------------

END = "2026-03-10T17:00:00.000Z"  # the end of 10 March in Jakarta


def _complaint(**fields: Any) -> dict[str, Any]:
    return {"status": "open", "acknowledged_at": None, "resolved_at": None, "closed_at": None,
            "ack_due_at": "2026-03-10T12:00:00.000Z", "resolve_due_at": "2026-03-12T08:00:00.000Z",
            "updated_at": "2026-03-10T08:00:00.000Z", **fields}


def _move(at: str, to: str, came_from: str = "") -> dict[str, Any]:
    return {"at": at, "change": "status", "from_value": came_from, "to_value": to}


def test_a_complaint_unchanged_since_the_day_is_its_item_and_late_by_its_deadlines() -> None:
    from chalicelib.domain.exports import ComplaintState, complaint_state

    assert complaint_state(_complaint(), [], END) == ComplaintState("open", None, None, None, breached=True)
    on_time = _complaint(status="acknowledged", acknowledged_at="2026-03-10T09:00:00.000Z")
    assert complaint_state(on_time, [], END).breached is False
    assert complaint_state(_complaint(ack_due_at="2026-03-11T00:00:00.000Z"), [], END).breached is False


def test_a_complaint_resolved_after_the_day_is_in_progress_then() -> None:
    from chalicelib.domain.exports import ComplaintState, complaint_state

    item = _complaint(status="resolved", acknowledged_at="2026-03-10T09:00:00.000Z",
                      resolved_at="2026-03-10T18:30:00.000Z", updated_at="2026-03-10T18:30:00.000Z")
    history = [_move("2026-03-10T09:00:00.000Z", "acknowledged", "open"),
               _move("2026-03-10T10:00:00.000Z", "in_progress", "acknowledged"),
               _move("2026-03-10T18:30:00.000Z", "resolved", "in_progress")]
    assert complaint_state(item, history, END) == ComplaintState(
        "in_progress", "2026-03-10T09:00:00.000Z", None, None, breached=False)
    assert complaint_state(item, history, "2026-03-11T17:00:00.000Z").resolved_at == "2026-03-10T18:30:00.000Z"


def test_a_complaint_reopened_after_the_day_was_resolved_then_at_its_last_resolution() -> None:
    from chalicelib.domain.exports import complaint_state

    item = _complaint(status="in_progress", acknowledged_at="2026-03-10T09:00:00.000Z", resolved_at=None,
                      updated_at="2026-03-11T02:00:00.000Z")  # the item lost resolved_at when reopened
    history = [_move("2026-03-10T09:00:00.000Z", "acknowledged", "open"),
               _move("2026-03-10T10:00:00.000Z", "resolved", "acknowledged"),
               _move("2026-03-10T11:00:00.000Z", "in_progress", "resolved"),
               _move("2026-03-10T15:00:00.000Z", "resolved", "in_progress"),
               _move("2026-03-10T16:00:00.000Z", "closed", "resolved"),
               _move("2026-03-11T02:00:00.000Z", "in_progress", "closed")]
    state = complaint_state(item, history, END)
    assert (state.status, state.resolved_at, state.closed_at) == (
        "closed", "2026-03-10T15:00:00.000Z", "2026-03-10T16:00:00.000Z")
    assert state.breached is False  # acknowledged by 12:00, resolved by 12 March


def test_a_complaint_acknowledged_only_after_the_day_was_open_then_and_late() -> None:
    from chalicelib.domain.exports import ComplaintState, complaint_state

    item = _complaint(status="acknowledged", acknowledged_at="2026-03-10T20:00:00.000Z",
                      updated_at="2026-03-10T20:00:00.000Z")
    assert complaint_state(item, [_move("2026-03-10T20:00:00.000Z", "acknowledged", "open")], END) == ComplaintState(
        "open", None, None, None, breached=True)
