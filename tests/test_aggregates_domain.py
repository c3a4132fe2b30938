"""Real-time aggregates, the pure part: what a record contributes, how a change moves the counters, the summary.

Records are the domain objects the stream consumer decodes (chalicelib/persistence/changes.py).
Days are local dates in Asia/Jakarta (UTC+7).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain import aggregates as agg
from chalicelib.domain.aggregates import ALL, NOW, CounterKey, Window
from chalicelib.domain.complaints import Complaint, HistoryEntry
from chalicelib.domain.customers import Customer, Erasure
from chalicelib.domain.interactions import Interaction
from chalicelib.domain.reminders import DueItem

JAKARTA = ZoneInfo("Asia/Jakarta")


def K(scope: str, period: str, name: str) -> CounterKey:
    return CounterKey(scope, period, name)


def both(branch: str, period: str, name: str, n: int) -> dict[CounterKey, int]:
    """A counter in a branch and in ALL."""
    return {K(branch, period, name): n, K(ALL, period, name): n}


def customer(**fields: Any) -> Customer:
    return Customer(**{"id": "1", "name": "Budi Santoso", "phone": "+6281234567890", "branch_id": "jakarta",
                       "lifecycle_stage": "lead", "created_at": "2026-03-01T02:00:00.000Z",
                       "updated_at": "2026-03-01T02:00:00.000Z", "version": 1, **fields})


def interaction(**fields: Any) -> Interaction:
    return Interaction(**{"id": "i", "customer_id": "1", "channel": "visit", "direction": "inbound", "kind": "inquiry",
                          "summary": "test drive", "staff_id": "s", "occurred_at": "2026-03-01T02:00:00.000Z",
                          "created_at": "2026-03-01T02:00:00.000Z", "branch_id": "jakarta", **fields})


def reminder(**fields: Any) -> Interaction:
    return interaction(**{"channel": "sms", "direction": "outbound", "kind": "other", "staff_id": "relasi",
                          "ref": "birthday", "delivery": "pending", **fields})


def complaint(**fields: Any) -> Complaint:
    escalated = bool(fields.pop("breached", False))
    return Complaint(**{"id": "1", "customer_id": "1", "branch_id": "bandung", "category": "sales",
                        "department": "sales", "severity": "high", "subject": "s", "description": "d", "status": "open",
                        "created_at": "2026-03-01T00:00:00.000Z", "updated_at": "2026-03-01T00:00:00.000Z",
                        "created_by": "s", "ack_due_at": "2026-03-01T04:00:00.000Z",
                        "resolve_due_at": "2026-03-02T00:00:00.000Z", "escalation_level": 0, "version": 1, **fields},
                     escalated=escalated)


def test_a_customer_counts_in_its_stage_now_and_as_new_on_its_local_day() -> None:
    late_evening = customer(created_at="2026-03-01T17:00:00.000Z")  # 00:00 on 2 March in Jakarta
    assert agg.contributions(late_evening, JAKARTA) == {
        **both("jakarta", NOW, "cust|lead", 1), **both("jakarta", "2026-03-02", "cust|new", 1)}
    assert K(ALL, "2026-03-01", "cust|new") in agg.contributions(customer(created_at="2026-03-01T16:59:59.999Z"), JAKARTA)


def test_moving_a_customer_to_another_branch_moves_its_counts_and_leaves_all_unchanged() -> None:
    old, new = customer(), customer(branch_id="bandung", version=Decimal(2))
    assert agg.delta(old, new, JAKARTA) == {
        K("jakarta", NOW, "cust|lead"): -1, K("jakarta", "2026-03-01", "cust|new"): -1,
        K("bandung", NOW, "cust|lead"): 1, K("bandung", "2026-03-01", "cust|new"): 1,
    }


def test_a_stage_change_moves_one_customer_between_stages_in_the_branch_and_all() -> None:
    assert agg.delta(customer(), customer(lifecycle_stage="customer"), JAKARTA) == {
        **both("jakarta", NOW, "cust|lead", -1), **both("jakarta", NOW, "cust|customer", 1)}


def test_an_edit_that_changes_nothing_counted_moves_nothing() -> None:
    assert agg.delta(customer(), customer(city="Bogor", version=Decimal(2)), JAKARTA) == {}


def test_deleting_takes_back_everything_the_item_contributed() -> None:
    c = complaint(status="resolved", acknowledged_at="2026-03-01T01:00:00.000Z",
                  resolved_at="2026-03-01T05:00:00.000Z")
    assert agg.delta(c, None, JAKARTA) == {k: -n for k, n in agg.contributions(c, JAKARTA).items()}
    assert agg.delta(None, customer(), JAKARTA) == agg.contributions(customer(), JAKARTA)


def test_staff_interactions_count_per_channel_and_old_ones_without_a_branch_under_unknown() -> None:
    assert agg.contributions(interaction(), JAKARTA) == both("jakarta", "2026-03-01", "int|visit", 1)
    no_branch = interaction(channel="phone", branch_id=None)
    assert agg.contributions(no_branch, JAKARTA) == both("unknown", "2026-03-01", "int|phone", 1)


def test_a_complaint_resolved_moves_out_of_open_and_into_resolved_with_its_hours_bucket() -> None:
    opened = complaint(status="in_progress", acknowledged_at="2026-03-01T01:00:00.000Z")
    resolved = complaint(status="resolved", acknowledged_at="2026-03-01T01:00:00.000Z",
                         resolved_at="2026-03-01T05:00:00.000Z")  # 5 hours: the (4, 8] bucket
    assert agg.contributions(opened, JAKARTA) == {
        **both("bandung", "2026-03-01", "cx|opened", 1), **both("bandung", NOW, "cx|open|sales|high", 1)}
    assert agg.delta(opened, resolved, JAKARTA) == {
        **both("bandung", NOW, "cx|open|sales|high", -1),
        **both("bandung", "2026-03-01", "cx|resolved", 1),
        **both("bandung", "2026-03-01", "cx|res_s", 5 * 3600),
        **both("bandung", "2026-03-01", "cx|res_h|le8", 1),
        # the department's performance: resolved, acknowledged and resolved within its deadlines (no assignee: no
        # staff member's)
        **both("bandung", "2026-03-01", "dpt|sales|cx_res", 1),
        **both("bandung", "2026-03-01", "dpt|sales|cx_ack_sla", 1),
        **both("bandung", "2026-03-01", "dpt|sales|cx_res_sla", 1),
    }
    # Closing keeps the resolution; reopening takes it back and opens the case again.
    closed = replace(resolved, status="closed", closed_at="2026-03-02T00:00:00.000Z")
    assert agg.delta(resolved, closed, JAKARTA) == {}
    reopened = replace(closed, status="in_progress", resolved_at=None, closed_at=None)
    assert agg.delta(closed, reopened, JAKARTA) == agg.delta(resolved, opened, JAKARTA)


@pytest.mark.parametrize(("seconds", "bucket"), [
    (0, "cx|res_h|le1"), (3600, "cx|res_h|le1"), (3601, "cx|res_h|le4"), (720 * 3600, "cx|res_h|le720"),
    (720 * 3600 + 1, "cx|res_h|inf"),
])
def test_resolution_buckets_include_their_upper_bound(seconds: int, bucket: str) -> None:
    assert agg.resolution_bucket(seconds) == bucket


def test_a_reminder_going_from_pending_to_sent_moves_from_pending_to_sent_on_its_day() -> None:
    pending = reminder()
    sending = replace(pending, delivery="sending")
    sent = replace(reminder(), delivery="sent")
    assert agg.contributions(pending, JAKARTA) == both("jakarta", "2026-03-01", "rem|pending", 1)
    assert agg.delta(pending, sending, JAKARTA) == {}
    assert agg.delta(sending, sent, JAKARTA) == {
        **both("jakarta", "2026-03-01", "rem|pending", -1), **both("jakarta", "2026-03-01", "rem|sent", 1)}
    failed = replace(reminder(), delivery="failed", reason="SNS.InvalidParameterException")
    assert agg.delta(sending, failed, JAKARTA) == {
        **both("jakarta", "2026-03-01", "rem|pending", -1), **both("jakarta", "2026-03-01", "rem|failed", 1)}


def test_skipped_messages_count_by_reason_and_complaint_updates_apart_from_reminders() -> None:
    skipped = reminder(delivery="skipped", reason="no_sms_marketing_consent")
    assert agg.contributions(skipped, JAKARTA) == both(
        "jakarta", "2026-03-01", "rem|skipped|no_sms_marketing_consent", 1)
    update = reminder(kind="complaint_followup", delivery="skipped", reason="sms_opted_out", ref="X")
    assert agg.contributions(update, JAKARTA) == both("jakarta", "2026-03-01", "ntf|skipped|sms_opted_out", 1)
    weird = reminder(delivery="skipped", reason="a|b")  # never breaks a counter name
    assert agg.contributions(weird, JAKARTA) == both("jakarta", "2026-03-01", "rem|skipped|other", 1)


def test_a_breach_counts_once_on_the_day_of_the_first_deadline_missed() -> None:
    escalated_unacknowledged = complaint(breached=True, escalation_level=Decimal(1),
                                         ack_due_at="2026-03-01T18:00:00.000Z")  # 01:00 on 2 March, local
    assert agg.contributions(escalated_unacknowledged, JAKARTA)[K("bandung", "2026-03-02", "cx|breach|sales")] == 1
    acknowledged_late = complaint(status="acknowledged", acknowledged_at="2026-03-01T05:00:00.000Z")
    assert agg.contributions(acknowledged_late, JAKARTA)[K(ALL, "2026-03-01", "cx|breach|sales")] == 1
    in_time_but_escalated_at_resolve = complaint(status="in_progress", acknowledged_at="2026-03-01T01:00:00.000Z",
                                                 breached=True, escalation_level=Decimal(2))
    contributed = agg.contributions(in_time_but_escalated_at_resolve, JAKARTA)
    assert contributed[K("bandung", "2026-03-02", "cx|breach|sales")] == 1
    assert not [k for k in contributed if k.name.startswith("cx|breach") and k.period != "2026-03-02"]
    resolved_late = complaint(status="resolved", acknowledged_at="2026-03-01T01:00:00.000Z",
                              resolved_at="2026-03-02T03:00:00.000Z")
    assert agg.contributions(resolved_late, JAKARTA)[K(ALL, "2026-03-02", "cx|breach|sales")] == 1
    in_time = complaint(status="resolved", acknowledged_at="2026-03-01T01:00:00.000Z",
                        resolved_at="2026-03-01T09:00:00.000Z")
    assert not [k for k in agg.contributions(in_time, JAKARTA) if k.name.startswith("cx|breach")]
    # The escalation workflow raising the level again changes nothing counted.
    assert agg.delta(escalated_unacknowledged, replace(escalated_unacknowledged, escalation_level=2),
                     JAKARTA) == {}


@pytest.mark.parametrize("record", [
    DueItem(id="d", customer_id="1", kind="service", title="t", due_date="2026-03-01",
            created_at="2026-03-01T00:00:00.000Z", created_by="s"),
    Erasure(id="1", branch_id="jakarta", started_at="2026-03-01T00:00:00.000Z"),
    HistoryEntry(at="2026-03-01T00:00:00.000Z", by="s", change="created"),
    None,
])
def test_records_without_analytics_meaning_contribute_nothing(record: object) -> None:
    assert agg.contributions(record, JAKARTA) == {}
    assert agg.contributions(None, JAKARTA) == {}


def test_counters_equal_the_sum_of_contributions_after_any_sequence_of_changes() -> None:
    states = [None, customer(), customer(lifecycle_stage="prospect"), customer(branch_id="surabaya"), None,
              customer(created_at="2026-04-01T00:00:00.000Z")]
    counters: dict[CounterKey, int] = {}
    for old, new in zip(states, states[1:], strict=False):
        for k, n in agg.delta(old, new, JAKARTA).items():
            counters[k] = counters.get(k, 0) + n
    assert {k: n for k, n in counters.items() if n} == agg.total([states[-1]], JAKARTA)


# --- the summary ----------------------------------------------------------------------------------------------


def test_percentiles_are_the_upper_bound_of_the_bucket_reaching_the_nearest_rank() -> None:
    histogram: list[tuple[float | None, int]] = [(1.0, 2), (4.0, 3), (8.0, 5), (None, 0)]
    assert agg.percentile(histogram, 0.5) == 4.0  # rank 5: 2 + 3 reach it within 4 h
    assert agg.percentile(histogram, 0.9) == 8.0  # rank 9
    assert agg.percentile(histogram, 0.2) == 1.0  # rank 2: exactly the first bucket
    assert agg.percentile([(1.0, 1), (4.0, 0), (None, 2)], 0.5) is None  # rank 2 is past the last bound
    assert agg.percentile([(1.0, 0), (None, 0)], 0.5) is None
    assert agg.percentile([(1.0, 0), (4.0, 1), (None, 0)], 0.9) == 4.0


def test_summary_adds_the_days_of_the_window_and_reads_current_counts_from_now() -> None:
    window = Window(date(2026, 3, 1), date(2026, 3, 3))
    days = {
        "2026-03-01": {"cust|new": 2, "int|visit": 3, "cx|opened": 1, "rem|sent": 4,
                       "rem|skipped|no_sms_marketing_consent": 1},
        "2026-03-03": {"int|phone": 1, "cx|resolved": 2, "cx|res_s": 9 * 3600, "cx|res_h|le1": 1,
                       "cx|res_h|le8": 1, "cx|breach|sales": 1, "ntf|sent": 1, "ntf|skipped|sms_opted_out": 2},
        "2026-03-09": {"cust|new": 50},  # outside the window: the reader never returns it, and it is not counted
    }
    now = {"cust|lead": 4, "cust|customer": 1, "cx|open|sales|high": 2, "cx|open|service|low": 0}
    s = agg.summarize(window, days, now, stages=["lead", "prospect", "customer"], channels=["visit", "phone", "sms"],
                      departments=["sales", "service"], bounds_hours=(1, 8))
    assert s["customers_by_stage"] == {"lead": 4, "prospect": 0, "customer": 1} and s["customers_total"] == 5
    assert s["new_customers"] == {"total": 2, "per_day": [{"date": "2026-03-01", "n": 2}, {"date": "2026-03-02", "n": 0},
                                                          {"date": "2026-03-03", "n": 0}]}
    assert s["interactions"]["total"] == 4 and s["interactions"]["by_channel"] == {"visit": 3, "phone": 1, "sms": 0}
    assert [d["n"] for d in s["interactions"]["per_day"]] == [3, 0, 1]
    assert [d["by_channel"] for d in s["interactions"]["per_day"]] == [  # per day by channel, every channel named
        {"visit": 3, "phone": 0, "sms": 0}, {"visit": 0, "phone": 0, "sms": 0}, {"visit": 0, "phone": 1, "sms": 0}]
    cx = s["complaints"]
    assert cx["open_by_department_severity"] == [{"department": "sales", "severity": "high", "n": 2}]
    assert (cx["open_total"], cx["opened"], cx["resolved"]) == (2, 1, 2)
    assert cx["resolution_hours"] == {"count": 2, "mean": 4.5, "p50": 1.0, "p90": 8.0, "histogram": [
        {"le_hours": 1.0, "n": 1}, {"le_hours": 8.0, "n": 1}, {"le_hours": None, "n": 0}]}
    assert cx["sla_breaches"] == 1 and cx["sla_breaches_by_department"] == {"sales": 1, "service": 0}
    n = s["notifications"]
    assert (n["sent"], n["skipped"], n["pending"], n["failed"]) == (5, 3, 0, 0)
    assert n["skipped_by_reason"] == {"no_sms_marketing_consent": 1, "sms_opted_out": 2}
    assert n["reminders"]["sent"] == 4 and n["complaint_updates"]["skipped_by_reason"] == {"sms_opted_out": 2}
    assert n["per_day"][2] == {"date": "2026-03-03", "sent": 1, "pending": 0, "skipped": 2, "failed": 0,
                               "skipped_by_reason": {"sms_opted_out": 2}}
    # reminders per day by reason, apart from complaint updates
    assert n["reminders"]["per_day"][0] == {"date": "2026-03-01", "sent": 4, "pending": 0, "failed": 0, "skipped": 1,
                                            "skipped_by_reason": {"no_sms_marketing_consent": 1}}
    assert n["reminders"]["per_day"][2]["skipped_by_reason"] == {}
    assert n["complaint_updates"]["per_day"][2]["skipped_by_reason"] == {"sms_opted_out": 2}


def test_one_record_is_one_transaction_with_its_marker_first() -> None:
    from chalicelib.persistence.aggregates import transaction_items

    deltas = agg.delta(customer(), customer(branch_id="bandung"), JAKARTA)
    items = transaction_items("abc", deltas, table="t", expires_at=123)
    assert items[0]["Put"]["Item"] == {"pk": {"S": "EVT#abc"}, "sk": {"S": "EVT"}, "expires_at": {"N": "123"}}
    assert items[0]["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
    keys = sorted((i["Update"]["Key"]["pk"]["S"], i["Update"]["Key"]["sk"]["S"]) for i in items[1:])
    assert keys == [("AGG#bandung", "DAY#2026-03-01"), ("AGG#bandung", "NOW"),
                    ("AGG#jakarta", "DAY#2026-03-01"), ("AGG#jakarta", "NOW")]
    update = next(i["Update"] for i in items[1:] if i["Update"]["Key"]["sk"]["S"] == "NOW"
                  and i["Update"]["Key"]["pk"]["S"] == "AGG#jakarta")
    assert update["UpdateExpression"] == "ADD #c0 :c0"
    assert update["ExpressionAttributeNames"] == {"#c0": "cust|lead"}
    assert update["ExpressionAttributeValues"] == {":c0": {"N": "-1"}}


def test_drift_is_judged_only_on_counters_that_stood_still_and_confirmed_only_when_found_alike() -> None:
    a, b, c, d = (agg.CounterKey("jakarta", "2026-01-0" + str(i), "int|phone") for i in range(1, 5))
    expected = {a: 5, b: 2, c: 1}
    before = {a: 5, b: 3, d: 7}
    after = {a: 5, b: 4, d: 7}  # b moved while the table was recounted
    found, moved = agg.drift(expected, before, after)
    assert (found, moved) == ({c: 1, d: -7}, 1)
    assert agg.confirmed(found, {c: 1, d: -6, a: 2}) == {c: 1}
    assert agg.confirmed(found, {}) == {}


def test_staff_performance_follows_the_assignee_and_a_survey_counts_where_its_subject_was_handled() -> None:
    from chalicelib.domain import surveys

    late = complaint(status="resolved", assignee="someone", reopens=1, acknowledged_at="2026-03-01T01:00:00.000Z",
                     resolved_at="2026-03-09T05:00:00.000Z", resolved_by="cs.rina", resolved_branch="bandung")
    got = agg.contributions(late, JAKARTA)
    assert {k.name: n for k, n in got.items() if k.scope == "bandung" and k.name.startswith("stf|")} == {
        "stf|cs.rina|cx_res": 1, "stf|cs.rina|cx_ack_sla": 1, "stf|cs.rina|cx_reopened": 1}  # resolved late
    # reassigned afterwards, or its customer moved to another branch: who resolved it, where, stays
    moved = agg.delta(late, replace(late, assignee="cs.budi", branch_id="surabaya"), JAKARTA)
    assert not [k for k in moved if k.name.startswith("stf|")]
    assert {k.name for k in moved if k.scope == "surabaya"} >= {"cx|resolved", "dpt|sales|cx_res"}
    asked = surveys.Asked(surveys.Subject.ORDER, "01JABCDEFGHJKMNPQRSTVWXYZ0", "JKT-1", "surabaya", "sales", "cs.rina")
    sent = surveys.new_survey(asked, customer_id="01JABCDEFGHJKMNPQRSTVWXYZ1", language="id", asks_nps=True,
                              now=datetime(2026, 3, 1, 3, tzinfo=UTC))
    assert agg.contributions(sent, JAKARTA) == {
        **both("surabaya", "2026-03-01", "srv|sent|sales", 1), **both("surabaya", "2026-03-01", "stf|cs.rina|srv_sent", 1)}
    answered = surveys.answered(sent, surveys.Answer(5, 6, "ok"), datetime(2026, 3, 2, 3, tzinfo=UTC))
    assert {k.name: n for k, n in agg.delta(sent, answered, JAKARTA).items() if k.scope == "surabaya"} == {
        "srv|ans|sales": 1, "srv|csat|sales|5": 1, "srv|nps|sales|detractor": 1, "stf|cs.rina|srv_ans": 1,
        "stf|cs.rina|csat|5": 1}
    assert agg.delta(answered, None, JAKARTA) == {k: -n for k, n in agg.contributions(answered, JAKARTA).items()}

