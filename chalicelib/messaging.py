"""The sending port: SMS through AWS End User Messaging SMS (the SMS v2 API's `SendTextMessage`) and email
through SES v2, each message with its context (which campaign, which customer: ids, never personal data) so
that what the service reports afterwards (chalicelib/workflows/message_events.py) finds its row. Both go
through the stage's configuration sets when set (their event destinations publish the receipts). The local
stack plays SMS v2 (infra/sms_v2.py) and simulates the receipts (infra/receipts.py).

AWS errors become domain errors here.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.aws import client as _client
from chalicelib.config import settings
from chalicelib.domain.errors import ServiceUnavailable


def send_sms(phone: str, text: str, *, transactional: bool, sender_id: str | None = None,
             context: Mapping[str, str] | None = None) -> str:
    """`sender_id`: the alphanumeric sender registered with the operators (a campaign's own, else the account's
    default, the configuration set's). `context`: at most 5 ids the receipts carry back."""
    from botocore.exceptions import BotoCoreError, ClientError

    request: dict[str, object] = {"DestinationPhoneNumber": phone, "MessageBody": text,
                                  "MessageType": "TRANSACTIONAL" if transactional else "PROMOTIONAL"}
    if settings().sms_configuration_set:
        request["ConfigurationSetName"] = settings().sms_configuration_set
    if sender_id:
        request["OriginationIdentity"] = sender_id
    if context:
        request["Context"] = dict(context)
    try:
        result = _client("pinpoint-sms-voice-v2").send_text_message(**request)
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("The SMS service is unavailable; it will be retried.") from exc
    return str(result["MessageId"])


def send_email(address: str, subject: str, text: str, *, headers: dict[str, str] | None = None,
               context: Mapping[str, str] | None = None) -> str:
    """`headers`: extra headers (a campaign's List-Unsubscribe and List-Unsubscribe-Post, RFC 8058). `context`:
    ids the SES events carry back as the message's tags."""
    from botocore.exceptions import BotoCoreError, ClientError

    simple: dict[str, object] = {"Subject": {"Data": subject, "Charset": "UTF-8"},
                                 "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}}
    if headers:
        simple["Headers"] = [{"Name": k, "Value": v} for k, v in headers.items()]
    request: dict[str, object] = {"FromEmailAddress": settings().sender_email,
                                  "Destination": {"ToAddresses": [address]}, "Content": {"Simple": simple}}
    if context:
        request["EmailTags"] = [{"Name": k, "Value": v} for k, v in context.items()]
    if settings().email_configuration_set:
        request["ConfigurationSetName"] = settings().email_configuration_set
    try:
        result = _client("sesv2").send_email(**request)
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("The email service is unavailable; it will be retried.") from exc
    return str(result["MessageId"])
