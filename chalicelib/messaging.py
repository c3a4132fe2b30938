"""SMS through SNS and email through SES v2. AWS errors become domain errors here."""

from __future__ import annotations

from chalicelib.aws import client as _client
from chalicelib.config import settings
from chalicelib.domain.errors import ServiceUnavailable


def send_sms(phone: str, text: str, *, transactional: bool) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        result = _client("sns").publish(
            PhoneNumber=phone,
            Message=text,
            MessageAttributes={
                "AWS.SNS.SMS.SMSType": {
                    "DataType": "String",
                    "StringValue": "Transactional" if transactional else "Promotional",
                },
            },
        )
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("The SMS service is unavailable; it will be retried.") from exc
    return str(result["MessageId"])


def send_email(address: str, subject: str, text: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        result = _client("sesv2").send_email(
            FromEmailAddress=settings().sender_email,
            Destination={"ToAddresses": [address]},
            Content={"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"},
                                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}}},
        )
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable("The email service is unavailable; it will be retried.") from exc
    return str(result["MessageId"])
