"""Marketing consent through the API, and SMS replies that opt a number out of everything."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from chalicelib.domain.consent import opt_out_change
from tests.test_api_customers import _problem


@pytest.mark.parametrize(("text", "change"), [
    ("STOP", True), (" stop ", True), ("Berhenti", True), ("unsubscribe\n", True),
    ("START", False), ("mulai", False), ("stop please", None), ("", None), ("STOPP", None),
])
def test_keywords(text: str, change: bool | None) -> None:
    assert opt_out_change(text) is change


def test_put_consent_records_value_time_and_source(as_user: Any) -> None:
    agent = as_user("agent.jakarta")
    c = agent.new_customer()
    r = agent.request("PUT", f"/customers/{c['id']}/consent",
                      {"sms_marketing": {"value": True, "source": "call-centre"},
                       "email_marketing": {"value": False, "source": "call-centre"}})
    assert r.status_code == 200 and r.headers["ETag"] == '"v2"'
    assert r.json["consent"]["sms_marketing"]["value"] is True
    assert r.json["consent"]["email_marketing"]["source"] == "call-centre"
    r = agent.request("PUT", f"/customers/{c['id']}/consent", {"sms_marketing": {"value": False, "source": "web"}})
    assert r.json["consent"]["sms_marketing"]["value"] is False
    assert r.json["consent"]["email_marketing"]["value"] is False  # untouched
    _problem(agent.request("PUT", f"/customers/{c['id']}/consent", {}), 400)
    _problem(agent.request("PUT", f"/customers/{c['id']}/consent", {"sms_marketing": {"value": "yes", "source": "x"}}), 400)
    _problem(as_user("marketing").request("PUT", f"/customers/{c['id']}/consent",
                                          {"sms_marketing": {"value": True, "source": "x"}}), 403)
    _problem(as_user("agent.bandung").request("PUT", f"/customers/{c['id']}/consent",
                                              {"sms_marketing": {"value": True, "source": "x"}}), 404)


def _reply(number: str, text: str) -> None:
    from chalice.test import Client

    import app

    with Client(app.app) as client:
        event = client.events.generate_sns_event(message=json.dumps(
            {"originationNumber": number, "destinationNumber": "+628001234567", "messageBody": text,
             "inboundMessageId": "x"}))
        client.lambda_.invoke("inbound_sms", event)


def test_stop_and_start_replies_keep_the_crms_own_opt_out_list(as_user: Any) -> None:
    from chalicelib.persistence import consent as opt_outs

    c = as_user("agent.jakarta").new_customer()
    _reply(c["phone"], " Berhenti ")
    assert opt_outs.sms_opted_out(c["phone"])
    _reply(c["phone"], "STOP")  # again: no change, no error
    assert opt_outs.sms_opted_out(c["phone"])
    _reply(c["phone"], "mulai")
    assert not opt_outs.sms_opted_out(c["phone"])
    _reply(c["phone"], "hello")
    _reply("not a number", "STOP")
    assert not opt_outs.sms_opted_out(c["phone"])


def test_a_reply_published_to_the_inbound_topic_reaches_the_handler_as_in_the_cloud(
        as_user: Any, stack: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """`make sms-reply`: what AWS's SMS service publishes for a reply, handled by the stack's inbound SMS function."""
    from chalicelib.persistence import consent as opt_outs
    from infra import sms_reply, sns_delivery

    c = as_user("agent.jakarta").new_customer()
    port = os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]  # the session stack's moto
    assert sms_reply.main([c["phone"], "STOP", "--aws-port", port]) == 0
    assert "relasi-dev-inbound-sms" in capsys.readouterr().out
    sns_delivery.wait_for_deliveries()
    assert opt_outs.sms_opted_out(c["phone"])
    assert sms_reply.main([c["phone"], "mulai", "--aws-port", port]) == 0
    sns_delivery.wait_for_deliveries()
    assert not opt_outs.sms_opted_out(c["phone"])
    assert sms_reply.main(["", "STOP", "--aws-port", port]) == 2
