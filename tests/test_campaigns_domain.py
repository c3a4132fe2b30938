"""The campaign rules on their own: audience conditions, texts (GSM-7, parts with the opt-out line), the send
window, the frequency cap, the stable assignment, and the report's statistics against hand computations."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain import campaigns as rules
from chalicelib.domain.errors import Unprocessable, ValidationFailed

JAKARTA = ZoneInfo("Asia/Jakarta")
BRANCHES = ("jakarta", "bandung", "surabaya")
LINK_BASE = "https://r.relasi.example"


def _variant(id_text: str, en_text: str = "Hi {first_name}") -> list[rules.Variant]:
    return [rules.Variant("A", 100, {"id": id_text, "en": en_text})]


def test_an_unknown_condition_or_value_is_named() -> None:
    with pytest.raises(ValidationFailed) as failed:
        rules.audience_of({"branch_in": ["jakarta", "medan"], "stage_in": ["vip"], "birthday_month": 13,
                           "customer_since_after": "2026-02-30", "colour": ["red"]}, BRANCHES)
    fields = {e.field: e.message for e in failed.value.errors}
    assert set(fields) == {"audience.branch_in", "audience.stage_in", "audience.birthday_month",
                           "audience.customer_since_after", "audience.colour"}
    assert "'medan'" in fields["audience.branch_in"] and "known: bandung, jakarta, surabaya" in fields[
        "audience.branch_in"]
    assert rules.audience_of({"city_in": ["Bandung", "bandung"]}, BRANCHES).conditions == {"city_in": ["bandung"]}
    with pytest.raises(ValidationFailed):  # a list where one value goes is refused, not a crash
        rules.audience_of({"language": ["id"]}, BRANCHES)
    with pytest.raises(ValidationFailed):
        rules.audience_of({"tags_any": ["a"], **{f"x{i}": 1 for i in range(10)}}, BRANCHES)


def test_a_text_must_be_gsm7_and_one_part_with_the_longest_name_branch_and_opt_out_line() -> None:
    line = len("\n" + rules.OPT_OUT_LINE["id"].format(link=rules.opt_out_link(LINK_BASE, "x" * rules.TOKEN_CHARS)))
    room = rules.SMS_PART_SEPTETS - line - len("W" * rules.FIRST_NAME_MAX_CHARS) - len("Surabaya")
    fits = "{first_name}{branch_name}" + "a" * room
    assert rules.check_texts("sms", "promotion", _variant(fits), 1, BRANCHES, LINK_BASE) == 1
    with pytest.raises(Unprocessable) as too_long:
        rules.check_texts("sms", "promotion", _variant(fits + "a"), 1, BRANCHES, LINK_BASE)
    assert too_long.value.errors[0].field == "messages.id" and "161 GSM-7" in too_long.value.errors[0].message
    assert rules.check_texts("sms", "promotion", _variant(fits + "a"), 2, BRANCHES, LINK_BASE) == 2
    # an extended character counts twice; an informational text has no opt-out line
    assert rules.septets("€[") == 4
    assert rules.check_texts("sms", "informational", _variant("x" * 160), 1, BRANCHES, LINK_BASE) == 1
    with pytest.raises(Unprocessable) as emoji:
        rules.check_texts("sms", "promotion", _variant("Diskon 🎉"), 1, BRANCHES, LINK_BASE)
    assert "U+1F389" in emoji.value.errors[0].message and "position 8" in emoji.value.errors[0].message
    with pytest.raises(Unprocessable) as placeholder:
        rules.check_texts("sms", "promotion", _variant("Halo {nama}"), 1, BRANCHES, LINK_BASE)
    assert "{nama}" in placeholder.value.errors[0].message
    with pytest.raises(Unprocessable):  # an email needs a subject per language
        rules.check_texts("email", "promotion", _variant("Halo"), 1, BRANCHES, LINK_BASE)
    assert rules.first_name_of("Ñoño Álvarez-Wibisono") == "Ñoño" and rules.first_name_of("Çağrı") == "Çagr"


def test_the_window_waits_for_monday_08_00_and_informational_waits_out_the_quiet_hours_only() -> None:
    window = rules.Window(holidays=frozenset({"2026-12-07"}))
    saturday_evening = datetime(2026, 12, 5, 18, 0, tzinfo=JAKARTA)
    assert rules.next_opening(saturday_evening, True, JAKARTA, rules.Window()) == datetime(
        2026, 12, 7, 8, 0, tzinfo=JAKARTA)
    assert rules.next_opening(saturday_evening, True, JAKARTA, window) == datetime(2026, 12, 8, 8, 0, tzinfo=JAKARTA)
    assert rules.next_opening(saturday_evening, False, JAKARTA, window) == saturday_evening
    late = datetime(2026, 12, 5, 22, 30, tzinfo=JAKARTA)
    assert rules.next_opening(late, False, JAKARTA, window) == datetime(2026, 12, 6, 8, 0, tzinfo=JAKARTA)
    at_1750 = datetime(2026, 12, 5, 17, 50, tzinfo=JAKARTA)
    assert rules.next_opening(at_1750, True, JAKARTA, window) == at_1750
    assert rules.window_closes(at_1750, True, JAKARTA, window) == datetime(2026, 12, 5, 18, 0, tzinfo=JAKARTA)


def test_the_cap_counts_today_and_the_rolling_seven_days() -> None:
    rule = rules.CapRule(per_day=1, per_7_days=3)
    today = date(2026, 12, 10)
    assert not rules.capped([], today, rule)
    assert rules.capped(["2026-12-10"], today, rule)
    assert rules.capped(["2026-12-04", "2026-12-06", "2026-12-09"], today, rule)
    assert not rules.capped(["2026-12-03", "2026-12-06", "2026-12-09"], today, rule)  # the 3rd is 7 days back
    assert rules.with_send(["2026-12-01", "2026-12-09"], today) == ["2026-12-09", "2026-12-10"]


def test_the_assignment_is_stable_and_about_the_shares_it_promises() -> None:
    ids = [f"01J{n:023d}" for n in range(20_000)]
    control = sum(rules.in_global_control(i, "k") for i in ids) / len(ids)
    holdout = sum(rules.in_holdout("C1", i, 10, "k") for i in ids) / len(ids)
    assert abs(control - 0.05) < 0.006 and abs(holdout - 0.10) < 0.008
    assert [rules.in_holdout("C1", i, 10, "k") for i in ids[:50]] == [rules.in_holdout("C1", i, 10, "k")
                                                                      for i in ids[:50]]
    assert sum(rules.in_holdout("C1", i, 10, "k") != rules.in_holdout("C2", i, 10, "k") for i in ids) > 1000


def test_lift_and_its_interval_match_a_hand_computation() -> None:
    out = rules.lift(120, 1000, 80, 1000)
    se = math.sqrt(0.12 * 0.88 / 1000 + 0.08 * 0.92 / 1000)  # 0.0133866...
    assert out["absolute_lift"] == pytest.approx(0.04)
    assert out["absolute_lift_ci95"] == pytest.approx([0.04 - 1.96 * se, 0.04 + 1.96 * se], abs=1e-6)
    assert out["absolute_lift_ci95"] == pytest.approx([0.013762, 0.066238], abs=1e-6)
    assert out["relative_lift"] == pytest.approx(0.5) and out["underpowered"] is False
    assert rules.lift(3, 50, 1, 40)["underpowered"] is True
    assert rules.lift(5, 100, 0, 0)["absolute_lift"] is None


def test_variants_are_compared_by_chi_squared_and_a_winner_named_only_below_0_05() -> None:
    # A 60/500, B 30/500: expected 45 and 455 per arm; (15²/45 + 15²/455) x 2 = 10.989
    out = rules.compare_variants([("A", 500, 60), ("B", 500, 30)])
    assert out["chi_squared"] == pytest.approx(10.989, abs=1e-3) and out["df"] == 1
    assert out["p_value"] == pytest.approx(math.erfc(math.sqrt(10.989 / 2)), rel=1e-3) and out["winner"] == "A"
    close = rules.compare_variants([("A", 500, 50), ("B", 500, 45)])
    assert close["p_value"] > 0.05 and close["winner"] is None
    # three variants (df 2): the survival function of chi-squared with 2 df is exp(-x/2)
    assert rules.chi2_sf(5.991, 2) == pytest.approx(0.05, abs=1e-4)
    assert rules.chi2_sf(7.815, 3) == pytest.approx(0.05, abs=1e-4)


def test_masks_keep_the_last_four_characters_only() -> None:
    assert rules.mask_phone("+6281234567890") == "••••••••••7890"
    assert rules.mask_email("budi@contoh.id") == "••••••••••h.id"


def test_any_change_to_a_draft_asks_for_its_approval_again() -> None:
    c = rules.Campaign(id="C", number=1, name="x", channel="sms", purpose="promotion", audience=rules.Audience({}),
                       variants=_variant("Halo"), holdout_pct=10, send_at=None, sender_id=None, max_parts=1,
                       status="draft", created_by="m", created_at="t", updated_at="t", approved_by="admin-sub")
    changed = rules.changed(c, rules.CampaignChanges({"audience": rules.Audience({"stage_in": ["lead"]})}), "t2")
    assert changed.approved_by is None and changed.version == 2


def test_the_export_facts_conditions_are_checked_and_matched() -> None:
    """Segments, churn bands, purchases and last contact come from the latest export (AudienceFacts)."""
    with pytest.raises(ValidationFailed) as failed:
        rules.audience_of({"rfm_segment_in": ["champions", "whales"], "churn_band_in": ["extreme"],
                           "bought_category_in": ["oil_and_filter", "snacks"], "last_order_before": "2026-13-01"},
                          BRANCHES)
    fields = {e.field: e.message for e in failed.value.errors}
    assert "whales" in fields["audience.rfm_segment_in"] and "extreme" in fields["audience.churn_band_in"]
    assert "snacks" in fields["audience.bought_category_in"] and "audience.last_order_before" in fields
    audience = rules.audience_of({"rfm_segment_in": ["at_risk", "cant_lose"], "churn_band_in": ["high"],
                                  "bought_category_in": ["vehicle"], "not_bought_category_in": ["service_package"],
                                  "last_interaction_before": "2026-09-01", "last_order_before": "2026-06-01"},
                                 BRANCHES)
    assert rules.needs_facts(audience) and not rules.needs_facts(rules.audience_of({"stage_in": ["lead"]}, BRANCHES))
    fits = rules.AudienceFacts(as_of="2026-12-05", rfm_segment="at_risk", churn_band="high",
                               last_interaction_on="2026-08-31", last_order_on="2026-05-31", categories=("vehicle",))
    assert rules.matches_facts(audience, fits)
    for changed in ({"rfm_segment": "champions"}, {"churn_band": "medium"}, {"categories": ("accessory",)},
                    {"categories": ("vehicle", "service_package")}, {"last_interaction_on": "2026-09-01"},
                    {"last_interaction_on": None}, {"last_order_on": "2026-06-01"}, {"last_order_on": None}):
        assert not rules.matches_facts(audience, replace(fits, **changed)), changed  # type: ignore[arg-type]
    assert not rules.matches_facts(audience, rules.NO_FACTS)  # not seen by an export: no segment known
    never_bought = rules.audience_of({"not_bought_category_in": ["vehicle"]}, BRANCHES)
    assert rules.matches_facts(never_bought, rules.NO_FACTS)
    recent = rules.audience_of({"last_interaction_after": "2026-11-01"}, BRANCHES)
    assert rules.matches_facts(recent, replace(fits, last_interaction_on="2026-11-02"))
    assert not rules.matches_facts(recent, replace(fits, last_interaction_on="2026-11-01"))


def test_a_message_is_unknown_once_72_hours_passed_without_its_final_receipt() -> None:
    counts = {"a.2026-12-01T08": 10, "r.2026-12-01T08": 7, "a.2026-12-01T09": 5, "r.2026-12-01T09": 5,
              "a.2026-12-03T10": 4, "accepted": 19}
    # 72 hours after 09:00-10:00 on the 1st ends at 10:00 on the 4th: both hours of the 1st are that old
    assert rules.unknown_receipts(counts, datetime(2026, 12, 4, 10, 0, tzinfo=JAKARTA).astimezone(UTC)) == 0
    at = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    assert rules.unknown_receipts(counts, at) == 3  # 08 and 09 (09:00-10:00 is wholly 72 h old at 10:00)
    assert rules.unknown_receipts(counts, datetime(2026, 12, 4, 9, 59, tzinfo=UTC)) == 3  # 08 only
    assert rules.unknown_receipts(counts, datetime(2026, 12, 4, 8, 59, tzinfo=UTC)) == 0
    assert rules.unknown_receipts(counts, datetime(2026, 12, 7, 11, 0, tzinfo=UTC)) == 3 + 4
