"""Domain rules, without AWS."""

from __future__ import annotations

import pytest

from chalicelib.domain.access import PERMISSIONS, Principal, Role, authorize
from chalicelib.domain.customers import (
    ACCEPTED_PHONE_FORMS,
    check_channel_reachable,
    looks_like_phone,
    name_key,
    normalize_email,
    normalize_phone,
)
from chalicelib.domain.errors import Forbidden, NotFound
from chalicelib.domain.versions import etag_for, if_match_allows


@pytest.mark.parametrize(
    "raw",
    ["0812-3456-7890", "+62 812 3456 7890", "081234567890", "62812 3456 7890", "(0812) 3456-7890"],
)
def test_indonesian_phone_forms_normalize_to_one_e164(raw: str) -> None:
    assert normalize_phone(raw, "ID") == "+6281234567890"


@pytest.mark.parametrize("raw", ["12", "abc", "0812", "+1 555", "0000-0000-0000"])
def test_invalid_phones_are_refused_without_echoing_them(raw: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_phone(raw, "ID")
    assert ACCEPTED_PHONE_FORMS in str(info.value)  # what would be accepted, said instead
    assert raw not in str(info.value).replace(ACCEPTED_PHONE_FORMS, "")


def test_default_region_decides_what_a_leading_zero_means() -> None:
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"


def test_email_is_validated_and_lower_cased() -> None:
    assert normalize_email("  Budi.Santoso@Contoh.CO.ID ") == "budi.santoso@contoh.co.id"
    with pytest.raises(ValueError) as info:
        normalize_email("budi@@contoh")
    assert "budi" not in str(info.value)


def test_name_key_folds_case_accents_and_spaces() -> None:
    assert name_key("  Siti   NURHALIZA ") == "siti nurhaliza"
    assert name_key("Andrés") == "andres"


def test_phone_like_queries_are_told_apart_from_names() -> None:
    assert looks_like_phone("0812-3456-7890")
    assert looks_like_phone("+62 812 3456")
    assert not looks_like_phone("Budi")
    assert not looks_like_phone("12")


def test_if_match_compares_strongly_and_accepts_lists_and_star() -> None:
    assert if_match_allows(etag_for(7), 7)
    assert if_match_allows('"v1", "v7"', 7)
    assert if_match_allows("*", 7)
    assert not if_match_allows('W/"v7"', 7)
    assert not if_match_allows('"v6"', 7)
    assert not if_match_allows('"7"', 7)
    assert not if_match_allows("", 7)


def test_email_channel_needs_an_email() -> None:
    assert check_channel_reachable("email", None)
    assert check_channel_reachable("email", "a@b.co") is None
    assert check_channel_reachable("sms", None) is None


def _p(*roles: Role, branch: str | None = "bandung") -> Principal:
    return Principal(sub="s", username="u", roles=frozenset(roles), branch=branch)


def test_agents_are_scoped_to_their_branch_and_other_branches_look_missing() -> None:
    access = authorize(_p(Role.AGENT), "customers.get")
    access.check_branch("bandung")
    with pytest.raises(NotFound):
        access.check_branch("jakarta")


def test_admin_sees_every_branch() -> None:
    access = authorize(_p(Role.ADMIN, branch=None), "customers.delete")
    assert access.branch is None
    access.check_branch("surabaya")


def test_only_admin_and_manager_may_delete() -> None:
    for role in (Role.AGENT, Role.MARKETING, Role.ANALYST):
        with pytest.raises(Forbidden):
            authorize(_p(role), "customers.delete")
    authorize(_p(Role.MANAGER), "customers.delete")


def test_analyst_has_no_customer_operation_at_all() -> None:
    for operation in PERMISSIONS:
        # counts without personal data, all branches (the money analyses: the export's pseudonyms, never ids:
        # tests/test_finance_domain.py; satisfaction by day and department, never by person: tests/test_surveys.py)
        if operation in ("analytics.summary", "analytics.anomalies", "analytics.exports", "analytics.money",
                         "analytics.satisfaction", "console.open"):
            assert authorize(_p(Role.ANALYST), operation).branch is None
            continue
        with pytest.raises(Forbidden):
            authorize(_p(Role.ANALYST), operation)


def test_marketing_reads_but_never_writes() -> None:
    authorize(_p(Role.MARKETING), "customers.list")
    for operation in ("customers.create", "customers.update", "customers.delete", "interactions.create"):
        with pytest.raises(Forbidden):
            authorize(_p(Role.MARKETING), operation)


def test_a_scoped_role_without_a_branch_sees_nothing() -> None:
    access = authorize(_p(Role.AGENT, branch=None), "customers.get")
    for branch in ("jakarta", "bandung", "surabaya"):
        with pytest.raises(NotFound):
            access.check_branch(branch)


def test_unknown_groups_grant_nothing() -> None:
    principal = Principal.from_claims("s", "u", ["superuser", "Admin"], "jakarta")
    assert principal.roles == frozenset()
    with pytest.raises(Forbidden):
        authorize(principal, "customers.get")


def test_the_clock_can_be_set_for_history_in_this_context_only() -> None:
    """domain/clock.at: the seed's 18 months go through the use cases at past moments; other threads (the
    stack's pump, moto) keep the real time, and leaving the block restores it."""
    import threading
    from datetime import UTC, datetime, timedelta

    from chalicelib.domain.clock import at, moment_of, new_id, utcnow

    past = datetime(2025, 6, 1, 3, 4, 5, tzinfo=UTC)
    seen: list[datetime] = []
    with at(past):
        assert utcnow() == past
        assert moment_of(new_id(utcnow())) == past
        thread = threading.Thread(target=lambda: seen.append(utcnow()))
        thread.start()
        thread.join()
    assert abs(seen[0] - datetime.now(UTC)) < timedelta(minutes=1)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(minutes=1)
