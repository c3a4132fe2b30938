"""Lambda's SNS subscriptions, played locally: a message published to a topic an `@app.on_sns_message`
handler subscribes to reaches that handler, as in the cloud.

moto stores what is published to a topic but invokes no Lambda function, so
publishing to the inbound SMS topic (what AWS's SMS service does with a
customer's reply, and what `make sms-reply` does) would change nothing. While
installed, every publish to such a topic (`Topic.publish` in moto, in this
process) also invokes the handler, asynchronously as SNS does, in a thread of
its own, with the event Lambda gets (`Records[0].Sns`: Type, MessageId,
TopicArn, Subject, Message, Timestamp, MessageAttributes). The handler runs as
its packaged function (infra/iam_local.py scopes app.py's handlers). A handler
that raises is logged by exception type (Lambda would retry twice, then use the
function's on-failure destination).
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("relasi.sns")

_installed: dict[str, tuple[str, str]] = {}  # topic name -> (app.py attribute Lambda calls, the function name)
_deliveries: list[threading.Thread] = []


def lambda_event(topic_arn: str, message_id: str, message: str, subject: str | None,
                 attributes: dict[str, Any] | None) -> dict[str, Any]:
    return {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": topic_arn,
            "Subject": subject,
            "Message": message,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "SignatureVersion": "1",
            "MessageAttributes": {k: {"Type": v.get("DataType", "String"), "Value": v.get("StringValue")}
                                  for k, v in (attributes or {}).items() if isinstance(v, dict)},
        },
    }]}


def _deliver(handler: Any, event: dict[str, Any], function_name: str) -> None:
    from infra.pump import LambdaContext

    try:
        handler(event, LambdaContext(function_name, event["Records"][0]["Sns"]["TopicArn"].split(":")[3],
                                     event["Records"][0]["Sns"]["TopicArn"].split(":")[4]))
    except Exception as exc:  # type only: the message may be a customer's text
        logger.error("SNS delivery to %s failed: %s", function_name, type(exc).__name__)


def install(app_module: Any, stage: str) -> None:
    """Deliver messages of the topics app.py's `@app.on_sns_message` handlers name (idempotent)."""
    from chalice.app import SNSEventConfig
    from moto.sns.models import Topic

    for source in getattr(app_module.app, "event_sources", []):
        if isinstance(source, SNSEventConfig):
            attribute = source.handler_string.rpartition(".")[2]
            _installed[source.topic] = (attribute, f"relasi-{stage}-{source.name}")
    if getattr(Topic.publish, "relasi_delivers", False):
        return
    original = Topic.publish

    def publish(self: Any, message: str, *args: Any, **kwargs: Any) -> str:
        message_id: str = original(self, message, *args, **kwargs)
        target = _installed.get(self.name)
        if target is not None:
            attribute, function_name = target
            handler = getattr(app_module, attribute)  # looked up now: the IAM-scoped one, if installed
            subject = kwargs.get("subject", args[0] if args else None)
            attributes = kwargs.get("message_attributes", args[1] if len(args) > 1 else None)
            event = lambda_event(self.arn, message_id, message, subject, attributes)
            thread = threading.Thread(target=_deliver, args=(handler, event, function_name),
                                      name=f"relasi-sns-{function_name}", daemon=True)
            _deliveries.append(thread)
            thread.start()
        return message_id

    publish.relasi_delivers = True  # type: ignore[attr-defined]
    Topic.publish = publish  # type: ignore[method-assign]


def wait_for_deliveries(timeout_s: float = 10.0) -> None:
    """Tests: wait until every delivery started so far has finished."""
    for thread in list(_deliveries):
        thread.join(timeout_s)
