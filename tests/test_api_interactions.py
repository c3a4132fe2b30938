"""Interactions (the customer history) and the timeline, through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.test_api_customers import _problem


@pytest.fixture
def agent(as_user: Any) -> Any:
    return as_user("agent.jakarta")


def _entry(**fields: Any) -> dict[str, Any]:
    return {"channel": "phone", "direction": "inbound", "kind": "inquiry", "summary": "Asked about service", **fields}


def test_recording_an_interaction_takes_the_staff_id_from_the_token(agent: Any) -> None:
    c = agent.new_customer()
    r = agent.post(f"/customers/{c['id']}/interactions", _entry(ref="B 1234 XYZ"))
    assert r.status_code == 201
    i = r.json
    assert i["customer_id"] == c["id"] and i["ref"] == "B 1234 XYZ"
    assert i["staff_id"] and i["occurred_at"].endswith("Z")
    assert r.headers["Location"].endswith(i["id"])
    _problem(agent.post(f"/customers/{c['id']}/interactions", _entry(staff_id="someone-else")), 400)


def test_history_is_newest_first_by_when_it_happened_and_pages(agent: Any) -> None:
    c = agent.new_customer()
    now = datetime.now(UTC)
    made = []
    for days_ago in (5, 1, 30, 2):
        when = (now - timedelta(days=days_ago)).isoformat()
        made.append((days_ago, agent.post(f"/customers/{c['id']}/interactions", _entry(occurred_at=when)).json["id"]))
    expected = [i for _, i in sorted(made)]  # fewest days ago first
    first = agent.get(f"/customers/{c['id']}/interactions?limit=3").json
    assert [i["id"] for i in first["items"]] == expected[:3] and first["next_cursor"]
    rest = agent.get(f"/customers/{c['id']}/interactions?limit=3&cursor={first['next_cursor']}").json
    assert [i["id"] for i in rest["items"]] == expected[3:] and rest["next_cursor"] is None


def test_timeline_lists_every_entry_with_its_type(agent: Any) -> None:
    c = agent.new_customer()
    for kind in ("inquiry", "feedback"):
        agent.post(f"/customers/{c['id']}/interactions", _entry(kind=kind))
    items = agent.get(f"/customers/{c['id']}/timeline").json["items"]
    assert [i["type"] for i in items] == ["interaction", "interaction"]
    assert [i["kind"] for i in items] == ["feedback", "inquiry"]


def test_a_customer_without_history_has_an_empty_timeline(agent: Any) -> None:
    c = agent.new_customer()
    assert agent.get(f"/customers/{c['id']}/timeline").json == {"items": [], "next_cursor": None}
    assert agent.get(f"/customers/{c['id']}/interactions").json == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "fields",
    [
        {"summary": "x" * 4001},
        {"summary": ""},
        {"channel": "fax"},
        {"direction": "sideways"},
        {"kind": "gossip"},
        {"occurred_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
        {"occurred_at": "2026-01-01T10:00:00"},
        {"occurred_at": "yesterday"},
        {"ref": "r" * 101},
    ],
)
def test_invalid_interactions_are_400_and_not_stored(agent: Any, fields: dict[str, Any]) -> None:
    c = agent.new_customer()
    _problem(agent.post(f"/customers/{c['id']}/interactions", _entry(**fields)), 400)
    assert agent.get(f"/customers/{c['id']}/interactions").json["items"] == []


def test_interactions_of_unknown_or_other_branch_customers_are_404(as_user: Any) -> None:
    c = as_user("agent.jakarta").new_customer()
    other = as_user("agent.surabaya")
    _problem(other.post(f"/customers/{c['id']}/interactions", _entry()), 404)
    _problem(other.get(f"/customers/{c['id']}/interactions"), 404)
    _problem(other.get(f"/customers/{c['id']}/timeline"), 404)
    _problem(as_user("agent.jakarta").post("/customers/01HNOPE0000000000000000000/interactions", _entry()), 404)
    assert as_user("agent.jakarta").get(f"/customers/{c['id']}/interactions").json["items"] == []


def test_cursors_expire(agent: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from chalicelib.config import CURSOR_TTL_SECONDS

    c = agent.new_customer()
    for n in range(3):
        agent.post(f"/customers/{c['id']}/interactions", _entry(summary=f"call {n}"))
    cursor = agent.get(f"/customers/{c['id']}/timeline?limit=1").json["next_cursor"]
    assert agent.get(f"/customers/{c['id']}/timeline?limit=1&cursor={cursor}").status_code == 200
    later = time.time() + CURSOR_TTL_SECONDS + 5
    monkeypatch.setattr("chalicelib.api.cursors.time.time", lambda: later)
    _problem(agent.get(f"/customers/{c['id']}/timeline?limit=1&cursor={cursor}"), 400)


@pytest.mark.parametrize("occurred_at", [
    "1969-12-31T23:59:59Z",  # before the ids' epoch: was a 500
    "0384-05-01T10:00:00Z",
    "0001-01-01T00:00:00+05:00",  # an offset that would take it below year 1
    "9999-12-31T23:59:59-05:00",  # ...or above year 9999
    "1999-12-31T23:59:59Z",
])
def test_interactions_dated_outside_what_the_crm_stores_are_400(agent: Any, occurred_at: str) -> None:
    c = agent.new_customer()
    problem = _problem(agent.post(f"/customers/{c['id']}/interactions", _entry(occurred_at=occurred_at)), 400)
    assert problem["errors"][0]["field"] == "occurred_at"
    assert agent.get(f"/customers/{c['id']}/interactions").json["items"] == []


def test_the_earliest_storable_time_is_stored(agent: Any) -> None:
    c = agent.new_customer()
    r = agent.post(f"/customers/{c['id']}/interactions", _entry(occurred_at="2000-01-01T07:00:00+07:00"))
    assert r.status_code == 201, r.body
    assert r.json["occurred_at"] == "2000-01-01T00:00:00.000Z"


def test_free_text_keeps_its_lines_but_not_hidden_characters(agent: Any) -> None:
    c = agent.new_customer()
    kept = agent.post(f"/customers/{c['id']}/interactions", _entry(summary="Called twice.\nWill visit Monday."))
    assert kept.status_code == 201 and kept.json["summary"] == "Called twice.\nWill visit Monday."
    for summary in ("Paid \u202edetnuoc\u202c", "\u200b\u200b", "bell\u0007"):
        problem = _problem(agent.post(f"/customers/{c['id']}/interactions", _entry(summary=summary)), 400)
        assert problem["errors"][0]["field"] == "summary"


def _rotate(secret_arn: str) -> None:
    import secrets

    import boto3

    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=secrets.token_hex(24))


def test_the_cursor_key_rotates_without_breaking_listings_in_progress(agent: Any, stack: dict[str, str]) -> None:
    from chalicelib.api import cursors

    c = agent.new_customer()
    for n in range(3):
        agent.post(f"/customers/{c['id']}/interactions", _entry(summary=f"call {n}"))
    page = f"/customers/{c['id']}/interactions?limit=1"
    before = agent.get(page).json["next_cursor"]
    try:
        _rotate(stack["CURSOR_SECRET_ARN"])
        cursors.forget_keys()  # as a container does once its cache expires (CURSOR_KEY_CACHE_SECONDS)
        assert agent.get(f"{page}&cursor={before}").status_code == 200  # signed with the previous key
        after = agent.get(page).json["next_cursor"]
        assert after != before and agent.get(f"{page}&cursor={after}").status_code == 200
        _rotate(stack["CURSOR_SECRET_ARN"])
        cursors.forget_keys()
        _problem(agent.get(f"{page}&cursor={before}"), 400)  # two rotations ago: refused
        assert agent.get(f"{page}&cursor={after}").status_code == 200
    finally:
        cursors.forget_keys()


def test_a_container_that_missed_a_rotation_reads_the_key_again_for_a_cursor_it_cannot_verify(
        agent: Any, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.api import cursors

    c = agent.new_customer()
    for n in range(2):
        agent.post(f"/customers/{c['id']}/interactions", _entry(summary=f"call {n}"))
    page = f"/customers/{c['id']}/interactions?limit=1"
    agent.get(page)  # this container has read the key
    stale = cursors._keys
    try:
        _rotate(stack["CURSOR_SECRET_ARN"])
        cursors.forget_keys()
        fresh = agent.get(page).json["next_cursor"]  # signed by an up-to-date container
        cursors._keys = stale  # this one still holds the key before the rotation...
        monkeypatch.setattr("chalicelib.api.cursors.CURSOR_KEY_REFRESH_MIN_SECONDS", 0)
        assert agent.get(f"{page}&cursor={fresh}").status_code == 200  # ...and reads it again
    finally:
        cursors.forget_keys()


def test_without_a_cursor_key_configured_no_cursor_is_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.api import cursors
    from chalicelib.config import settings

    monkeypatch.delenv("CURSOR_SECRET_ARN", raising=False)
    settings.cache_clear()
    cursors.forget_keys()
    try:
        with pytest.raises(RuntimeError, match="CURSOR_SECRET_ARN"):
            cursors.encode({"pk": {"S": "x"}}, "scope")
    finally:
        monkeypatch.undo()
        settings.cache_clear()
        cursors.forget_keys()

