"""What customers and ops received from a running local stack: `make outbox`.

moto keeps what the application sent in the local stack's process: SMS
published to phone numbers (SNS), email (SES v1 and v2 share one backend)
and every message published to a topic. Another process cannot read those,
so the local stack serves them, read-only, on its moto port (127.0.0.1
only): `GET http://127.0.0.1:$RELASI_AWS_PORT/_relasi/outbox` answers
`{"messages": [...]}`, oldest first. The path cannot be an AWS call (no S3
bucket name starts with `_`), and this middleware answers it before moto
sees the request.

Each message: `at` (UTC, ISO-8601 with `Z`), `channel` (`sms`, `email`,
`ops`), `recipient`, `subject` (email and ops, else null), `text`,
`attributes` (ops: the message attributes, name -> value), `id` (moto's
message id). Recipients are masked except their last 4 characters
(`mask()`; a phone keeps its `+`), because the outbox is printed on screens
and pasted into tickets; a test that knows the number compares
`mask(number)`. An ops recipient is the topic's name, unmasked: ops topics
are those with `ops` as a dash-separated word in their name
(relasi-<stage>-ops, relasi-<stage>-ops-<department>, ...).

moto records no send times, so the local stack keeps them: `install_clock()`
wraps moto's SNS publish and SES send methods to note when each message id
was sent (nothing else about them changes), and a sampler thread (every
SAMPLE_INTERVAL_S, and once more on every request, so the outbox never misses
a message sent before the request) collects the messages from moto's
backends. A message the clock missed (moto changed) gets the time it was
first seen instead.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import functools
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.clock import iso
from infra import ports

PATH = "/_relasi/outbox"
SAMPLE_INTERVAL_S = 0.1
CHANNELS = ("sms", "email", "ops")
_OPS_TOPIC = re.compile(r"(^|-)ops(-|$)")
_SPACE = re.compile(r"\s+")

Message = dict[str, Any]


def mask(recipient: str, keep: int = 4) -> str:
    """Every character but the last `keep` as `*` (a leading `+` of a phone number stays)."""
    prefix = "+" if recipient.startswith("+") else ""
    rest = recipient[len(prefix):]
    if len(rest) <= keep:
        return prefix + rest
    return prefix + "*" * (len(rest) - keep) + rest[-keep:]


def is_ops_topic(topic_name: str) -> bool:
    return bool(_OPS_TOPIC.search(topic_name))


def one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def format_line(message: Message) -> str:
    """`time  channel  recipient  text` (the subject, if any, before the text)."""
    text = message["text"]
    if message.get("subject"):
        text = f"[{message['subject']}] {text}"
    return f"{message['at']}  {message['channel']:<5}  {message['recipient']}  {one_line(text)}"


# --------------------------------------------------------------------------
# In the local stack's process: reading moto
# --------------------------------------------------------------------------


def _iso(epoch_s: float) -> str:
    return iso(datetime.fromtimestamp(epoch_s, UTC))


def _addresses(destinations: Any) -> list[str]:
    """Every address in an SES destination (dict of To/Cc/Bcc lists, a list, or bulk entries)."""
    found: list[str] = []
    if isinstance(destinations, str):
        found.append(destinations)
    elif isinstance(destinations, dict):
        for value in destinations.values():
            found.extend(_addresses(value))
    elif isinstance(destinations, list | tuple):
        for value in destinations:
            found.extend(_addresses(value))
    return [a for a in found if "@" in a]


def _email_content(message: Any) -> tuple[str | None, str]:
    """(subject, text) of any of moto's SES message kinds."""
    if hasattr(message, "raw_data"):
        parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
        part = parsed.get_body(preferencelist=("plain", "html")) if hasattr(parsed, "get_body") else None
        body = part.get_content() if part is not None else ""
        return str(parsed.get("Subject", "")) or None, str(body)
    if hasattr(message, "template"):
        return None, f"(template {message.template}) {message.template_data}"
    return getattr(message, "subject", None), str(getattr(message, "body", ""))


def _sources() -> Iterator[tuple[tuple[str, ...], Any, Callable[[Any], list[Message]]]]:
    """(container key, append-only container, function turning one entry into messages) for every backend."""
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    for account, regions in list(sns_backends.items()):
        for region, backend in list(regions.items()):
            yield ("sms", account, region), backend.sms_messages, _sms
            for arn, topic in list(backend.topics.items()):
                if is_ops_topic(topic.name):
                    yield ("ops", account, region, arn), topic.sent_notifications, _ops(topic.name)
    for account, ses_regions in list(ses_backends.items()):
        for region, ses in list(ses_regions.items()):
            yield ("email", account, region), ses.sent_messages, _email


def _sms(entry: Any) -> list[Message]:
    message_id, (phone, text) = entry
    return [{"id": message_id, "channel": "sms", "recipient": mask(phone), "subject": None, "text": text,
             "attributes": {}}]


def _ops(topic_name: str) -> Callable[[Any], list[Message]]:
    def convert(entry: Any) -> list[Message]:
        message_id, text, subject, attributes = entry[:4]
        values = {name: (v.get("Value") if isinstance(v, dict) else v) for name, v in (attributes or {}).items()}
        return [{"id": message_id, "channel": "ops", "recipient": topic_name, "subject": subject, "text": text,
                 "attributes": values}]

    return convert


def _email(message: Any) -> list[Message]:
    subject, text = _email_content(message)
    message_id = getattr(message, "id", None) or (getattr(message, "ids", None) or [""])[0]
    return [{"id": message_id, "channel": "email", "recipient": mask(address), "subject": subject, "text": text,
             "attributes": {}}
            for address in _addresses(getattr(message, "destinations", []))]


_sent_at: dict[str, float] = {}  # message id -> epoch seconds, noted by install_clock()'s wrappers
_clock_installed = False


def _message_ids(result: Any) -> list[str]:
    if isinstance(result, str):
        return [result]
    ids = getattr(result, "ids", None) or [getattr(result, "id", None)]
    return [i for i in ids if isinstance(i, str)]


def install_clock() -> bool:
    """Note the send time of every SMS, topic message and email moto accepts in this process (idempotent)."""
    global _clock_installed
    if _clock_installed:
        return True
    try:
        from moto.ses.models import SESBackend
        from moto.sns.models import SNSBackend, Topic
    except ImportError:
        return False
    targets = [(SNSBackend, "publish"), (Topic, "publish"), (SESBackend, "send_email"),
               (SESBackend, "send_raw_email"), (SESBackend, "send_templated_email"),
               (SESBackend, "send_bulk_templated_email")]
    for cls, name in targets:
        original = getattr(cls, name, None)
        if original is None:
            continue

        def noted(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            result = __original(self, *args, **kwargs)
            now = time.time()
            for message_id in _message_ids(result):
                _sent_at.setdefault(message_id, now)
            return result

        setattr(cls, name, functools.wraps(original)(noted))
    _clock_installed = True
    return True


class OutboxRecorder:
    """Notes when each message first shows up in moto's backends; keeps them in that order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, ...], tuple[Any, int]] = {}  # container key -> (container, entries read)
        self._messages: list[Message] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        now = time.time()
        with self._lock:
            for key, container, convert in _sources():
                known, read = self._seen.get(key, (None, 0))
                if known is not container or len(container) < read:
                    read = 0  # a backend reset gives moto new, empty containers
                entries = list(container.items()) if isinstance(container, dict) else list(container)
                for entry in entries[read:]:
                    for message in convert(entry):
                        self._messages.append({"_t": _sent_at.get(message["id"], now), **message})
                self._seen[key] = (container, len(entries))

    def messages(self) -> list[Message]:
        """Everything sent so far, oldest first (looks at moto once more first)."""
        self.sample()
        with self._lock:
            ordered = sorted(self._messages, key=lambda m: m["_t"])  # stable: one email's recipients stay in order
        return [{"at": _iso(m["_t"]), **{k: v for k, v in m.items() if k != "_t"}} for m in ordered]

    def preload(self, messages: list[Message]) -> None:
        """Messages sent before a restart (as messages() gave them), ahead of anything sent since
        (infra/local_state.py)."""
        with self._lock:
            self._messages[:0] = [{"_t": datetime.fromisoformat(m["at"]).timestamp(),
                                   **{k: v for k, v in m.items() if k != "at"}} for m in messages]

    def start(self, interval_s: float = SAMPLE_INTERVAL_S) -> OutboxRecorder:
        def run() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.sample()
                except Exception:  # noqa: S112 - moto mid-change; the next look sees it
                    continue

        self._stop.clear()
        self._thread = threading.Thread(target=run, name="relasi-outbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


RECORDER = OutboxRecorder()


def middleware(app: Callable[..., Iterable[bytes]], recorder: OutboxRecorder = RECORDER) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware for the moto server: answers GET PATH itself, passes everything else to moto."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET"), ("Content-Length", "0")])
            return [b""]
        body = json.dumps({"messages": recorder.messages()}, ensure_ascii=False).encode()
        start_response("200 OK", [("Content-Type", "application/json; charset=utf-8"),
                                  ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
        return [body] if environ["REQUEST_METHOD"] == "GET" else [b""]

    return wrapped


def with_outbox(server_class: type, *wrappers: Callable[[Callable[..., Iterable[bytes]]], Callable[..., Iterable[bytes]]]
                ) -> type:
    """moto's ThreadedMotoServer, serving PATH too, with RECORDER sampling while it runs.

    `wrappers`: more WSGI middleware of the same kind (e.g. infra/scheduler.py's trigger route), outermost last.
    """

    class OutboxMotoServer(server_class):  # type: ignore[valid-type,misc]
        def _server_entry(self) -> None:
            # ThreadedMotoServer._server_entry with the application wrapped.
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server

            app = middleware(DomainDispatcherApplication(create_backend_app))
            for wrap in wrappers:
                app = wrap(app)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

        def start(self) -> None:
            install_clock()
            super().start()
            RECORDER.start()

        def stop(self) -> None:
            RECORDER.stop()
            super().stop()

    return OutboxMotoServer


# --------------------------------------------------------------------------
# From another process: `make outbox`, the end-to-end tests
# --------------------------------------------------------------------------


def fetch(aws_port: int | None = None, *, channel: str | None = None, timeout_s: float = 10.0) -> list[Message]:
    """The outbox of the local stack whose moto listens on `aws_port` (default RELASI_AWS_PORT or 4566), oldest first."""
    port = ports.aws_port() if aws_port is None else aws_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{PATH}", timeout=timeout_s) as response:  # noqa: S310
        messages: list[Message] = json.load(response)["messages"]
    return [m for m in messages if channel is None or m["channel"] == channel]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make outbox",
        description=(
            "Print the SMS, emails and ops alerts a running local stack (`make run`) has sent so far, one per "
            "line, newest last: time (UTC), channel (sms, email, ops), recipient (masked except its last 4 "
            "characters; for ops the topic's name), text (an email's or alert's subject in [brackets] first)."
        ),
        epilog=(
            f"Environment: RELASI_AWS_PORT (default 4566), the port `make run` serves moto on. The stack serves "
            f"the same list as JSON at http://127.0.0.1:$RELASI_AWS_PORT{PATH}; from Python: "
            "infra.outbox.fetch(port)."
        ),
    )
    parser.add_argument("--aws-port", type=int, default=ports.aws_port(), help="moto's port (default: %(default)s)")
    parser.add_argument("--channel", choices=CHANNELS, help="only this channel")
    parser.add_argument("--json", action="store_true", help="print the messages as one JSON array instead")
    args = parser.parse_args(argv)
    try:
        messages = fetch(args.aws_port, channel=args.channel)
    except urllib.error.HTTPError as exc:
        print(f"error: 127.0.0.1:{args.aws_port} answers {PATH} with HTTP {exc.code}: is it the moto of a "
              "current `make run`?", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"error: no local stack answers on 127.0.0.1:{args.aws_port} ({exc}); start it with `make run` "
              "or set RELASI_AWS_PORT", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(messages, ensure_ascii=False, indent=2))
    elif not messages:
        print(f"(nothing sent on {args.channel} yet)" if args.channel else "(nothing sent yet)", file=sys.stderr)
    else:
        for message in messages:
            print(format_line(message))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `| head` stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
