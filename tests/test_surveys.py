"""Satisfaction surveys: asked once per resolved complaint, completed work order and delivered order; the public
page; the answer once; a low score's follow-up complaint; the cap, the NPS quarter and the consent rule."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.config import SURVEY_TTL_DAYS
from chalicelib.domain import surveys as rules
from tests.test_api_complaints import _move, _open
from tests.test_orders import _order


def _resolved(agent: Any, customer_id: str) -> dict[str, Any]:
    c = _open(agent, customer_id)
    c = _move(agent, c, status="acknowledged", assignee="team-lead.service").json
    c = _move(agent, c, status="in_progress").json
    r = _move(agent, c, status="resolved", resolution_note="Pads replaced under warranty")
    assert r.status_code == 200, r.body
    return dict(r.json)


def _survey_messages(agent: Any, customer_id: str) -> list[dict[str, Any]]:
    items = agent.get(f"/customers/{customer_id}/interactions?limit=100").json["items"]
    return [i for i in items if i["kind"] == "survey"]


def _token(message: dict[str, Any]) -> str:
    """The link the customer got. Staff never see it: the timeline shows the message with its token hidden (the
    SMS itself went out whole: tests/test_e2e_orders.py reads it from the outbox)."""
    from chalicelib.persistence import surveys as repo
    from chalicelib.workflows import surveys

    assert message["summary"].endswith("/s/…") and not re.search(r"/s/[A-Za-z0-9_-]{20}", message["summary"])
    for subject in ("complaint", "work_order", "order"):
        if repo.get(message["customer_id"], subject, message["ref"]) is not None:
            return surveys.token(message["customer_id"], subject, message["ref"])
    raise AssertionError(f"no survey about {message['ref']}")


def _page(api: Any, method: str, token: str, form: dict[str, str] | None = None, lang: str = "") -> Any:
    body = urllib.parse.urlencode(form or {}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
    return api.request(method, f"/s/{token}{'?lang=' + lang if lang else ''}", headers=headers, body=body)


def _surveys_on_timeline(agent: Any, customer_id: str) -> list[dict[str, Any]]:
    return [e for e in agent.get(f"/customers/{customer_id}/timeline?limit=100").json["items"]
            if e["type"] == "survey"]


def test_the_rules_cap_quarter_and_answer() -> None:
    now = datetime(2026, 12, 7, 3, tzinfo=UTC)
    assert rules.cap_allows(None, now, 7)
    assert not rules.cap_allows((now - timedelta(days=6, hours=23)).isoformat().replace("+00:00", "Z"), now, 7)
    assert rules.cap_allows("2026-11-30T03:00:00.000Z", now, 7)
    assert rules.quarter(date(2026, 12, 31)) == "2026Q4" and rules.quarter(date(2027, 1, 1)) == "2027Q1"
    asked = rules.Asked(rules.Subject.ORDER, "01JABCDEFGHJKMNPQRSTVWXYZ0", "JKT-2026-000001", "jakarta", "sales",
                        None)
    survey = rules.new_survey(asked, customer_id="01JABCDEFGHJKMNPQRSTVWXYZ1", language="xx", asks_nps=False, now=now)
    assert survey.language == "id" and survey.expires_at > survey.sent_at
    for form, fields in (({}, ["csat"]), ({"csat": "6"}, ["csat"]), ({"csat": "x"}, ["csat"]),
                         ({"csat": "3", "comment": "a" * 1001}, ["comment"])):
        with pytest.raises(rules.ValidationFailed) as failed:
            rules.read_answer(form, asks_nps=False)
        assert [e.field for e in failed.value.errors] == fields
    # NPS only where the survey asks it; a comment made one line
    assert rules.read_answer({"csat": "4", "nps": "99", "comment": " fine\n\tthanks "}, asks_nps=False) == \
        rules.Answer(4, None, "fine thanks")
    with pytest.raises(rules.ValidationFailed):
        rules.read_answer({"csat": "4", "nps": "11"}, asks_nps=True)
    assert rules.read_answer({"csat": "5", "nps": "0"}, asks_nps=True).nps == 0
    assert rules.answered(survey, rules.Answer(5, 9, None), now).nps is None  # not asked: left out
    done = rules.answered(survey, rules.Answer(2, None, None), now)
    assert done.low and done.version == 2
    with pytest.raises(rules.Conflict):
        rules.answered(done, rules.Answer(5, None, None), now)
    with pytest.raises(rules.Expired):
        rules.answered(survey, rules.Answer(5, None, None), now + timedelta(days=SURVEY_TTL_DAYS))


def test_links_are_signed_for_surveys_only(stack: dict[str, str]) -> None:
    from chalicelib.domain.clock import new_id
    from chalicelib.workflows import campaigns, surveys

    customer, subject = new_id(), new_id()
    token = surveys.token(customer, "order", subject)
    assert len(token) == surveys.TOKEN_CHARS and surveys.read_token(token) == (customer, "order", subject)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for at in (0, 20, len(token) - 1):  # any other character anywhere, the last one's unused bits too
        for other in alphabet.replace(token[at], ""):
            assert surveys.read_token(token[:at] + other + token[at + 1:]) is None
    assert surveys.read_token(token[:-1]) is None and surveys.read_token(token + "A") is None
    # an opt-out link's signature does not make a survey link, and the other way round
    assert campaigns.read_token(token) is None
    assert surveys.read_token(campaigns.link_token(customer, 7, "sms") + "A" * 16) is None


def test_a_resolved_complaint_asks_once_and_the_page_takes_one_answer(
        as_user: Any, api: Any, stack: dict[str, str], stream_pump: Any, capfd: pytest.CaptureFixture[str]) -> None:
    from chalicelib.persistence import complaints as complaints_repo
    from chalicelib.persistence import customers
    from chalicelib.workflows import surveys

    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta", language="en", preferred_channel="sms")
    case = _resolved(agent, customer["id"])
    stream_pump.drain(30)
    (message,) = _survey_messages(agent, customer["id"])
    assert message["delivery"] == "sent" and message["ref"] == case["id"] and len(message["summary"]) <= 160
    assert message["summary"].startswith(f"Relasi: How did we handle complaint {case['id'][-8:]}? Rate us 1-5: ")
    (entry,) = _surveys_on_timeline(agent, customer["id"])
    assert (entry["status"], entry["subject"], entry["subject_id"], entry["department"]) == (
        "sent", "complaint", case["id"], "service")
    # the stream delivers the record again: no second survey, no second message
    profile = customers.get(customer["id"])
    assert profile is not None
    complaint = complaints_repo.get(case["id"], consistent=True)
    assert surveys.ask(profile, surveys.asked_about("complaint", complaint)) == "duplicate"
    assert len(_survey_messages(agent, customer["id"])) == 1

    token = _token(message)
    page = _page(api, "GET", token)
    assert page.status_code == 200 and "How satisfied are you" in page.body.decode()
    assert page.headers["Cache-Control"] == "no-store"
    assert _page(api, "GET", token, lang="id").body.decode().count("Seberapa puas") == 1
    assert _surveys_on_timeline(agent, customer["id"])[0]["status"] == "sent"  # GET changed nothing
    # a score out of range: 400, the form again, nothing kept
    bad = _page(api, "POST", token, {"csat": "9"})
    assert bad.status_code == 400 and 'id="error-csat"' in bad.body.decode()
    assert _surveys_on_timeline(agent, customer["id"])[0]["status"] == "sent"

    secret = "my neighbour Siti waited too long 0812-555"
    done = _page(api, "POST", token, {"csat": "2", "comment": secret})
    assert done.status_code == 200 and 'id="survey-done"' in done.body.decode()
    again = _page(api, "POST", token, {"csat": "5"})
    assert again.status_code == 409 and 'id="survey-answered"' in again.body.decode()
    (entry,) = _surveys_on_timeline(agent, customer["id"])
    assert (entry["status"], entry["csat"], entry["comment"]) == ("answered", 2, secret)

    # the low score opens one follow-up complaint, linked to the case; redelivered, still one
    stream_pump.drain(30)
    survey = surveys.survey_of(token)
    follow_up = agent.get(f"/complaints/{rules.follow_up_id(survey)}")
    assert follow_up.status_code == 200, follow_up.body
    f = follow_up.json
    assert (f["category"], f["severity"], f["ref"], f["status"], f["department"]) == (
        "customer_care", "medium", case["id"], "open", "customer_care")
    assert secret not in f["description"] and secret not in f["subject"]
    surveys.survey_changed(replace(survey, status="sent", csat=None), survey)
    # the stream delivers everything of the customer and the case again: nothing more is sent, opened or counted
    from chalicelib.workflows import stream
    from tests.test_export_facts import stream_records_of

    counted = as_user("manager.jakarta").get("/analytics/satisfaction?branch=jakarta&by=department").json
    records = stream_records_of(stack, {f"C#{customer['id']}", f"X#{case['id']}"})
    assert any(r["dynamodb"]["Keys"]["sk"]["S"].startswith("S#") for r in records)
    for start in range(0, len(records), 100):
        assert not stream.handle({"Records": records[start:start + 100]}, None).get("batchItemFailures")
    assert as_user("manager.jakarta").get("/analytics/satisfaction?branch=jakarta&by=department").json == counted
    assert len(_survey_messages(agent, customer["id"])) == 1
    timeline = agent.get(f"/customers/{customer['id']}/timeline?limit=100").json["items"]
    assert [e["id"] for e in timeline if e["type"] == "complaint" and e["category"] == "customer_care"] == [f["id"]]
    # the follow-up, resolved, asks no survey of its own (and the cap would hold it anyway)
    assert len(_survey_messages(agent, customer["id"])) == 1
    assert secret not in capfd.readouterr().out + capfd.readouterr().err


def test_forged_altered_expired_and_erased_links(as_user: Any, api: Any, stream_pump: Any) -> None:
    from chalicelib.domain.clock import new_id
    from chalicelib.persistence import customers
    from chalicelib.persistence import surveys as repo
    from chalicelib.workflows import surveys

    assert _page(api, "GET", "A" * surveys.TOKEN_CHARS).status_code == 404
    assert _page(api, "POST", "A" * surveys.TOKEN_CHARS, {"csat": "5"}).status_code == 404
    assert _page(api, "GET", "short").status_code == 404
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    # a signed link to a survey that does not exist: the same 404 as a forged one (no oracle)
    unknown = _page(api, "GET", surveys.token(customer["id"], "order", new_id()))
    assert unknown.status_code == 404 and 'id="survey-invalid"' in unknown.body.decode()
    # sent 15 days ago: the page says it closed, and takes nothing
    asked = rules.Asked(rules.Subject.ORDER, new_id(), "JKT-OLD-1", "jakarta", "sales", None)
    old = rules.new_survey(asked, customer_id=customer["id"], language="id", asks_nps=False,
                           now=datetime.now(UTC) - timedelta(days=15))
    assert repo.create(old, repo.cap_of(customer["id"]), None) == "created"
    token = surveys.token(customer["id"], "order", asked.subject_id)
    assert _page(api, "GET", token).status_code == 410
    assert _page(api, "POST", token, {"csat": "5"}).status_code == 410
    assert repo.get(customer["id"], "order", asked.subject_id) == old
    # erased with the customer: the link is 404 like any other
    profile = customers.get(customer["id"])
    assert profile is not None
    assert as_user("admin").delete(f"/customers/{customer['id']}").status_code in (202, 204)
    stream_pump.drain(30)
    assert _page(api, "GET", token).status_code == 404
    assert repo.get(customer["id"], "order", asked.subject_id) is None


def test_one_survey_a_week_nps_once_a_quarter_and_the_consent_rule(
        as_user: Any, api: Any, catalog: Any, stream_pump: Any) -> None:
    from chalicelib.persistence import customers
    from chalicelib.persistence import orders as orders_repo
    from chalicelib.persistence import surveys as repo
    from chalicelib.workflows import surveys

    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta", preferred_channel="sms")
    first = _resolved(agent, customer["id"])
    second = _resolved(agent, customer["id"])
    stream_pump.drain(30)
    (message,) = _survey_messages(agent, customer["id"])  # the second within the week: capped
    assert message["ref"] in (first["id"], second["id"])
    survey = surveys.survey_of(_token(message))
    assert survey.asks_nps  # the first survey of the quarter asks it
    assert 'name="nps"' in _page(api, "GET", _token(message)).body.decode()
    # a week later (the cap item moved back): another survey, without the NPS question this quarter
    cap = repo.cap_of(customer["id"])
    profile = customers.get(customer["id"])
    assert profile is not None
    order = _order(agent, customer["id"]).json
    for n, status in enumerate(("confirmed", "shipped", "delivered"), start=1):
        assert agent.patch(f"/orders/{order['id']}", {"status": status},
                           headers={"If-Match": f'"v{n}"'}).status_code == 200
    stream_pump.drain(30)
    assert len(_survey_messages(agent, customer["id"])) == 1  # still within the week
    assert repo.create(survey, cap, None) == "exists"  # the survey's own key holds, whatever the cap says
    _age_cap(customer["id"], days=8)
    delivered = orders_repo.get(order["id"])
    assert surveys.ask(profile, surveys.asked_about("order", delivered)) == "sent"
    later = repo.get(customer["id"], "order", order["id"])
    assert later is not None and not later.asks_nps and later.subject_ref == order["order_no"]
    # two answers racing (a double tap): one is taken, the other told kindly; a score for the question it did
    # not ask is left out
    from concurrent.futures import ThreadPoolExecutor

    token = surveys.token(customer["id"], "order", order["id"])
    missing = _page(api, "POST", token, {"comment": "Kurirnya ramah <b>sekali</b>"})  # no score: asked again
    assert missing.status_code == 400 and "Kurirnya ramah &lt;b&gt;sekali&lt;/b&gt;</textarea>" in missing.body.decode()
    with ThreadPoolExecutor(2) as pool:  # one with a garbled 0-10 score for the question this survey does not ask
        codes = sorted(pool.map(lambda form: _page(api, "POST", token, form).status_code,
                                ({"csat": "4", "nps": "9"}, {"csat": "5", "nps": "x"})))
    assert codes == [200, 409]
    taken = repo.get(customer["id"], "order", order["id"])
    assert taken is not None and taken.status == "answered" and taken.csat in (4, 5) and taken.nps is None
    assert taken.version == later.version + 1

    # withdrawn SMS marketing consent: no survey about an order, but still one about their own complaint
    withdrawn = agent.new_customer(branch_id="jakarta", preferred_channel="sms",
                                   consent={"sms_marketing": {"value": False, "source": "call_centre"}})
    own = customers.get(withdrawn["id"])
    assert own is not None
    other = _order(agent, withdrawn["id"]).json
    for n, status in enumerate(("confirmed", "shipped", "delivered"), start=1):
        agent.patch(f"/orders/{other['id']}", {"status": status}, headers={"If-Match": f'"v{n}"'})
    stream_pump.drain(30)
    assert _survey_messages(agent, withdrawn["id"]) == []
    assert surveys.ask(own, surveys.asked_about("order", orders_repo.get(other["id"]))) == "unreachable"
    _resolved(agent, withdrawn["id"])
    stream_pump.drain(30)
    assert [m["ref"] for m in _survey_messages(agent, withdrawn["id"])] != []


def _age_cap(customer_id: str, *, days: int) -> None:
    """Move the customer's last survey `days` back, as if it had been sent then."""
    from chalicelib.domain.clock import iso
    from chalicelib.persistence.surveys import CAP_SK
    from chalicelib.persistence.tables import SurveyCapItem, customer_pk

    item = SurveyCapItem.get(customer_pk(customer_id), CAP_SK, consistent_read=True)
    item.last_sent_at = iso(datetime.now(UTC) - timedelta(days=days))
    item.save()


def test_a_completed_work_order_asks_about_the_service_in_the_customers_language(
        as_user: Any, api: Any, stream_pump: Any) -> None:
    from tests.test_vehicles import _register
    from tests.test_work_orders import _eta, _jobs

    agent = as_user("agent.jakarta")
    owner = agent.new_customer(branch_id="jakarta", preferred_channel="sms")
    vehicle = _register(agent, owner["id"]).json
    wo = agent.post(f"/vehicles/{vehicle['vin']}/work-orders", {"jobs": _jobs("250000"), "eta": _eta(3)}).json
    etag = '"v1"'
    for status in ("in_progress", "completed"):
        r = agent.patch(f"/work-orders/{wo['id']}", {"status": status}, headers={"If-Match": etag})
        assert r.status_code == 200, r.body
        etag = r.headers["ETag"]
    stream_pump.drain(30)
    (message,) = _survey_messages(agent, owner["id"])
    assert message["ref"] == wo["id"] and message["summary"].startswith(
        f"Relasi: Bagaimana servis no. {wo['id'][-8:]}? Beri nilai 1-5: ")
    (entry,) = _surveys_on_timeline(agent, owner["id"])
    assert (entry["subject"], entry["department"], entry["branch_id"]) == ("work_order", "service", "jakarta")
    page = _page(api, "GET", _token(message)).body.decode()
    assert f"Seberapa puas Anda dengan servis kendaraan no. {wo['id'][-8:]}?" in page
    assert _page(api, "POST", _token(message), {"csat": "5", "nps": "10"}, lang="en").status_code == 200
    stream_pump.drain(30)
    (entry,) = _surveys_on_timeline(agent, owner["id"])
    assert (entry["csat"], entry["nps"], entry["comment"]) == (5, 10, None)
    # a good score opens nothing
    timeline = agent.get(f"/customers/{owner['id']}/timeline?limit=100").json["items"]
    assert not [e for e in timeline if e["type"] == "complaint"]


def test_satisfaction_by_staff_department_and_day_matches_a_recount_and_is_for_who_may_see_it(
        as_user: Any, api: Any, stream_pump: Any) -> None:
    """Three cases resolved by one agent, answered 5, 4 and 1 (NPS 10, 8, 3): the live counters (by staff, by
    department, by day) move by what a recount of the surveys on the customers' timelines says."""
    agent, manager = as_user("agent.jakarta"), as_user("manager.jakarta")
    path = "/analytics/satisfaction?branch=jakarta&by="

    def staff_row(body: dict[str, Any]) -> dict[str, Any]:
        return next((i for i in body["items"] if i["name"] == "agent.jakarta"), {
            "complaints_resolved": 0, "acknowledged_within_sla": 0, "resolved_within_sla": 0, "reopened": 0,
            "surveys_sent": 0, "surveys_answered": 0, "csat": {"distribution": {str(k): 0 for k in range(1, 6)}}})

    before, staff_before = manager.get(path + "department").json, staff_row(manager.get(path + "staff").json)
    scores = ((5, 10), (4, 8), (1, 3))
    customers = []
    for _ in scores:
        customer = agent.new_customer(branch_id="jakarta", preferred_channel="sms")
        c = _open(agent, customer["id"])
        c = _move(agent, c, status="acknowledged", assignee="someone.else").json
        c = _move(agent, c, status="in_progress").json
        resolved = _move(agent, c, status="resolved", resolution_note="Done")
        assert resolved.status_code == 200 and resolved.json["resolved_branch"] == "jakarta"
        customers.append(customer)
    stream_pump.drain(30)
    for customer, (csat, nps) in zip(customers, scores, strict=True):
        (message,) = _survey_messages(agent, customer["id"])
        assert _page(api, "POST", _token(message), {"csat": str(csat), "nps": str(nps)}).status_code == 200
    stream_pump.drain(30)

    # the recount: what the surveys themselves say
    answered = [s for c in customers for s in _surveys_on_timeline(agent, c["id"])]
    assert sorted((s["csat"], s["nps"], s["status"]) for s in answered) == [
        (1, 3, "answered"), (4, 8, "answered"), (5, 10, "answered")]
    distribution = {str(k): sum(s["csat"] == k for s in answered) for k in range(1, 6)}

    # the person who resolved them (not the assignee named in the case), with the CSAT of their work
    staff = manager.get(path + "staff").json
    mine = staff_row(staff)
    assert not [i for i in staff["items"] if i["key"] == "someone.else"]
    assert {k: mine[k] - staff_before[k] for k in ("complaints_resolved", "acknowledged_within_sla",
                                                     "resolved_within_sla", "reopened", "surveys_sent",
                                                     "surveys_answered")} == {
        "complaints_resolved": 3, "acknowledged_within_sla": 3, "resolved_within_sla": 3, "reopened": 0,
        "surveys_sent": 3, "surveys_answered": 3}
    assert {k: n - staff_before["csat"]["distribution"][k] for k, n in mine["csat"]["distribution"].items()} == \
        distribution
    assert mine["rank"] is None or mine["csat"]["answers"] >= 20  # ranked only from 20 answers

    after = manager.get(path + "department").json

    def service(body: dict[str, Any]) -> dict[str, Any]:
        return next((i for i in body["items"] if i["key"] == "service"), {
            "sent": 0, "answered": 0, "csat": {"distribution": {str(k): 0 for k in range(1, 6)}},
            "nps": {"promoters": 0, "passives": 0, "detractors": 0}})

    grown, was = service(after), service(before)
    assert (grown["sent"] - was["sent"], grown["answered"] - was["answered"]) == (3, 3)
    assert {k: grown["csat"]["distribution"][k] - was["csat"]["distribution"][k] for k in distribution} == distribution
    assert [grown["nps"][g] - was["nps"][g] for g in ("promoters", "passives", "detractors")] == [1, 1, 1]
    # what analysts see of performance: the department's resolved complaints, never a person's
    assert [grown.get(k, 0) - (was.get(k) or 0) for k in ("complaints_resolved", "acknowledged_within_sla",
                                                           "resolved_within_sla", "reopened")] == [3, 3, 3, 0]
    days = manager.get(path + "day").json
    assert sum(i["answered"] for i in days["items"]) == days["totals"]["answered"] == after["totals"]["answered"]

    # who may see what: analysts by department, never by person; agents nothing; managers their branch
    analyst = as_user("analyst")
    assert analyst.get(path + "department").status_code == 200
    denied = analyst.get(path + "staff")
    assert denied.status_code == 403 and denied.headers["Content-Type"] == "application/problem+json"
    assert agent.get(path + "day").status_code == 403
    assert as_user("manager.bandung").get(path + "staff").status_code == 403
    assert as_user("manager.jakarta").get("/analytics/satisfaction?by=staff").json["branch"] == "jakarta"
    assert as_user("admin").get("/analytics/satisfaction?by=staff").status_code == 200
    bad = manager.get("/analytics/satisfaction?by=person")
    assert bad.status_code == 400


def test_the_console_marks_a_low_answer_in_the_queue_shows_answers_on_the_360_and_satisfaction_on_the_dashboard(
        as_user: Any, api: Any, token: Any, stream_pump: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta", preferred_channel="sms")
    _resolved(agent, customer["id"])
    stream_pump.drain(30)
    (message,) = _survey_messages(agent, customer["id"])
    assert _page(api, "POST", _token(message), {"csat": "1", "comment": "rude on the phone"}).status_code == 200
    stream_pump.drain(30)
    from chalicelib.workflows import surveys

    survey_id = rules.follow_up_id(surveys.survey_of(_token(message)))

    def html(path: str, user: str) -> str:
        r = api.request("GET", path, headers={"HX-Request": "true", "Authorization": f"Bearer {token(user)}"})
        assert r.status_code == 200, (path, r.status_code)
        return r.body.decode() if isinstance(r.body, bytes) else str(r.body)

    rows = html("/console/complaints/rows?department=customer_care&branch=jakarta", "manager.jakarta")
    row = rows[rows.index(f'id="row-{survey_id}"'):]
    assert 'class="badge low-survey"' in row[:row.index("</tr>")]
    page = html(f"/console/customers/{customer['id']}", "agent.jakarta")
    assert "CSAT 1/5" in page and "rude on the phone" in page and 'class="entry survey low"' in page
    answers = page[page.index('id="survey-answers"'):]
    assert "CSAT 1/5" in answers[:answers.index("</section>")]  # the last answers, whatever the timeline shows
    board = html("/console/dashboard?branch=jakarta", "manager.jakarta")
    assert "satisfaction-totals" in board and 'class="staff"' in board and "agent.jakarta" in board
    analyst = html("/console/dashboard", "analyst")
    assert "satisfaction-totals" in analyst and 'class="staff"' not in analyst  # departments, never people


def test_a_survey_in_the_quiet_hours_waits_for_their_end_once(
        as_user: Any, stream_pump: Any, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QUIET_HOURS around now: the survey is created, its message claimed `pending` and handed to the reminders
    state machine (named after its claim: a redelivered record starts nothing more)."""
    import hashlib
    import json

    import boto3

    from chalicelib.persistence import complaints as complaints_repo
    from chalicelib.persistence import customers
    from chalicelib.workflows import surveys
    from chalicelib.workflows.executions import execution_arn
    from tests.conftest import quiet_hours_now

    with quiet_hours_now(monkeypatch):
        agent = as_user("agent.jakarta")
        customer = agent.new_customer(branch_id="jakarta", preferred_channel="sms")
        case = _resolved(agent, customer["id"])
        stream_pump.drain(30)
        profile = customers.get(customer["id"])
        assert profile is not None
        again = surveys.ask(profile, surveys.asked_about("complaint", complaints_repo.get(case["id"], consistent=True)))
    assert again == "duplicate"
    (waiting,) = _survey_messages(agent, customer["id"])
    assert waiting["delivery"] == "pending" and "/s/" in waiting["summary"]
    (entry,) = _surveys_on_timeline(agent, customer["id"])
    assert entry["status"] == "sent" and entry["subject_id"] == case["id"]
    name = "later-" + hashlib.sha256(f"survey#complaint#{case['id']}".encode()).hexdigest()[:40]
    execution = boto3.client("stepfunctions").describe_execution(
        executionArn=execution_arn(stack["REMINDER_STATE_MACHINE_ARN"], name))
    assert len(json.loads(execution["input"])["items"]) == 1 and customer["phone"] not in execution["input"]


def test_two_subjects_finishing_at_once_survey_the_customer_once(as_user: Any, catalog: Any, stream_pump: Any) -> None:
    """Two orders delivered at the same moment race for the customer's week: the cap item's version lets one
    survey through; the other is capped, and nothing is sent twice."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.persistence import customers
    from chalicelib.persistence import orders as orders_repo
    from chalicelib.workflows import surveys

    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta", preferred_channel="sms")
    placed = [_order(agent, customer["id"], notify_customer=False).json for _ in range(2)]  # no stream survey
    profile = customers.get(customer["id"])
    assert profile is not None
    delivered = [orders_repo.get(o["id"]) for o in placed]
    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda o: surveys.ask(profile, surveys.asked_about("order", o)), delivered))
    assert outcomes == ["capped", "sent"]
    assert len(_survey_messages(agent, customer["id"])) == 1
    assert len(_surveys_on_timeline(agent, customer["id"])) == 1
