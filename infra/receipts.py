"""The sending services' events, simulated on the local stack.

In the cloud, AWS End User Messaging SMS and SES publish what became of each message to the stack's
message-events topic (infra/template.yaml MessageEventsTopic), and the MessageEvents function reads them. moto
publishes nothing of the kind, so, while installed, this does it in their place, in the same formats
(chalicelib/domain/message_events.py), a moment after each message sent through the stage's configuration
sets:

- SMS (infra/sms_v2.py plays the SMS v2 API): a share is delivered, a share fails with an operator's code, the rest never
  answers (as Indonesian operators often do). The outcome is a keyed hash of the context (or the message id),
  so a test can recompute it: `sms_outcome()`. RELASI_SIMULATED_SMS_RECEIPTS="delivered=85,undelivered=5"
  (percentages; the rest: no receipt) sets the shares.
- Email: SES's mailbox simulator addresses behave as in the cloud (bounce@simulator.amazonses.com bounces for
  good, complaint@... complains, ooto@... delivers); every other address is delivered.

The event goes to the topic through moto, so infra/sns_delivery.py hands it to the function as SNS would
(asynchronously, in a thread); a second identical event is what an SNS redelivery looks like.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from typing import Any

SMS_SHARES_DEFAULT = "delivered=85,undelivered=5"
SMS_FAILURE_CODES = ("TEXT_BLOCKED", "TEXT_CARRIER_UNREACHABLE", "TEXT_TTL_EXPIRED")
DELAY_S = 0.3  # the receipt follows the send by this much (the cloud's take seconds to 72 hours)
PENDING_PRUNE_AT = 1000

_state: dict[str, Any] = {}
_pending: list[threading.Timer] = []


def sms_shares() -> tuple[int, int]:
    """(delivered %, undelivered %) from RELASI_SIMULATED_SMS_RECEIPTS."""
    shares = dict(part.split("=", 1) for part in
                  (os.environ.get("RELASI_SIMULATED_SMS_RECEIPTS") or SMS_SHARES_DEFAULT).split(",") if "=" in part)
    return int(shares.get("delivered", 0)), int(shares.get("undelivered", 0))


def sms_outcome(key: str) -> str | None:
    """The simulated SMS v2 event type for a message keyed `key` ("<campaign>|<customer>" when it has a
    context, else its message id), or None: no receipt ever."""
    bucket = int.from_bytes(hashlib.sha256(f"receipt|{key}".encode()).digest()[:4], "big") % 100
    delivered, undelivered = sms_shares()
    if bucket < delivered:
        return "TEXT_DELIVERED"
    if bucket < delivered + undelivered:
        return SMS_FAILURE_CODES[bucket % len(SMS_FAILURE_CODES)]
    return None


def sms_key(context: dict[str, str], message_id: str) -> str:
    return f"{context['campaign']}|{context['customer']}" if "campaign" in context and "customer" in context \
        else message_id


def _sms_event(kind: str, message_id: str, context: dict[str, str]) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"eventType": kind, "eventVersion": "1.0", "eventTimestamp": now, "isFinal": True,
            "messageId": message_id, "messageRequestTimestamp": now - int(DELAY_S * 1000),
            "messageStatus": kind[len("TEXT_"):], "isoCountryCode": "ID", "totalMessageParts": 1,
            "messageType": "PROMOTIONAL", "context": context}


def email_event(address: str, message_id: str, tags: dict[str, str]) -> dict[str, Any]:
    """The SES event (event publishing format) the mailbox simulator would give for `address`."""
    local = address.split("@", 1)[0].split("+", 1)[0].lower()
    simulator = address.lower().endswith("@simulator.amazonses.com")
    mail = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "messageId": message_id,
            "tags": {k: [v] for k, v in tags.items()}}
    if simulator and local == "bounce":
        return {"eventType": "Bounce", "mail": mail,
                "bounce": {"bounceType": "Permanent", "bounceSubType": "General"}}
    if simulator and local == "complaint":
        return {"eventType": "Complaint", "mail": mail, "complaint": {"complaintFeedbackType": "abuse"}}
    return {"eventType": "Delivery", "mail": mail, "delivery": {"processingTimeMillis": int(DELAY_S * 1000)}}


def _publish_later(event: dict[str, Any]) -> None:
    def publish() -> None:
        from moto.sns.models import sns_backends

        account, region, topic_arn = _state["account"], _state["region"], _state["topic_arn"]
        sns_backends[account][region].publish(json.dumps(event), arn=topic_arn)

    timer = threading.Timer(DELAY_S, publish)
    timer.daemon = True
    if len(_pending) >= PENDING_PRUNE_AT:  # a long-running stack keeps only the receipts still to come
        _pending[:] = [t for t in _pending if t.is_alive()]
    _pending.append(timer)
    timer.start()


def sms_sent(message_id: str, context: dict[str, str]) -> None:
    """An SMS sent through the configuration set (infra/sms_v2.py): its receipt, if it gets one."""
    kind = sms_outcome(sms_key(context, message_id))
    if kind is not None and _state:
        _publish_later(_sms_event(kind, message_id, context))


def install(stage: str, region: str, account: str = "123456789012") -> None:
    """Simulate the events of what this process's moto sends from now on (idempotent)."""
    from moto.sesv2.responses import SESV2Response

    _state.update(account=account, region=region,
                  topic_arn=f"arn:aws:sns:{region}:{account}:relasi-{stage}-message-events")
    if getattr(SESV2Response.send_email, "relasi_receipts", False):
        return
    original_send_email = SESV2Response.send_email

    def send_email(self: Any) -> str:
        answer: str = original_send_email(self)
        params = json.loads(self.body)
        if params.get("ConfigurationSetName"):  # its event destination: the events
            tags = {t["Name"]: t["Value"] for t in params.get("EmailTags") or []}
            message_id = json.loads(answer).get("MessageId") or str(uuid.uuid4())
            for address in (params.get("Destination") or {}).get("ToAddresses") or []:
                _publish_later(email_event(address, message_id, tags))
        return answer

    send_email.relasi_receipts = True  # type: ignore[attr-defined]
    SESV2Response.send_email = send_email  # type: ignore[method-assign]


def wait_for_receipts(timeout_s: float = 10.0) -> None:
    """Tests: wait until every receipt scheduled so far has been published (then infra/sns_delivery.py's
    wait_for_deliveries waits for its handling)."""
    for timer in list(_pending):
        timer.join(timeout_s)
