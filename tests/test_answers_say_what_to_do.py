"""Errors a newcomer meets say what to do (issue: a newcomer's first hour), and every URL the API hands out resolves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api import problems
from tests.test_api_customers import _problem


def test_a_malformed_if_match_is_a_bad_request_not_someone_elses_change(as_user: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(city="Depok")
    for malformed in ("v1", "garbage", '"v1', 'W/v1', '"v1",,x'):
        body = _problem(agent.patch(f"/customers/{customer['id']}", {"city": "Bogor"},
                                    headers={"If-Match": malformed}), 400)
        assert 'If-Match: "v3"' in body["detail"]
    assert agent.get(f"/customers/{customer['id']}").json["city"] == "Depok"  # nothing changed
    _problem(agent.patch(f"/customers/{customer['id']}", {"city": "Bogor"}, headers={"If-Match": '"v9"'}), 412)
    assert agent.patch(f"/customers/{customer['id']}", {"city": "Bogor"},
                       headers={"If-Match": '"v0", "v1"'}).status_code == 200


def test_a_refusal_names_the_callers_role_and_the_roles_that_may(as_user: Any) -> None:
    body = _problem(as_user("analyst").get("/customers?limit=1"), 403)
    assert "analyst" in body["detail"] and "agent" in body["detail"] and "customers.list" in body["detail"]
    body = _problem(as_user("agent.jakarta").post("/customers", {"name": "Rina", "phone": "0812-7000-1234",
                                                                 "branch_id": "surabaya"}), 403)
    assert "(jakarta)" in body["detail"]


def test_a_bad_phone_says_which_forms_are_accepted_and_a_lookup_without_a_parameter_names_the_query(
        as_user: Any) -> None:
    agent = as_user("agent.jakarta")
    body = _problem(agent.post("/customers", {"name": "Rina", "phone": "12345"}), 400)
    assert any("0812-3456-7890" in e["message"] for e in body["errors"])
    body = _problem(agent.get("/customers/lookup"), 400)
    assert [e["field"] for e in body["errors"]] == ["query"]


def test_the_location_of_a_new_interaction_and_due_item_answers_a_get(as_user: Any) -> None:
    agent, other = as_user("agent.jakarta"), as_user("agent.surabaya")
    customer = agent.new_customer()
    for path, body in ((f"/customers/{customer['id']}/interactions",
                        {"channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": "asked",
                         "occurred_at": "2026-03-01T10:00:00.123Z"}),
                       (f"/customers/{customer['id']}/interactions",
                        {"channel": "phone", "direction": "inbound", "kind": "inquiry", "summary": "now"}),
                       (f"/customers/{customer['id']}/due-items",
                        {"kind": "service", "title": "Service 10,000 km", "due_date": "2030-01-01"})):
        created = agent.post(path, body)
        assert created.status_code == 201, created.body
        location = created.headers["Location"]
        fetched = agent.get(location)
        assert fetched.status_code == 200, fetched.body
        assert fetched.json == created.json
        # another branch cannot tell it from a record that does not exist
        missing = location.rsplit("/", 1)[0] + "/01HZZZZZZZZZZZZZZZZZZZZZZZ"
        assert _problem(other.get(location), 404) == _problem(agent.get(missing), 404)
        _problem(agent.get(location.rsplit("/", 1)[0] + "/not-an-id"), 404)


@pytest.mark.parametrize("slug", sorted({slug for slug, _ in problems.STATUSES.values()} | {
    special for _, _, special in problems._BY_ERROR if special} | {"malformed-json"}))
def test_every_problem_type_resolves_to_what_it_means_without_a_token(api: Any, slug: str) -> None:
    answer = api.get(f"/problems/{slug}")
    assert answer.status_code == 200, answer.body
    page = json.loads(answer.body)
    assert page["type"] == f"/problems/{slug}" and len(page["explanation"]) > 40


def test_an_unknown_problem_type_is_not_found(api: Any) -> None:
    assert api.get("/problems/no-such-type").status_code == 404
