"""AWS End User Messaging SMS (the SMS v2 API, `pinpoint-sms-voice-v2`), played on the moto server.

moto has no SMS v2 backend, and the CRM sends every SMS through it (chalicelib/messaging.py
`SendTextMessage`, with the stage's configuration set and the message's context), as in the cloud. This WSGI
middleware answers `SendTextMessage` (X-Amz-Target `PinpointSMSVoiceV2.SendTextMessage`) as the service does:
it checks the request (an E.164 destination, a body of at most 1,600 characters, a message type, a configuration
set the stack has), keeps the text where moto keeps SNS's texts (so `make outbox` and the tests find every SMS
in one place) and answers `{"MessageId"}`; then infra/receipts.py simulates the configuration set's receipt.
Other SMS v2 operations answer 400 (the CRM calls none).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

TARGET_PREFIX = "PinpointSMSVoiceV2."
ACCOUNT = "123456789012"  # moto's default account
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
BODY_MAX = 1600
CONFIGURATION_SETS: set[str] = set()  # what provisioning created (the template's SmsConfigurationSet)


def _region(environ: dict[str, Any]) -> str:
    credential = re.search(r"Credential=[^/]+/[0-9]+/([a-z0-9-]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return credential.group(1) if credential else "us-east-1"


def _answer(start_response: Callable[..., Any], status: str, body: dict[str, Any],
            error: str | None = None) -> Iterable[bytes]:
    raw = json.dumps({"__type": error, **body} if error else body).encode()
    headers = [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(raw))),
               ("x-amzn-RequestId", str(uuid.uuid4()))]
    if error:
        headers.append(("x-amzn-ErrorType", error))
    start_response(status, headers)
    return [raw]


def send_text_message(params: dict[str, Any], region: str) -> tuple[str | None, str | None]:
    """(message id, None) or (None, why the service would refuse it)."""
    from moto.sns.models import sns_backends

    from infra import receipts

    phone, body = params.get("DestinationPhoneNumber"), params.get("MessageBody")
    if not isinstance(phone, str) or not E164.match(phone):
        return None, "DestinationPhoneNumber must be an E.164 number"
    if not isinstance(body, str) or not body or len(body) > BODY_MAX:
        return None, f"MessageBody must be 1 to {BODY_MAX} characters"
    if params.get("MessageType", "TRANSACTIONAL") not in ("TRANSACTIONAL", "PROMOTIONAL"):
        return None, "MessageType must be TRANSACTIONAL or PROMOTIONAL"
    configuration_set = params.get("ConfigurationSetName")
    if configuration_set is not None and configuration_set not in CONFIGURATION_SETS:
        return None, f"no configuration set {configuration_set}"
    context = params.get("Context") or {}
    if not isinstance(context, dict) or len(context) > 5 or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
        return None, "Context must be at most 5 text keys and values"
    message_id = str(uuid.uuid4())
    sns_backends[ACCOUNT][region].sms_messages[message_id] = (phone, body)
    if configuration_set is not None:  # its event destination: the receipt
        receipts.sms_sent(message_id, context)
    return message_id, None


def middleware(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(TARGET_PREFIX):
            return app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length > 0 else b"{}"
        try:
            params = json.loads(raw or b"{}")
        except ValueError:
            return _answer(start_response, "400 Bad Request", {"Message": "not JSON"}, "ValidationException")
        if target != TARGET_PREFIX + "SendTextMessage":
            return _answer(start_response, "400 Bad Request",
                           {"Message": f"{target} is not played by the local stack"}, "ValidationException")
        message_id, problem = send_text_message(params if isinstance(params, dict) else {}, _region(environ))
        if problem is not None:
            return _answer(start_response, "400 Bad Request", {"Message": problem}, "ValidationException")
        return _answer(start_response, "200 OK", {"MessageId": message_id})

    return wrapped
