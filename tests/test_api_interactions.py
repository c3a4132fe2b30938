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


def test_cursor_pages_need_no_profile_read_but_cursors_expire(agent: Any, monkeypatch: pytest.MonkeyPatch) -> None:
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
