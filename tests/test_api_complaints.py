"""Complaints through the API: routing, SLA, lifecycle, history, listing, timeline, erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.test_api_customers import _problem


@pytest.fixture
def agent(as_user: Any) -> Any:
    return as_user("agent.jakarta")


def _complaint(**fields: Any) -> dict[str, Any]:
    return {"category": "service", "severity": "high", "subject": "Brake noise after service",
            "description": "Squeaking brakes since the last service visit.", **fields}


def _open(caller: Any, customer_id: str, **fields: Any) -> dict[str, Any]:
    r = caller.post(f"/customers/{customer_id}/complaints", _complaint(**fields))
    assert r.status_code == 201, r.body
    return dict(r.json)


def _move(caller: Any, c: dict[str, Any], **patch: Any) -> Any:
    return caller.patch(f"/complaints/{c['id']}", patch, headers={"If-Match": f'"v{c["version"]}"'})


def _hours(a: str, b: str) -> float:
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(b) - parse(a)).total_seconds() / 3600


@pytest.mark.parametrize(
    ("category", "department"),
    [("sales", "sales"), ("service", "service"), ("quality_control", "quality_control"),
     ("shipment", "shipment"), ("billing", "finance"), ("other", "customer_care")],
)
def test_the_category_routes_a_complaint_to_its_department(agent: Any, category: str, department: str) -> None:
    customer = agent.new_customer()
    c = _open(agent, customer["id"], category=category)
    assert c["department"] == department and c["branch_id"] == "jakarta" and c["customer_id"] == customer["id"]


@pytest.mark.parametrize(("severity", "ack", "resolve"), [("critical", 1, 8), ("high", 4, 24), ("medium", 8, 72), ("low", 24, 168)])
def test_sla_deadlines_follow_the_severity(agent: Any, severity: str, ack: int, resolve: int) -> None:
    c = _open(agent, agent.new_customer()["id"], severity=severity)
    assert round(_hours(c["created_at"], c["ack_due_at"]), 3) == ack
    assert round(_hours(c["created_at"], c["resolve_due_at"]), 3) == resolve
    assert c["due_at"] == c["ack_due_at"] and c["status"] == "open"
    assert c["escalation_level"] == 0 and c["breached"] is False
    assert [h["change"] for h in c["history"]] == ["created"]


def test_the_lifecycle_with_history_and_etags(agent: Any) -> None:
    c = _open(agent, agent.new_customer()["id"])
    _problem(agent.patch(f"/complaints/{c['id']}", {"status": "acknowledged"}), 428)
    _problem(agent.patch(f"/complaints/{c['id']}", {"status": "acknowledged"}, headers={"If-Match": '"v9"'}), 412)
    r = _move(agent, c, status="acknowledged", assignee="team-lead.service")
    assert r.status_code == 200 and r.headers["ETag"] == '"v2"'
    c = r.json
    assert c["acknowledged_at"] and c["due_at"] == c["resolve_due_at"] and c["assignee"] == "team-lead.service"
    c = _move(agent, c, status="in_progress").json
    body = _problem(_move(agent, c, status="resolved"), 400)  # needs a resolution note
    assert body["errors"][0]["field"] == "resolution_note"
    c = _move(agent, c, status="resolved", resolution_note="Pads replaced under warranty").json
    assert c["resolved_at"] and c["due_at"] is None and c["breached"] is False
    c = _move(agent, c, status="closed").json
    assert c["closed_at"]
    c = _move(agent, c, status="in_progress").json  # reopened within 14 days
    assert c["resolved_at"] is None and c["closed_at"] is None
    # a fresh resolve window from the reopen
    assert c["reopens"] == 1 and round(_hours(c["reopened_at"], c["resolve_due_at"]), 3) == 24  # high: 24 h
    assert c["due_at"] == c["resolve_due_at"]
    changes = [(h["change"], h["from"], h["to"]) for h in agent.get(f"/complaints/{c['id']}").json["history"]]
    assert changes == [
        ("created", None, "open"),
        ("assignee", None, "team-lead.service"),
        ("status", "open", "acknowledged"),
        ("status", "acknowledged", "in_progress"),
        ("resolution_note", None, "Pads replaced under warranty"),
        ("status", "in_progress", "resolved"),
        ("status", "resolved", "closed"),
        ("status", "closed", "in_progress"),
    ]
    assert all(h["by"] for h in c["history"])


def test_an_illegal_transition_is_409_with_the_allowed_next_states(agent: Any) -> None:
    c = _open(agent, agent.new_customer()["id"])
    body = _problem(_move(agent, c, status="resolved", resolution_note="x"), 409)
    assert body["allowed_next_states"] == ["acknowledged"] and body["current_status"] == "open"
    assert agent.get(f"/complaints/{c['id']}").json["version"] == 1


def test_a_closed_complaint_cannot_be_reopened_after_14_days() -> None:
    from chalicelib.domain.complaints import Complaint, transition
    from chalicelib.domain.errors import Conflict

    closed_at = datetime(2026, 1, 1, tzinfo=UTC)
    case = Complaint(id="x", customer_id="c", branch_id="b", category="sales", department="sales", severity="low",
                     subject="s", description="d", status="closed", created_at="", updated_at="", created_by="u",
                     ack_due_at="", resolve_due_at="", closed_at="2026-01-01T00:00:00.000Z")
    assert transition(case, "in_progress", by="u", now=closed_at + timedelta(days=13)).status == "in_progress"
    with pytest.raises(Conflict) as info:
        transition(case, "in_progress", by="u", now=closed_at + timedelta(days=15))
    assert info.value.extra["allowed_next_states"] == []


@pytest.mark.parametrize(
    "body",
    [_complaint(category="warranty"), _complaint(severity="urgent"), _complaint(subject=""),
     _complaint(subject="x" * 201), _complaint(description="x" * 4001), _complaint(status="closed"),
     {"category": "sales", "severity": "low", "subject": "s"}],
)
def test_invalid_complaints_are_400(agent: Any, body: dict[str, Any]) -> None:
    customer = agent.new_customer()
    _problem(agent.post(f"/customers/{customer['id']}/complaints", body), 400)
    assert agent.get(f"/customers/{customer['id']}/timeline").json["items"] == []


def test_listing_uses_department_status_severity_and_branch(as_user: Any) -> None:
    jakarta, bandung, admin = as_user("agent.jakarta"), as_user("agent.bandung"), as_user("admin")
    marker = uuid.uuid4().hex[:6]
    mine = _open(jakarta, jakarta.new_customer()["id"], category="shipment", severity="critical", subject=marker)
    other = _open(bandung, bandung.new_customer()["id"], category="shipment", severity="low", subject=marker)

    def ids(caller: Any, query: str) -> set[str]:
        found: set[str] = set()
        cursor = None
        while True:
            r = caller.get(f"/complaints?{query}&limit=100" + (f"&cursor={cursor}" if cursor else ""))
            assert r.status_code == 200, r.body
            found |= {c["id"] for c in r.json["items"] if c["subject"] == marker}
            cursor = r.json["next_cursor"]
            if not cursor:
                return found

    assert ids(admin, "department=shipment&status=open") == {mine["id"], other["id"]}
    assert ids(admin, "department=shipment&severity=critical") == {mine["id"]}
    assert ids(admin, "branch=bandung&status=open") == {other["id"]}
    assert ids(jakarta, "department=shipment") == {mine["id"]}  # scoped to the own branch
    assert ids(admin, "status=resolved") == set()
    _problem(jakarta.get("/complaints?branch=bandung"), 403)
    _problem(jakarta.get("/complaints?status=pending"), 400)


def test_other_branches_and_roles_cannot_see_a_complaint(as_user: Any) -> None:
    c = _open(as_user("agent.jakarta"), as_user("agent.jakarta").new_customer()["id"])
    _problem(as_user("agent.surabaya").get(f"/complaints/{c['id']}"), 404)
    _problem(as_user("manager.bandung").patch(f"/complaints/{c['id']}", {"status": "acknowledged"},
                                              headers={"If-Match": '"v1"'}), 404)
    _problem(as_user("marketing").get(f"/complaints/{c['id']}"), 403)
    _problem(as_user("analyst").get("/complaints"), 403)
    assert as_user("manager.jakarta").get(f"/complaints/{c['id']}").status_code == 200
    _problem(as_user("agent.surabaya").post(f"/customers/{c['customer_id']}/complaints", _complaint()), 404)


def test_a_complaint_shows_on_the_customer_timeline(agent: Any) -> None:
    customer = agent.new_customer()
    agent.post(f"/customers/{customer['id']}/interactions",
               {"channel": "phone", "direction": "inbound", "kind": "inquiry", "summary": "called"})
    c = _open(agent, customer["id"])
    items = agent.get(f"/customers/{customer['id']}/timeline").json["items"]
    assert [i["type"] for i in items] == ["complaint", "interaction"]
    assert items[0]["id"] == c["id"] and items[0]["status"] == "open" and "history" not in items[0]


def test_erasing_the_customer_erases_their_complaints(as_user: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer()
    c = _open(agent, customer["id"])
    _move(agent, c, status="acknowledged")
    assert as_user("manager.jakarta").delete(f"/customers/{customer['id']}").status_code == 204
    _problem(agent.get(f"/complaints/{c['id']}"), 404)
    from chalicelib.persistence.tables import Item, complaint_pk

    assert list(Item.query(complaint_pk(c["id"]))) == []


def test_a_moved_customer_takes_more_complaints_than_one_transaction_holds(
        as_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.persistence import complaints

    monkeypatch.setattr(complaints, "MOVED_WITH_PROFILE_MAX", 1)  # the rest move right after the transaction
    agent, admin = as_user("agent.jakarta"), as_user("admin")
    customer = agent.new_customer()
    opened = [_open(agent, customer["id"]) for _ in range(3)]
    r = admin.patch(f"/customers/{customer['id']}", {"branch_id": "surabaya"}, headers={"If-Match": '"v1"'})
    assert r.status_code == 200, r.body
    for c in opened:
        moved = as_user("agent.surabaya").get(f"/complaints/{c['id']}")
        assert moved.status_code == 200 and moved.json["branch_id"] == "surabaya"
        assert moved.json["version"] == c["version"] + 1  # a PATCH read before the move gets 412, not the old branch back
        _problem(agent.patch(f"/complaints/{c['id']}", {"assignee": "x"}, headers={"If-Match": f'"v{c["version"]}"'}),
                 404)  # the old branch no longer reaches it


def test_a_complaint_left_in_the_old_branch_follows_its_customer_from_the_stream(as_user: Any) -> None:
    """A complaint opened while its customer moved (or past what one transaction holds) is moved by the
    stream consumer when the customer's change arrives, to where the customer is then."""
    import boto3

    from chalicelib.config import settings
    from chalicelib.workflows.stream import _complaints_follow

    agent, admin = as_user("agent.jakarta"), as_user("admin")
    customer = agent.new_customer()
    c = _open(agent, customer["id"])
    assert admin.patch(f"/customers/{customer['id']}", {"branch_id": "bandung"},
                       headers={"If-Match": '"v1"'}).status_code == 200
    boto3.client("dynamodb").update_item(  # as if opened in the old branch while the move was under way
        TableName=settings().table_name, Key={"pk": {"S": f"X#{c['id']}"}, "sk": {"S": "COMPLAINT"}},
        UpdateExpression="SET branch_id = :b, cb_pk = :k", ExpressionAttributeValues={
            ":b": {"S": "jakarta"}, ":k": {"S": "CXB#jakarta"}})
    assert agent.get(f"/complaints/{c['id']}").status_code == 200

    _complaints_follow(customer["id"])

    _problem(agent.get(f"/complaints/{c['id']}"), 404)
    assert as_user("agent.bandung").get(f"/complaints/{c['id']}").json["branch_id"] == "bandung"
    assert c["id"] in {x["id"] for x in as_user("agent.bandung").get("/complaints?limit=100").json["items"]}
