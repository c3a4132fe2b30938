"""The local stack's state across restarts: saved when `make run` stops, put back when it starts.

moto keeps everything in memory. So that a restart (a new RELASI_TIME_SCALE, a
new checkout, a reboot) keeps the data, the users' tokens and the outbox, the
stack writes its state to one file when it stops (Ctrl-C or SIGTERM; a stack
killed with SIGKILL keeps what it saved at its last stop) and the next start
puts it back before anything else runs. `make reset` deletes the file: the next
start is a fresh one, with new demo data.

What is kept (data, not resources; the resources are provisioned from
infra/template.yaml on every start, as in a deployment):

- every item of every DynamoDB table (CRM, idempotency, analytics), written
  back into moto's tables directly, so the restore makes no stream records:
  the counters, claims and markers that the stream consumer kept stay exactly
  as they were, and nothing is handled twice;
- every object of every S3 bucket (the analytics exports and their history);
- the secrets' values (the cursor-signing key: cursors handed out before the
  restart still work until they expire; the export's pseudonym key: a
  customer keeps the same pseudonym across restarts);
- each Cognito user's `sub`; the pool and client ids are derived from their
  names (MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY=HASH), so an ID token from
  before the restart stays valid until it expires;
- messages waiting in the SQS queues (the dead-letter queues);
- the outbox (`make outbox` lists what was sent before the restart too);
- the time scale (`make time-scale`).

What is not kept: Step Functions executions (moto's engine runs them on
threads). After a restore, `resume_escalations` starts the escalation of every
complaint that is not resolved yet (named after the complaint, as the stream
consumer does, so a level already reached is not alerted again); a reminders
run that was under way is finished by running the job again, as in the cloud
(its claims make a second run send nothing twice).

The file (`state.json.gz` in RELASI_STATE_DIR, default build/local-state) is
written to a temporary name and renamed, so a stop interrupted half-way leaves
the previous state. A lock file with the stack's pid keeps a second stack from
sharing the directory.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DIR = PROJECT_DIR / "build" / "local-state"
STATE_FILE = "state.json.gz"
LOCK_FILE = "stack.pid"
FORMAT = 1
DISABLED = ("none", "off", "")


def state_dir() -> Path | None:
    """RELASI_STATE_DIR (relative to the project), default build/local-state; `none` keeps nothing."""
    configured = os.environ.get("RELASI_STATE_DIR")
    if configured is None:
        return DEFAULT_DIR
    if configured.strip().lower() in DISABLED:
        return None
    path = Path(configured)
    return path if path.is_absolute() else PROJECT_DIR / path


class StateInUse(RuntimeError):
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(directory: Path) -> int | None:
    """The pid of the running stack that uses `directory`, or None."""
    try:
        pid = int((directory / LOCK_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() and _alive(pid) else None


def lock(directory: Path) -> None:
    """Claim `directory` for this process; StateInUse if a running stack holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    other = holder(directory)
    if other is not None:
        raise StateInUse(f"another local stack (pid {other}) keeps its state in {directory}; stop it, "
                         "or give this one its own RELASI_STATE_DIR (or RELASI_STATE_DIR=none)")
    (directory / LOCK_FILE).write_text(str(os.getpid()))


def unlock(directory: Path) -> None:
    with contextlib.suppress(OSError):
        if (directory / LOCK_FILE).read_text().strip() == str(os.getpid()):
            (directory / LOCK_FILE).unlink()


def load(directory: Path) -> dict[str, Any] | None:
    """The saved state, or None (none saved yet, or from another format: then the start is a fresh one)."""
    try:
        with gzip.open(directory / STATE_FILE, "rt", encoding="utf-8") as f:
            state = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        print(f"note: the saved state in {directory} cannot be read ({type(exc).__name__}); starting afresh",
              flush=True)
        return None
    return state if isinstance(state, dict) and state.get("format") == FORMAT else None


def reset(directory: Path) -> bool | None:
    """Delete the saved state: True if there was one, None if there was none; False when a running stack holds
    it (it would write it again when it stops)."""
    if holder(directory) is not None:
        return False
    try:
        (directory / STATE_FILE).unlink()
    except FileNotFoundError:
        return None
    return True


# --- moto's backends (this process's moto server) ---------------------------------------------------------------

def _regions(backends: Any) -> Iterator[Any]:
    for regions in list(backends.values()):
        yield from list(regions.values())


def _tables() -> Iterator[Any]:
    from moto.dynamodb.models import dynamodb_backends

    for backend in _regions(dynamodb_backends):
        yield from list(backend.tables.values())


def _buckets() -> Iterator[Any]:
    from moto.s3.models import s3_backends

    seen: set[str] = set()
    for backend in _regions(s3_backends):  # S3 is global: every region sees the same buckets
        for bucket in list(backend.buckets.values()):
            if bucket.name not in seen:
                seen.add(bucket.name)
                yield bucket


def _pools() -> Iterator[Any]:
    from moto.cognitoidp.models import cognitoidp_backends

    for backend in _regions(cognitoidp_backends):
        yield from list(backend.user_pools.values())


def _secrets() -> Iterator[Any]:
    from moto.secretsmanager.models import secretsmanager_backends

    for backend in _regions(secretsmanager_backends):
        yield from list(backend.secrets.values())


def _queues() -> Iterator[Any]:
    from moto.sqs.models import sqs_backends

    for backend in _regions(sqs_backends):
        yield from list(backend.queues.values())


def capture() -> dict[str, Any]:
    """Everything kept, as JSON-ready data (call when nothing is writing: the stack's parts have stopped)."""
    from infra import outbox, time_scale

    return {
        "format": FORMAT,
        "saved_at": datetime.now(UTC).isoformat(),
        "tables": {table.name: [item.to_json()["Attributes"] for item in table.all_items()] for table in _tables()},
        "buckets": {
            bucket.name: [{"key": key.name, "body": base64.b64encode(key.value).decode(),
                           "metadata": {k.lower(): v for k, v in dict(key.metadata).items()}}
                          for key in list(bucket.keys.values())]
            for bucket in _buckets()
        },
        "secrets": {secret.name: secret.secret_string for secret in _secrets() if secret.secret_string is not None},
        "users": {pool.name: {name: user.id for name, user in pool.users.items()} for pool in _pools()},
        "queues": {queue.name: [message.body for message in list(queue._messages)] for queue in _queues()},
        "outbox": outbox.RECORDER.messages(),
        "time_scale": time_scale.current(),
    }


def save(directory: Path) -> int:
    """Write the state of this process's moto to `directory` (atomically); returns how many items it holds."""
    state = capture()
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{STATE_FILE}.{os.getpid()}"
    with gzip.open(partial, "wt", encoding="utf-8", compresslevel=5) as f:
        json.dump(state, f, ensure_ascii=False, separators=(",", ":"))
    partial.replace(directory / STATE_FILE)
    return sum(len(items) for items in state["tables"].values())


def restore_secrets(state: dict[str, Any]) -> None:
    """Before provisioning: the secrets with their saved values (provisioning keeps a secret that exists)."""
    import boto3

    sm = boto3.client("secretsmanager")
    for name, value in state.get("secrets", {}).items():
        sm.create_secret(Name=name, SecretString=value)


def restore(state: dict[str, Any]) -> int:
    """After provisioning and the demo users: the data back into moto; returns how many items."""
    import boto3

    from infra import outbox, time_scale

    tables = {table.name: table for table in _tables()}
    restored = 0
    for name, items in state.get("tables", {}).items():
        table = tables.get(name)
        if table is None:
            print(f"note: the saved state has table {name}, which the template no longer makes: not restored",
                  flush=True)
            continue
        shard, table.stream_shard = table.stream_shard, None  # nothing here is a change to hand on
        try:
            for attributes in items:
                table.put_item(attributes, overwrite=True)
        finally:
            table.stream_shard = shard
        restored += len(items)
    s3 = boto3.client("s3")
    buckets = {bucket.name for bucket in _buckets()}
    for name, objects in state.get("buckets", {}).items():
        if name not in buckets:
            continue
        for obj in objects:
            metadata = obj.get("metadata", {})
            s3.put_object(Bucket=name, Key=obj["key"], Body=base64.b64decode(obj["body"]),
                          ContentType=metadata.get("content-type", "binary/octet-stream"),
                          Metadata={k.removeprefix("x-amz-meta-"): v for k, v in metadata.items()
                                    if k.startswith("x-amz-meta-")})
    for pool in _pools():
        for username, sub in state.get("users", {}).get(pool.name, {}).items():
            user = pool.users.get(username)
            if user is not None:
                user.id = sub
                user.update_attributes([{"Name": "sub", "Value": sub}])
    sqs = boto3.client("sqs")
    queues = {queue.name: queue for queue in _queues()}
    for name, bodies in state.get("queues", {}).items():
        if name in queues:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            for body in bodies:
                sqs.send_message(QueueUrl=url, MessageBody=body)
    outbox.RECORDER.preload(state.get("outbox", []))
    scale = state.get("time_scale")
    if isinstance(scale, int | float) and scale != time_scale.current():
        time_scale.change(float(scale))
    return restored


def resume_escalations() -> int:
    """Start the escalation of every complaint not resolved yet (moto's executions did not survive the restart);
    returns how many. Each execution is named after its complaint and its levels are conditional updates, so a
    level reached before the restart is neither raised nor alerted again."""
    from chalicelib.domain.clock import utcnow
    from chalicelib.domain.complaints import UNRESOLVED
    from chalicelib.persistence import complaints
    from chalicelib.workflows import escalation

    started = 0
    for status in UNRESOLVED:
        start_key = None
        while True:
            page, start_key = complaints.list_page(branch=None, department=None, status=status, severity=None,
                                                   limit=100, start_key=start_key)
            for complaint in page:
                escalation.start(complaint, utcnow())
                started += 1
            if start_key is None:
                break
    return started


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="make reset",
        description="Delete the local stack's saved state (RELASI_STATE_DIR, default build/local-state): the next "
        "`make run` starts afresh, with new demo data. Stop the running stack first: it saves when it stops.")
    parser.parse_args(argv)
    directory = state_dir()
    if directory is None:
        print("RELASI_STATE_DIR=none: the local stack keeps no state; nothing to reset")
        return 0
    done = reset(directory)
    if done is False:
        print(f"error: a running local stack (pid {holder(directory)}) uses {directory} and would save it again "
              "when it stops; stop it (Ctrl-C), then run `make reset`", file=sys.stderr)
        return 1
    print(f"reset: {'deleted the state saved in' if done else 'nothing was saved in'} {directory}; the next "
          "`make run` starts afresh with new demo data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
