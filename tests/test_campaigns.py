"""Campaigns through the API as a marketing team uses them, sent by the real state machine on the local stack
(moto's Step Functions calling the campaign-sender function): who is reached and who not, the outbox, the
report, the opt-out link, the frequency cap across campaigns, the send window, failures that pause."""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from chalicelib.domain import campaigns as rules
from chalicelib.domain import engagement as eng
from infra import outbox, receipts, sns_delivery
from tests.test_engagement import engagement_of

JAKARTA = ZoneInfo("Asia/Jakarta")
ASSIGNMENT_KEY = "relasi-assignment-v1"
LINK = re.compile(r"/u/([A-Za-z0-9_-]{39})")


def _bucket(*parts: str) -> int:
    """The assignment recomputed here, as an analyst would from the export (sha256 of key|parts)."""
    return int(hashlib.sha256("|".join((ASSIGNMENT_KEY, *parts)).encode()).hexdigest()[:8], 16) % 10000


def _aws_port(stack: dict[str, str]) -> int:
    return int(os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])


def _stop_list(stack: dict[str, str], phone: str) -> None:
    """The number replied STOP (what the inbound SMS handler records)."""
    boto3.client("dynamodb").put_item(TableName=stack["TABLE_NAME"], Item={
        "pk": {"S": f"OPTOUT#{phone}"}, "sk": {"S": "SMS"}, "type": {"S": "sms_opt_out"},
        "at": {"S": "2026-12-01T00:00:00.000Z"}, "source": {"S": "sms_reply"}})


def _people(agent: Any, tag: str, n: int, *, consent_every: int | None = 4) -> list[dict[str, Any]]:
    """n customers of bandung with `tag`; every `consent_every`-th (from the first) has not consented to SMS
    marketing (None: everyone has)."""
    made = []
    for i in range(n):
        consent = {"sms_marketing": {"value": consent_every is None or i % consent_every != 0,
                                     "source": "signup_form"}}
        made.append(agent.new_customer(branch_id="bandung", tags=[tag], name=f"Sari {tag[-4:]} {i}",
                                       consent=consent, language="en" if i % 3 == 0 else "id"))
    return made


def _campaign(caller: Any, tag: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"Promo {tag}", "channel": "sms", "purpose": "promotion", "audience": {"tags_any": [tag]},
            "messages": {"id": "Halo {first_name}, servis hemat 20% di {branch_name} minggu ini.",
                         "en": "Hi {first_name}, 20% off service at {branch_name} this week."}, **fields}
    r = caller.post("/campaigns", body)
    assert r.status_code == 201, r.body
    return dict(r.json)


def _wait_status(caller: Any, campaign_id: str, status: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        got = caller.get(f"/campaigns/{campaign_id}").json
        if got["status"] == status:
            return dict(got)
        assert time.monotonic() < deadline, got
        time.sleep(0.3)


def _texts_to(stack: dict[str, str], phones: set[str], since: int) -> list[dict[str, Any]]:
    masked = {outbox.mask(p) for p in phones}
    return [m for m in outbox.fetch(_aws_port(stack), channel="sms")[since:] if m["recipient"] in masked]


def _schedule(caller: Any, c: dict[str, Any]) -> Any:
    return caller.post(f"/campaigns/{c['id']}/schedule", headers={"If-Match": f'"v{c["version"]}"'})


def test_writing_a_campaign_checks_audience_texts_and_roles(as_user: Any) -> None:
    marketing, agent, analyst = as_user("marketing"), as_user("agent.bandung"), as_user("analyst")
    tag = f"cmp{uuid.uuid4().hex[:8]}"
    c = _campaign(marketing, tag, audience={"branch_in": ["bandung", "surabaya"], "stage_in": ["customer"]})
    assert c["status"] == "draft" and c["number"] >= 1 and c["variants"][0]["share"] == 100
    unknown = marketing.post("/campaigns", {**_body(tag), "audience": {"branch_in": ["atlantis"], "colour": "red"}})
    assert unknown.status_code == 400
    fields = {e["field"]: e["message"] for e in unknown.json["errors"]}
    assert "atlantis" in fields["audience.branch_in"] and "unknown condition" in fields["audience.colour"]
    emoji = marketing.post("/campaigns", {**_body(tag), "messages": {"id": "Promo 🎉 hari ini", "en": "Promo today"}})
    assert emoji.status_code == 422 and "U+1F389" in emoji.json["errors"][0]["message"]
    long = marketing.post("/campaigns", {**_body(tag), "messages": {"id": "x" * 120, "en": "ok"}})
    assert long.status_code == 422 and long.json["errors"][0]["field"] == "messages.id"
    assert "SMS part" in long.json["errors"][0]["message"]
    informational = marketing.post("/campaigns", {**_body(tag), "purpose": "informational"})
    assert informational.status_code == 422 and informational.json["errors"][0]["field"] == "purpose"
    assert agent.post("/campaigns", _body(tag)).status_code == 403
    assert analyst.get("/campaigns").status_code == 403
    # only a draft changes, with If-Match
    stale = marketing.patch(f"/campaigns/{c['id']}", {"name": "Renamed"}, headers={"If-Match": '"v9"'})
    assert stale.status_code == 412
    renamed = marketing.patch(f"/campaigns/{c['id']}", {"name": "Renamed"}, headers={"If-Match": '"v1"'})
    assert renamed.status_code == 200 and renamed.json["name"] == "Renamed" and renamed.headers["ETag"] == '"v2"'
    cancelled = marketing.post(f"/campaigns/{c['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    again = marketing.post(f"/campaigns/{c['id']}/schedule")
    assert again.status_code == 409 and "allowed: none" in again.json["detail"]
    assert marketing.patch(f"/campaigns/{c['id']}", {"name": "x"}, headers={"If-Match": '"v3"'}).status_code == 409


def _body(tag: str) -> dict[str, Any]:
    return {"name": "x", "channel": "sms", "purpose": "promotion", "audience": {"tags_any": [tag]},
            "messages": {"id": "Halo {first_name}", "en": "Hi {first_name}"}}


def test_a_campaign_reaches_exactly_who_may_hear_it_and_its_report_reconciles(as_user: Any, stack: dict[str, str],
                                                                              stream_pump: Any) -> None:
    marketing, agent, manager = as_user("marketing"), as_user("agent.bandung"), as_user("manager.jakarta")
    tag = f"cmp{uuid.uuid4().hex[:8]}"
    people = _people(agent, tag, 40)
    _stop_list(stack, people[1]["phone"])
    c = _campaign(marketing, tag, holdout_pct=20)
    # What must happen, computed here from the people and the assignment's published rule.
    expected: Counter[str] = Counter()
    to_send: set[str] = set()
    for i, p in enumerate(people):
        if i % 4 == 0:
            expected["no_consent"] += 1
        elif i == 1:
            expected["opted_out"] += 1
        elif _bucket("control", p["id"]) < 500:
            expected["global_control"] += 1
        elif _bucket("holdout", c["id"], p["id"]) < 2000:
            expected["holdout"] += 1
        else:
            to_send.add(p["phone"])
    preview = marketing.post(f"/campaigns/{c['id']}/preview")
    assert preview.status_code == 200, preview.body
    p = preview.json
    assert p["matched"] == 40 and p["to_send"] == len(to_send)
    assert p["eligible"] == 40 - expected["no_consent"] - expected["opted_out"]
    assert {k: v for k, v in p["excluded"].items() if v} == {k: v for k, v in expected.items() if v}
    assert p["parts_per_message"] == 1 and p["estimated_parts"] == len(to_send)
    assert p["estimated_cost"] == 350 * len(to_send) and len(p["sample"]) == min(20, len(to_send))
    assert all(s["address"].startswith("•") and s["address"][-4:].isdigit() for s in p["sample"])
    assert manager.post(f"/campaigns/{c['id']}/preview").status_code == 403

    since = len(outbox.fetch(_aws_port(stack), channel="sms"))
    scheduled = _schedule(marketing, c)
    assert scheduled.status_code == 200 and scheduled.json["status"] == "scheduled", scheduled.body
    assert _schedule(marketing, scheduled.json).status_code == 409  # a double schedule starts nothing more
    _wait_status(marketing, c["id"], "completed")
    sent = _texts_to(stack, {x["phone"] for x in people}, since)
    assert sorted(outbox.mask(x) for x in to_send) == sorted(m["recipient"] for m in sent)
    for m in sent:
        assert LINK.search(m["text"]) and rules.sms_parts(m["text"]) == 1
        assert m["text"].startswith(("Halo Sari,", "Hi Sari,")) and "Bandung" in m["text"]
    per_second = Counter(m["at"][:19] for m in sent)
    assert max(per_second.values()) <= 10, per_second

    # The receipts (simulated, as infra/receipts.py would have them) have come in by the report.
    receipts.wait_for_receipts()
    sns_delivery.wait_for_deliveries()
    outcomes = Counter(receipts.sms_outcome(f"{c['id']}|{x['id']}") for x in people
                       if outbox.mask(x["phone"]) in {m["recipient"] for m in sent})
    report = marketing.get(f"/campaigns/{c['id']}/report").json
    assert report["matched"] == 40 and report["sent"] == report["accepted"] == len(to_send)
    assert report["delivered"] == outcomes["TEXT_DELIVERED"] and report["awaiting_receipt"] == outcomes[None]
    assert report["undelivered"] == len(to_send) - outcomes["TEXT_DELIVERED"] - outcomes[None]
    assert sum(report["undelivered_by_code"].values()) == report["undelivered"]
    assert report["matched"] == report["eligible"] + sum(report["excluded"].values())
    assert report["eligible"] == report["holdout"] + report["control"] + report["sent"] + report["capped"] \
        + report["withdrawn"]
    assert report["holdout"] == expected["holdout"] and report["control"] == expected["global_control"]
    assert report["parts"] == len(to_send) and report["cost"] == 350 * len(to_send)
    assert report["by_branch"]["bandung"]["sent"] == len(to_send) and report["queued"] == 0
    mine = manager.get(f"/campaigns/{c['id']}/report")
    assert mine.status_code == 200 and mine.json["matched"] == 0 and mine.json["by_branch"] == {}
    # What serving them cost: each message sent is on its customer's engagement item (what profitability counts)
    stream_pump.drain()
    for person in people:
        kept = engagement_of(person["id"])
        messages = [eng.message_of(v) for v in (kept.messages if kept else ())]
        expected_messages = [("bandung", "sms", 1, f"campaign:{c['id']}")] if person["phone"] in to_send else []
        assert [(m.branch_id, m.channel, m.parts, m.ref) for m in messages] == expected_messages, person["id"]

    # The opt-out link: opening it changes nothing; its button withdraws consent, once; a forged one is 404.
    text = sent[0]["text"]
    token = LINK.search(text).group(1)  # type: ignore[union-attr]
    owner = next(x for x in people if outbox.mask(x["phone"]) == sent[0]["recipient"])
    from app import app
    from infra.gateway import test_client

    http = test_client(app, ".").http
    page = http.get(f"/u/{token}")
    assert page.status_code == 200 and b"opt-out-confirm" in page.body
    profile = agent.get(f"/customers/{owner['id']}").json
    assert profile["consent"]["sms_marketing"]["value"] is True and profile["version"] == owner["version"]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert http.get(f"/u/{forged}").status_code == 404 and http.post(f"/u/{forged}").status_code == 404
    done = http.post(f"/u/{token}", headers={"Content-Type": "application/x-www-form-urlencoded"},
                     body=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200 and b"opt-out-done" in done.body
    assert http.post(f"/u/{token}").status_code == 200
    withdrawn = agent.get(f"/customers/{owner['id']}").json["consent"]["sms_marketing"]
    assert withdrawn["value"] is False and withdrawn["source"] == f"unsubscribe_link:{c['id']}"
    shown = [e for e in agent.get(f"/customers/{owner['id']}/timeline").json["items"]
             if e["type"] == "campaign_message"]
    receipt = receipts.sms_outcome(f"{c['id']}|{owner['id']}")
    assert [(e["campaign_id"], e["status"]) for e in shown] == [
        (c["id"], {"TEXT_DELIVERED": "delivered", None: "accepted"}.get(receipt, "undelivered"))]
    assert shown[0]["opted_out_at"]
    unsent = next(x for x in people if outbox.mask(x["phone"]) not in {m["recipient"] for m in sent})
    assert not [e for e in agent.get(f"/customers/{unsent['id']}/timeline").json["items"]
                if e["type"] == "campaign_message"]  # a holdout, control or excluded row is not on the timeline
    assert marketing.get(f"/campaigns/{c['id']}/report").json["opted_out"] == 1
    # ... and the next campaign leaves them out.
    nxt = _campaign(marketing, tag)
    assert marketing.post(f"/campaigns/{nxt['id']}/preview").json["excluded"]["no_consent"] == \
        expected["no_consent"] + 1


def test_two_campaigns_in_the_same_minute_over_the_same_people_respect_a_cap_of_one_a_day(
        as_user: Any, stack: dict[str, str]) -> None:
    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    tag = f"cmp{uuid.uuid4().hex[:8]}"
    people = _people(agent, tag, 300, consent_every=None)  # everyone consents
    reachable = {p["phone"] for p in people if _bucket("control", p["id"]) >= 500}
    first, second = (_campaign(marketing, tag, holdout_pct=0) for _ in range(2))
    since = len(outbox.fetch(_aws_port(stack), channel="sms"))
    assert _schedule(marketing, first).status_code == 200
    assert _schedule(marketing, second).status_code == 200
    _wait_status(marketing, first["id"], "completed", timeout_s=240)
    _wait_status(marketing, second["id"], "completed", timeout_s=240)
    sent = _texts_to(stack, reachable, since)
    reports = [marketing.get(f"/campaigns/{c['id']}/report").json for c in (first, second)]
    assert len(sent) == len(reachable) and len({m["recipient"] for m in sent}) == len(reachable)
    assert sum(r["sent"] for r in reports) == len(reachable)
    assert sum(r["capped"] for r in reports) == len(reachable)
    per_second = Counter(m["at"][:19] for m in sent)
    assert max(per_second.values()) <= 10, per_second  # both campaigns share the rate


def test_the_sender_stops_at_the_window_and_resumes_on_monday_sending_nothing_twice(
        as_user: Any, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Time-scaled: the sender's clock runs a minute per message from Saturday 17:50 local."""
    from chalicelib.persistence import campaigns as repo
    from chalicelib.workflows import campaigns as sending

    monkeypatch.setenv("CAMPAIGN_SEND_DAYS", "1-6")
    monkeypatch.setenv("CAMPAIGN_SEND_HOURS", "8-18")
    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    tag = f"cmp{uuid.uuid4().hex[:8]}"
    people = _people(agent, tag, 30, consent_every=None)
    c = _campaign(marketing, tag, holdout_pct=0)
    campaign = repo.get(c["id"])
    assert campaign is not None
    repo.save(rules.transition(campaign, "scheduled", "2026-12-05T10:49:00.000Z"), expected_version=1)
    clock = {"now": datetime(2026, 12, 5, 17, 50, tzinfo=JAKARTA)}  # a Saturday

    def tick() -> datetime:
        moment = clock["now"]
        clock["now"] = moment + timedelta(minutes=1)
        return moment.astimezone(UTC)

    monkeypatch.setattr(sending, "utcnow", tick)
    since = len(outbox.fetch(_aws_port(stack), channel="sms"))
    state: dict[str, Any] = {"campaign_id": c["id"], "function": "x", "send_at": "", "phase": "start", "source": 0,
                             "cursor": None}
    for _ in range(20):
        state = sending.step(state)
        if state["next"] == "wait":
            break
    assert state["next"] == "wait" and state["until"] == "2026-12-07T01:00:00.000Z"  # Monday 08:00 local
    before_close = _texts_to(stack, {p["phone"] for p in people}, since)
    assert 0 < len(before_close) < 30
    assert all(m["at"] for m in before_close)
    clock["now"] = datetime(2026, 12, 7, 8, 0, tzinfo=JAKARTA)
    for _ in range(20):
        state = sending.step(state)
        if state["next"] in ("done", "stop"):
            break
    assert state["next"] == "done"
    sent = _texts_to(stack, {p["phone"] for p in people}, since)
    reachable = {outbox.mask(p["phone"]) for p in people if _bucket("control", p["id"]) >= 500}
    assert sorted(m["recipient"] for m in sent) == sorted(reachable)  # each once
    again = sending.step({**state, "phase": "start", "cursor": None})  # a second execution, after the end
    assert again["next"] == "stop" and len(_texts_to(stack, {p["phone"] for p in people}, since)) == len(sent)


def test_failing_sends_pause_the_campaign_and_resume_sends_nothing_twice(
        as_user: Any, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Failures injected at the AWS boundary: the (local) SMS service refuses a third of the numbers."""
    from infra import sms_v2

    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    tag = f"cmp{uuid.uuid4().hex[:8]}"
    people = _people(agent, tag, 60, consent_every=None)
    failing = {p["phone"] for i, p in enumerate(people) if i % 3 == 0}
    original = sms_v2.send_text_message

    def send_text_message(params: dict[str, Any], region: str) -> tuple[str | None, str | None]:
        if params.get("DestinationPhoneNumber") in failing:
            return None, "the operator rejected the number"
        return original(params, region)

    monkeypatch.setattr(sms_v2, "send_text_message", send_text_message)
    c = _campaign(marketing, tag, holdout_pct=0)
    since = len(outbox.fetch(_aws_port(stack), channel="sms"))
    assert _schedule(marketing, c).status_code == 200
    paused = _wait_status(marketing, c["id"], "paused")
    assert paused["paused_reason"] == "failures"
    deadline = time.monotonic() + 30  # the sender tells ops right after the pause it saved
    while not [m for m in outbox.fetch(_aws_port(stack), channel="ops") if c["id"] in m["text"]]:
        assert time.monotonic() < deadline, "no alert to ops"
        time.sleep(0.2)
    time.sleep(0.5)  # a second alert would come as quickly: there is none
    assert len([m for m in outbox.fetch(_aws_port(stack), channel="ops") if c["id"] in m["text"]]) == 1
    report = marketing.get(f"/campaigns/{c['id']}/report").json
    assert report["failed"] >= 1 and set(report["failed_by_code"]) == {"ValidationException"}
    first_pass = _texts_to(stack, {p["phone"] for p in people}, since)
    monkeypatch.setattr(sms_v2, "send_text_message", original)  # the cause is fixed
    resumed = marketing.post(f"/campaigns/{c['id']}/resume", headers={"If-Match": f'"v{paused["version"]}"'})
    assert resumed.status_code == 200, resumed.body
    _wait_status(marketing, c["id"], "completed")
    sent = _texts_to(stack, {p["phone"] for p in people}, since)
    assert len({m["recipient"] for m in sent}) == len(sent)  # nobody twice
    assert set(m["id"] for m in first_pass) <= set(m["id"] for m in sent)
    final = marketing.get(f"/campaigns/{c['id']}/report").json
    reachable = sum(1 for p in people if _bucket("control", p["id"]) >= 500)
    assert final["sent"] == reachable and final["accepted"] + final["failed"] == final["sent"]


def _fixed(marketing: Any, agent: Any, n: int = 12) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """A scheduled campaign to n consenting people whose audience the sender's steps (in this process) fixed."""
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.persistence import campaigns as repo
    from chalicelib.workflows import campaigns as sending

    tag = f"cmp{uuid.uuid4().hex[:8]}"
    people = _people(agent, tag, n, consent_every=None)
    c = _campaign(marketing, tag, holdout_pct=0)
    made = repo.get(c["id"])
    assert made is not None
    repo.save(rules.transition(made, "scheduled", iso(utcnow())), expected_version=made.version)
    state: dict[str, Any] = {"campaign_id": c["id"], "function": "x", "send_at": "", "phase": "start", "source": 0,
                             "cursor": None}
    while state["phase"] != "send":
        state = sending.step(state, deadline_s=0)
    return c, people, state


def test_a_paused_campaign_keeps_its_audience_and_a_late_snapshot_step_rewrites_nothing(
        as_user: Any, stack: dict[str, str]) -> None:
    from chalicelib.persistence import campaigns as repo
    from chalicelib.workflows import campaigns as sending

    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    c, people, state = _fixed(marketing, agent)
    state = sending.step(state)
    assert state["next"] == "done"
    # handed over: accepted, or already moved on by a simulated receipt (infra/receipts.py, on its own timer)
    handed_over = {"accepted", "delivered", "undelivered"}
    sent = repo.recipients_of(c["id"], [p["id"] for p in people])
    accepted = {k for k, r in sent.items() if r.status in handed_over}
    assert accepted
    # a step of the snapshot that comes again (a retry, an execution that outran a resume) writes no row
    again = sending.step({**state, "phase": "snapshot", "cursor": None, "source": 0})
    assert again["next"] == "stop"  # completed: nothing to do
    assert {k for k, r in repo.recipients_of(c["id"], accepted).items() if r.status in handed_over} == accepted
    assert marketing.get(f"/campaigns/{c['id']}/report").json["matched"] == len(people)


def test_a_pause_stops_the_very_next_claim_and_a_resume_goes_on_without_a_new_audience(
        as_user: Any, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.persistence import campaigns as repo
    from chalicelib.workflows import campaigns as sending

    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    c, people, state = _fixed(marketing, agent)
    original = sending._deliver
    paused: list[int] = []

    def deliver_then_pause(*args: Any) -> str:
        outcome = original(*args)
        if not paused:  # staff press pause while the step is sending
            current = marketing.get(f"/campaigns/{c['id']}").json
            r = marketing.post(f"/campaigns/{c['id']}/pause", headers={"If-Match": f'"v{current["version"]}"'})
            assert r.status_code == 200, r.body
            paused.append(1)
        return outcome

    monkeypatch.setattr(sending, "_deliver", deliver_then_pause)
    stopped = sending.step(state)
    assert stopped["next"] == "stop"
    rows = repo.recipients_of(c["id"], [p["id"] for p in people])
    assert sum(r.status in rules.SENT_STATUSES for r in rows.values()) == 1  # nothing claimed after the pause
    campaign = repo.get(c["id"])
    assert campaign is not None and campaign.status == "paused" and campaign.audience_fixed
    monkeypatch.setattr(sending, "_deliver", original)
    resumed = marketing.post(f"/campaigns/{c['id']}/resume", headers={"If-Match": f'"v{campaign.version}"'})
    assert resumed.status_code == 200
    _wait_status(marketing, c["id"], "completed")
    rows = repo.recipients_of(c["id"], [p["id"] for p in people])
    report = marketing.get(f"/campaigns/{c['id']}/report").json
    assert report["matched"] == len(people) \
        and report["sent"] == sum(r.status in rules.SENT_STATUSES for r in rows.values())
    assert report["sent"] + report["control"] == len(people)


def test_erasing_a_recipient_keeps_the_reports_numbers_and_takes_the_person_out(
        as_user: Any, stack: dict[str, str]) -> None:
    from chalicelib.persistence import campaigns as repo
    from chalicelib.workflows import campaigns as sending

    marketing, agent, admin = as_user("marketing"), as_user("agent.bandung"), as_user("admin")
    c, people, state = _fixed(marketing, agent, 6)
    assert sending.step(state)["next"] == "done"
    before = marketing.get(f"/campaigns/{c['id']}/report").json
    gone = next(p for p in people if repo.get_recipient(c["id"], p["id"]) is not None)
    assert admin.delete(f"/customers/{gone['id']}").status_code == 204
    assert repo.get_recipient(c["id"], gone["id"]) is None
    after = marketing.get(f"/campaigns/{c['id']}/report").json
    assert {k: after[k] for k in ("matched", "sent", "control", "parts")} == {
        k: before[k] for k in ("matched", "sent", "control", "parts")}
    items = boto3.client("dynamodb").query(
        TableName=stack["TABLE_NAME"], KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CAMP#{c['id']}"}})["Items"]
    detached = [i for i in items if i["sk"]["S"].startswith("ERASED#")]
    assert len(detached) == 1 and gone["id"] not in str(detached) and "tl_pk" not in detached[0]


def test_a_schedule_whose_execution_cannot_start_leaves_a_draft_that_schedules_again(
        as_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.workflows import campaigns as sending

    marketing = as_user("marketing")
    c = _campaign(marketing, f"cmp{uuid.uuid4().hex[:8]}")

    def unavailable(campaign: Any) -> str:
        raise RuntimeError("Step Functions is down")

    monkeypatch.setattr(sending, "start", unavailable)
    refused = _schedule(marketing, c)
    assert refused.status_code == 503 and refused.headers["Content-Type"] == "application/problem+json"
    after = marketing.get(f"/campaigns/{c['id']}").json
    assert after["status"] == "draft"
    monkeypatch.undo()
    assert _schedule(marketing, after).json["status"] == "scheduled"


def test_audiences_by_the_latest_exports_segments_purchases_and_last_contact(
        as_user: Any, stack: dict[str, str]) -> None:
    """The nightly export leaves each customer's facts (RFM segment, churn band, categories bought, last order
    and interaction) for campaign audiences; preview and sending read them (one item per profile matched)."""
    from chalicelib.persistence import campaigns as repo
    from tests.test_analytics_export import export, today

    marketing, agent, admin = as_user("marketing"), as_user("agent.bandung"), as_user("admin")
    tag = f"fct{uuid.uuid4().hex[:8]}"
    people = _people(agent, tag, 6, consent_every=None)
    export(admin, today())
    facts = repo.audience_facts_of([p["id"] for p in people])
    assert set(facts) == {p["id"] for p in people}
    for f in facts.values():  # new customers: no order, no category, an interaction-less segment
        assert f.as_of == today().isoformat() and f.categories == () and f.last_order_on is None
        assert f.rfm_segment in rules.RFM_SEGMENTS and f.churn_band in rules.CHURN_BANDS
    stored = boto3.client("dynamodb").get_item(TableName=stack["TABLE_NAME"], Key={
        "pk": {"S": f"C#{people[0]['id']}"}, "sk": {"S": "V#FACTS"}})["Item"]
    expires = datetime.fromtimestamp(int(stored["expires_at"]["N"]), UTC)
    assert expires.date() == today() + timedelta(days=3) and (expires.hour, expires.minute) == (0, 0)  # TTL
    # One of them bought a vehicle last spring (as a later export would have found): only they match it.
    buyer = people[0]["id"]
    repo.put_audience_facts({buyer: rules.AudienceFacts(
        as_of=today().isoformat(), rfm_segment="cant_lose", churn_band="high", last_interaction_on="2026-03-02",
        last_order_on="2026-03-01", categories=("vehicle",))})

    def matched(**conditions: Any) -> int:
        c = _campaign(marketing, tag, audience={"tags_any": [tag], **conditions})
        answer = marketing.post(f"/campaigns/{c['id']}/preview")
        assert answer.status_code == 200, answer.body
        return int(answer.json["matched"])

    assert matched(bought_category_in=["vehicle"]) == 1
    assert matched(not_bought_category_in=["vehicle"]) == 5
    assert matched(rfm_segment_in=["cant_lose"], churn_band_in=["high"]) == 1 + sum(
        f.rfm_segment == "cant_lose" and f.churn_band == "high" for k, f in facts.items() if k != buyer)
    assert matched(last_order_before="2026-04-01", last_interaction_before="2026-04-01") == 1
    assert matched(last_order_before="2026-03-01") == 0
    bad = marketing.post("/campaigns", {**_body(tag), "audience": {"churn_band_in": ["extreme"]}})
    assert bad.status_code == 400 and "extreme" in bad.json["errors"][0]["message"]


def test_a_large_audience_is_previewed_in_the_background_and_scheduled_by_that_preview(
        as_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above CAMPAIGN_PREVIEW_SYNC_CUSTOMERS customers to read, POST .../preview answers 202 and the campaign
    sender computes it (GET .../preview: 202, then 200); it equals what a request would have computed, belongs to
    one version of the campaign, and is what scheduling judges by."""
    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    tag = f"bgp{uuid.uuid4().hex[:8]}"
    _people(agent, tag, 8)
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()  # scheduled stays scheduled: sending moves it on
    c = _campaign(marketing, tag, audience={"branch_in": ["bandung"], "tags_any": [tag]}, send_at=later)
    at_once = marketing.post(f"/campaigns/{c['id']}/preview")
    assert at_once.status_code == 200
    monkeypatch.setenv("CAMPAIGN_PREVIEW_SYNC_CUSTOMERS", "1")  # bandung has more customers than that
    assert marketing.get(f"/campaigns/{c['id']}/preview").status_code == 404  # none asked for yet
    refused = _schedule(marketing, c)
    assert refused.status_code == 409 and refused.json["reason"] == "preview_required", refused.body
    started = marketing.post(f"/campaigns/{c['id']}/preview")
    assert started.status_code == 202 and started.headers["Location"] == f"/campaigns/{c['id']}/preview"
    assert started.json["status"] == "running" and started.json["campaign_version"] == c["version"]
    deadline = time.monotonic() + 60
    while (done := marketing.get(f"/campaigns/{c['id']}/preview")).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert done.status_code == 200, done.body
    assert done.json == at_once.json  # the same decisions as at once (nothing changed meanwhile)
    scheduled = _schedule(marketing, c)
    assert scheduled.status_code == 200 and scheduled.json["estimated_recipients"] == done.json["to_send"]
    cancelled = marketing.post(f"/campaigns/{c['id']}/cancel", headers={"If-Match": scheduled.headers["ETag"]})
    assert cancelled.status_code == 200
    # A preview belongs to its version: a changed campaign has none until asked again.
    other = _campaign(marketing, tag)
    assert marketing.post(f"/campaigns/{other['id']}/preview").status_code == 202
    changed = marketing.patch(f"/campaigns/{other['id']}", {"holdout_pct": 20},
                              headers={"If-Match": f'"v{other["version"]}"'})
    assert changed.status_code == 200
    assert marketing.get(f"/campaigns/{other['id']}/preview").status_code == 404


def test_the_sms_budget_counts_what_scheduled_campaigns_will_still_spend(
        as_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each campaign fits the month's budget alone, not both: the second schedule is refused (409 over_budget)
    while the first is scheduled, and fits once the first is cancelled."""
    from chalicelib.persistence import campaigns as repo
    from chalicelib.services import campaigns as service

    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    tag = f"bdg{uuid.uuid4().hex[:8]}"
    _people(agent, tag, 10, consent_every=None)
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    first, second = (_campaign(marketing, tag, holdout_pct=0, send_at=later) for _ in range(2))
    cost = marketing.post(f"/campaigns/{first['id']}/preview").json["estimated_cost"]
    assert cost > 0 and marketing.post(f"/campaigns/{second['id']}/preview").json["estimated_cost"] == cost
    month = datetime.now(ZoneInfo("Asia/Jakarta")).strftime("%Y-%m")
    spent, others = repo.month_spend(f"SPEND#sms#{month}"), service._committed_sms_cost(first["id"])
    monkeypatch.setenv("SMS_MONTHLY_BUDGET_IDR", str(spent + others + 2 * cost - 1))
    scheduled = _schedule(marketing, first)
    assert scheduled.status_code == 200, scheduled.body
    refused = _schedule(marketing, second)
    assert refused.status_code == 409 and refused.json["reason"] == "over_budget", refused.body
    assert refused.json["committed"] == others + cost and refused.json["budget_left"] == cost - 1
    assert marketing.get(f"/campaigns/{second['id']}").json["status"] == "draft"  # the refusal changed nothing
    cancelled = marketing.post(f"/campaigns/{first['id']}/cancel", headers={"If-Match": scheduled.headers["ETag"]})
    assert cancelled.status_code == 200
    fits = _schedule(marketing, second)
    assert fits.status_code == 200, fits.body
    assert marketing.post(f"/campaigns/{second['id']}/cancel", headers={"If-Match": fits.headers["ETag"]}
                          ).status_code == 200


def test_a_test_send_reaches_staff_members_own_addresses_only(as_user: Any, stack: dict[str, str]) -> None:
    """Test messages skip consent and the cap, so they go to numbers of the user pool's staff only (422 naming
    any other); each variant's text in each language, marked [TEST], nothing recorded against a customer."""
    from infra.demo import phone_of

    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    tag = f"tst{uuid.uuid4().hex[:8]}"
    c = _campaign(marketing, tag)
    stranger = agent.new_customer(branch_id="bandung")["phone"]
    refused = marketing.post(f"/campaigns/{c['id']}/test-send", {"addresses": [phone_of("marketing"), stranger]})
    assert refused.status_code == 422, refused.body
    assert [e["field"] for e in refused.json["errors"]] == ["addresses[1]"]
    since = len(outbox.fetch(_aws_port(stack), channel="sms"))
    sent = marketing.post(f"/campaigns/{c['id']}/test-send", {"addresses": [phone_of("marketing"),
                                                                             phone_of("admin")]})
    assert sent.status_code == 200 and sent.json == {"sent": 4, "addresses": 2}, sent.body
    texts = _texts_to(stack, {phone_of("marketing"), phone_of("admin"), stranger}, since)
    assert len(texts) == 4 and all(m["text"].startswith("[TEST] ") for m in texts)
    assert {m["recipient"] for m in texts} == {outbox.mask(phone_of("marketing")), outbox.mask(phone_of("admin"))}
