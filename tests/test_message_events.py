"""What the sending services report after they accepted a message: SMS receipts and SES deliveries, bounces
and complaints (chalicelib/domain/message_events.py, chalicelib/workflows/message_events.py), on the local
stack, where infra/sms_v2.py plays the SMS v2 API and infra/receipts.py simulates the events."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from chalicelib.domain import campaigns as rules
from chalicelib.domain.message_events import parse
from infra import receipts, sns_delivery
from infra.local_stack import REGION
from tests.test_campaigns import _wait_status


def _sent(marketing: Any, tag: str, **fields: Any) -> dict[str, Any]:
    """A campaign to the customers tagged `tag`, no holdout, scheduled now and sent; its receipts handled."""
    made = marketing.post("/campaigns", {
        "name": f"Receipts {tag}", "channel": "sms", "purpose": "promotion", "audience": {"tags_any": [tag]},
        "holdout_pct": 0, "messages": {"id": "Halo {first_name}, promo servis.", "en": "Hi {first_name}, promo."},
        **fields})
    assert made.status_code == 201, made.body
    c = dict(made.json)
    assert marketing.post(f"/campaigns/{c['id']}/schedule",
                          headers={"If-Match": f'"v{c["version"]}"'}).status_code == 200
    _wait_status(marketing, c["id"], "completed")
    _settled()
    return c


def _settled() -> None:
    receipts.wait_for_receipts()
    sns_delivery.wait_for_deliveries()


def test_the_events_are_read_as_the_services_write_them() -> None:
    sms = {"eventType": "TEXT_DELIVERED", "isFinal": True, "destinationPhoneNumber": "+6281200000001",
           "context": {"campaign": "C1", "customer": "K1"}}
    event = parse(json.dumps(sms))
    assert event is not None and (event.channel, event.outcome, event.code) == ("sms", "delivered", None)
    assert (event.campaign_id, event.customer_id) == ("C1", "K1")
    blocked = parse(json.dumps({**sms, "eventType": "TEXT_CARRIER_BLOCKED"}))
    assert blocked is not None and (blocked.outcome, blocked.code) == ("undelivered", "carrier_blocked")
    for not_final in ("TEXT_PENDING", "TEXT_QUEUED", "TEXT_SUCCESSFUL", "TEXT_UNKNOWN"):
        assert parse(json.dumps({**sms, "eventType": not_final})) is None
    mail = {"messageId": "m", "destination": ["x@example.com"], "tags": {"customer": ["K2"]}}
    hard = parse(json.dumps({"eventType": "Bounce", "mail": mail, "bounce": {"bounceType": "Permanent"}}))
    soft = parse(json.dumps({"eventType": "Bounce", "mail": mail, "bounce": {"bounceType": "Transient"}}))
    spam = parse(json.dumps({"notificationType": "Complaint", "mail": mail, "complaint": {}}))
    assert hard is not None and hard.code == "bounce_permanent" and hard.withdraws_email_consent
    assert soft is not None and soft.code == "bounce_transient" and not soft.withdraws_email_consent
    assert spam is not None and spam.outcome == "complained" and spam.withdraws_email_consent
    assert hard.customer_id == "K2" and hard.campaign_id is None
    for junk in ("", "not json", "[]", json.dumps({"eventType": 3}), json.dumps({"eventType": "Open"})):
        assert parse(junk) is None


def test_sms_receipts_move_each_recipient_once_and_the_report_reconciles(
        as_user: Any, stack: dict[str, str]) -> None:
    """Delivered, undelivered with the operator's code, or no receipt (awaiting, then unknown after 72 hours);
    a redelivered receipt changes nothing."""
    from chalicelib.persistence import campaigns as repo

    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    tag = f"rcp{uuid.uuid4().hex[:8]}"
    people = [agent.new_customer(branch_id="bandung", tags=[tag], name=f"Dewi {i}",
                                 consent={"sms_marketing": {"value": True, "source": "signup_form"}})
              for i in range(30)]
    c = _sent(marketing, tag)
    rows = repo.recipients_of(c["id"], [p["id"] for p in people])
    sent = [r for r in rows.values() if r.arm == "send"]
    assert sent
    expected = Counter({"TEXT_DELIVERED": "delivered", None: "accepted"}.get(
        receipts.sms_outcome(f"{c['id']}|{r.customer_id}"), "undelivered") for r in sent)
    assert Counter(r.status for r in sent) == expected
    for r in sent:
        if r.status == "undelivered":
            assert r.error_code in {"blocked", "carrier_unreachable", "ttl_expired"} and r.final_at
    report = marketing.get(f"/campaigns/{c['id']}/report").json
    assert report["delivered"] == expected["delivered"] and report["undelivered"] == expected["undelivered"]
    assert report["awaiting_receipt"] == expected["accepted"] and report["unknown"] == 0
    assert report["accepted"] == len(sent) == report["delivered"] + report["undelivered"] \
        + report["awaiting_receipt"]
    assert report["by_branch"]["bandung"]["delivered"] == expected["delivered"]
    # 72 hours on, those with no receipt are `unknown` (counted per hour of acceptance: a.<hour> less r.<hour>)
    counted, _ = repo.counts(c["id"])
    later = datetime.now(UTC) + timedelta(hours=74)
    assert rules.unknown_receipts(counted, later) == expected["accepted"]
    assert rules.unknown_receipts({k[len("b.bandung."):]: v for k, v in counted.items()
                                   if k.startswith("b.bandung.")}, later) == expected["accepted"]

    # SNS delivers at least once: the same receipt again changes no row and no counter.
    delivered = next(r for r in sent if r.status == "delivered")
    topic = f"arn:aws:sns:{REGION}:123456789012:relasi-{stack['STAGE']}-message-events"
    again = {"eventType": "TEXT_DELIVERED", "isFinal": True, "messageId": "again",
             "context": {"campaign": c["id"], "customer": delivered.customer_id}}
    late_failure = {**again, "eventType": "TEXT_BLOCKED"}
    for event in (again, again, late_failure):
        boto3.client("sns").publish(TopicArn=topic, Message=json.dumps(event))
    _settled()
    assert marketing.get(f"/campaigns/{c['id']}/report").json["delivered"] == report["delivered"]
    assert repo.get_recipient(c["id"], delivered.customer_id).status == "delivered"  # type: ignore[union-attr]

    # Five copies of a late receipt at once (SNS delivers at least once, in parallel): counted once.
    waiting = [r for r in sent if r.status == "accepted"]
    if waiting:
        late = {"eventType": "TEXT_DELIVERED", "isFinal": True, "messageId": "late",
                "context": {"campaign": c["id"], "customer": waiting[0].customer_id}}
        before_late = marketing.get(f"/campaigns/{c['id']}/report").json["delivered"]
        sns = boto3.client("sns")
        with ThreadPoolExecutor(5) as pool:
            list(pool.map(lambda _: sns.publish(TopicArn=topic, Message=json.dumps(late)), range(5)))
        _settled()
        assert marketing.get(f"/campaigns/{c['id']}/report").json["delivered"] == before_late + 1

    # An opt-out read the row while it was accepted; the receipt moved it on before the opt-out wrote: the
    # opt-out still lands, once, and is counted once.
    stale = replace(delivered, status="accepted")
    before = repo.counts(c["id"])[0].get("opted_out", 0)
    assert repo.mark_opted_out(stale, "2026-12-06T00:00:00.000Z", {"opted_out": 1})
    assert not repo.mark_opted_out(stale, "2026-12-06T00:00:01.000Z", {"opted_out": 1})
    assert repo.counts(c["id"])[0]["opted_out"] == before + 1
    after = repo.get_recipient(c["id"], delivered.customer_id)
    assert after is not None and after.status == "delivered" and after.opted_out_at == "2026-12-06T00:00:00.000Z"


def test_email_bounces_and_complaints_withdraw_email_marketing_once(as_user: Any, stack: dict[str, str]) -> None:
    """SES's mailbox simulator addresses, as in the cloud: a hard bounce and a complaint withdraw the customer's
    email marketing consent (sources ses_bounce, ses_complaint); a delivery changes no consent."""
    marketing, agent = as_user("marketing"), as_user("agent.bandung")
    tag = f"eml{uuid.uuid4().hex[:8]}"
    consent = {"email_marketing": {"value": True, "source": "signup_form"}}
    addresses = {"bounce": f"bounce+{tag}@simulator.amazonses.com",
                 "complaint": f"complaint+{tag}@simulator.amazonses.com",
                 "fine": f"success+{tag}@simulator.amazonses.com"}
    people = {k: agent.new_customer(branch_id="bandung", tags=[tag], name=f"Rina {k}", email=v, consent=consent,
                                    preferred_channel="email")
              for k, v in addresses.items()}
    c = _sent(marketing, tag, channel="email", subjects={"id": "Promo", "en": "Promo"})
    report = marketing.get(f"/campaigns/{c['id']}/report").json
    in_control = 3 - report["sent"]  # the global control group (a stable 5%) may hold one of them
    assert report["delivered"] + report["undelivered"] == report["sent"]
    assert set(report["undelivered_by_code"]) <= {"bounce_permanent"} and report["awaiting_receipt"] == 0
    from chalicelib.persistence import campaigns as repo

    rows = repo.recipients_of(c["id"], [p["id"] for p in people.values()])
    for kind, person in people.items():
        row = rows[person["id"]]
        given = agent.get(f"/customers/{person['id']}").json["consent"]["email_marketing"]
        if row.arm != "send":
            assert given["value"] is True
            continue
        if kind == "bounce":
            assert row.status == "undelivered" and row.error_code == "bounce_permanent"
            assert given["value"] is False and given["source"] == "ses_bounce"
        elif kind == "complaint":
            assert row.status == "delivered" and given["value"] is False and given["source"] == "ses_complaint"
        else:
            assert row.status == "delivered" and given["value"] is True
    assert in_control == sum(r.arm == "control" for r in rows.values())
