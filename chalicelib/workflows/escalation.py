"""Start and stop the complaint escalation workflow (escalation.asl.json).

The state machine waits for each level's time, re-reads the complaint, raises
`escalation_level` with a conditional update and alerts the department's ops
topic (see the ASL's Comment fields). Everything it needs comes in its input,
built here by `escalation_input` (pure, so the schedule is unit-tested):

| level | escalates at (real time)                             | skipped if the status is | overdue measured from |
|-------|------------------------------------------------------|--------------------------|-----------------------|
| L1    | `ack_due_at`                                         | not `open`               | `ack_due_at`          |
| L2    | `resolve_due_at`                                     | `resolved` or `closed`   | `resolve_due_at`      |
| L3    | `resolve_due_at` + (`resolve_due_at` - `created_at`) | `resolved` or `closed`   | `resolve_due_at`      |

L1 skipped (acknowledged in time) goes on to L2; L2 or L3 finding the
complaint resolved or closed ends the execution without an alert, and so does
a complaint that is gone (erased with its customer) at any level. The
conditional update (`escalation_level < level` and a status that still needs
the level) comes before the alert, so a duplicate execution, or someone
acting between the read and the update, skips the alert; a publish that still
fails after its retries leaves the level raised without its alert, and the
failure alert on OPS_TOPIC_ARN names the complaint.

Per level the input carries:
- `escalate_at`: the real time the level is due (the table above);
- `wait_until`: when the execution actually wakes: `now + (escalate_at - now) / time_scale`,
  never before `now` (RELASI_TIME_SCALE=3600 turns an hour into a second; the
  SLA and the due times stored on the complaint stay the real ones);
- `deadline`: the level's deadline (= `escalate_at`); `missed_deadline`: which SLA
  deadline the level is about (`acknowledge` or `resolve`);
- `overdue_minutes`: whole real minutes past that SLA deadline at the moment the
  alert is due, i.e. at `max(escalate_at, now)`: 0 for L1 and L2, one resolve
  window for L3 (more only when the workflow starts after a deadline has passed);
- `only_if_status_in`: the statuses that still need this level.

The input holds ids, department and severity only: no customer PII
enters the execution history or the alerts.

`start` names the execution after the complaint id (`<id>-r<n>` after its n-th
reopen), so a redelivered stream record or a retried consumer never starts a
second workflow: Step Functions refuses a second execution of that name (for 90
days) and the existing one's ARN is returned. A reopen starts a new run from the
reopen: L1 is skipped (the complaint is in progress), L2 falls due at the new
`resolve_due_at`, L3 one resolve window later. `stop` ends the current run when
the complaint is resolved, or erased with its customer. Each level reads the complaint's branch when it alerts, so a
complaint that followed its customer to another branch is alerted there.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib.aws import client as _client
from chalicelib.aws import error_code as _error_code
from chalicelib.config import settings
from chalicelib.domain.clock import iso, parse_iso
from chalicelib.domain.complaints import Complaint
from chalicelib.persistence.complaints import item_key
from chalicelib.workflows.executions import execution_arn, start_once

ASL_FILE = Path(__file__).with_name("escalation.asl.json")


# The statuses that still need each level. The ASL's conditional updates name
# the same statuses (tests/test_workflow_escalation.py checks they agree).
UNRESOLVED = ("open", "acknowledged", "in_progress")
LEVEL_STATUSES: dict[int, tuple[str, ...]] = {1: ("open",), 2: UNRESOLVED, 3: UNRESOLVED}

# Step Functions execution names: 1-80 characters, no spaces or special characters.
_EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


def escalation_input(
    complaint: Complaint,
    *,
    now: datetime,
    time_scale: float,
    table: str,
    topic_arn: str,
    failure_topic_arn: str,
) -> dict[str, Any]:
    """The state machine's input for `complaint`, started at `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not time_scale > 0:
        raise ValueError(f"time_scale must be positive, got {time_scale}")
    now = now.astimezone(UTC)
    created = parse_iso(complaint.reopened_at or complaint.created_at)  # the resolve window's start
    ack_due = parse_iso(complaint.ack_due_at)
    resolve_due = parse_iso(complaint.resolve_due_at)
    schedule = (
        # level, escalates at, missed deadline (name, time)
        (1, ack_due, "acknowledge", ack_due),
        (2, resolve_due, "resolve", resolve_due),
        (3, resolve_due + (resolve_due - created), "resolve", resolve_due),
    )
    levels = []
    for level, escalate_at, missed, missed_at in schedule:
        wait_until = max(now, now + (escalate_at - now) / time_scale)
        overdue = max(escalate_at, now) - missed_at
        levels.append({
            "level": level,
            "escalate_at": iso(escalate_at),
            "wait_until": iso(wait_until),
            "deadline": iso(escalate_at),
            "missed_deadline": missed,
            "overdue_minutes": max(0, int(overdue / timedelta(minutes=1))),
            "only_if_status_in": list(LEVEL_STATUSES[level]),
        })
    return {
        "complaint_id": complaint.id,
        "table": table,
        **item_key(complaint.id),  # the execution reads and updates the complaint item itself
        "topic_arn": topic_arn,
        "failure_topic_arn": failure_topic_arn,
        "department": complaint.department,
        "severity": complaint.severity,
        "levels": levels,
    }


def department_topic_arn(department: str) -> str:
    prefix = settings().department_topic_arn_prefix
    if not prefix:
        raise RuntimeError("DEPARTMENT_TOPIC_ARN_PREFIX is not set")
    return f"{prefix}{department}"


def _execution_name(complaint: Complaint) -> str:
    """The complaint's id, and after its n-th reopen `<id>-r<n>`: one execution per escalation run."""
    name = complaint.id if complaint.reopens == 0 else f"{complaint.id}-r{complaint.reopens}"
    if not _EXECUTION_NAME.fullmatch(name):
        raise ValueError("a complaint id must be a valid execution name")
    return name


def _state_machine_arn() -> str:
    arn = settings().escalation_state_machine_arn
    if not arn:
        raise RuntimeError("ESCALATION_STATE_MACHINE_ARN is not set")
    return arn


def start(complaint: Complaint, now: datetime) -> str:
    """Start the escalation workflow of `complaint` (once); returns the execution ARN."""
    s = settings()
    state_machine = _state_machine_arn()
    if not s.ops_topic_arn:
        raise RuntimeError("OPS_TOPIC_ARN is not set")
    name = _execution_name(complaint)
    payload = escalation_input(
        complaint,
        now=now,
        time_scale=s.time_scale,
        table=s.table_name,
        topic_arn=department_topic_arn(complaint.department),
        failure_topic_arn=s.ops_topic_arn,
    )
    return start_once(state_machine, name, payload)


def stop(complaint: Complaint, *, error: str = "ComplaintResolved",
         cause: str = "The complaint was resolved or closed.") -> bool:
    """Stop the complaint's current escalation (it was resolved, or erased); False if it never started."""
    arn = execution_arn(_state_machine_arn(), _execution_name(complaint))
    try:
        _client("stepfunctions").stop_execution(executionArn=arn, error=error, cause=cause)
    except Exception as error:
        if _error_code(error) == "ExecutionDoesNotExist":
            return False
        raise
    return True
