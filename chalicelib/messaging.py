"""SMS through SNS and email through SES v2. AWS errors become domain errors here."""

from __future__ import annotations

from chalicelib.aws import client as _client
from chalicelib.config import settings
from chalicelib.domain.errors import ServiceUnavailable


def send_sms(phone: str, text: str, *, transactional: bool, sender_id: str | None = None) -> str:
    """`sender_id`: the alphanumeric sender registered with the operators (a campaign's own, else the account's
    default)."""
    from botocore.exceptions import BotoCoreError, ClientError

    attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String",
                                          "StringValue": "Transactional" if transactional else "Promotional"}}
    if sender_id:
        attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender_id}
    try:
        result = _client("sns").publish(PhoneNumber=phone, Message=text, MessageAttributes=attributes)
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("The SMS service is unavailable; it will be retried.") from exc
    return str(result["MessageId"])


def send_email(address: str, subject: str, text: str, *, headers: dict[str, str] | None = None) -> str:
    """`headers`: extra headers (a campaign's List-Unsubscribe and List-Unsubscribe-Post, RFC 8058)."""
    from botocore.exceptions import BotoCoreError, ClientError

    simple: dict[str, object] = {"Subject": {"Data": subject, "Charset": "UTF-8"},
                                 "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}}
    if headers:
        simple["Headers"] = [{"Name": k, "Value": v} for k, v in headers.items()]
    try:
        result = _client("sesv2").send_email(
            FromEmailAddress=settings().sender_email,
            Destination={"ToAddresses": [address]},
            Content={"Simple": simple},
        )
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("The email service is unavailable; it will be retried.") from exc
    return str(result["MessageId"])
