"""Reconciling the live counters with a recount of the table (the `counters-reconcile` job, nightly after the export).

The counters (chalicelib/domain/aggregates.py) are kept record by record from
the table's stream, each record exactly once, so at any time they equal the
sum of the contributions of the items in the table, unless a record never
arrived: dead-lettered and not redriven within the stream's 24 hours, a bug,
a hand edit of the table. Then they drift for good. This job recounts:

1. reads every counter of the scopes (ALL, unknown and settings().branches);
2. recounts the table with the export's reader: every item decoded as its
   stream record's image would be, summed with `domain.aggregates.total`;
3. reads the counters again: a counter that changed meanwhile is not judged;
4. a counter whose recount differs has *drift*. Drift can be a record still on
   its way (the stream is seconds behind; a failing record is retried for a
   while), so it is repaired only when the previous run, at least
   COUNTERS_DRIFT_CONFIRM_AFTER_SECONDS earlier, found the same drift on the
   same counter, and only while the dead-letter queue is empty (a redriven
   record would count what a repair had already added);
5. stores what it found for the next run with a conditional write on the
   previous run's id: of two runs at once one stores and repairs, the other
   repairs nothing ("superseded"); then repairs by ADD, which commutes with
   the stream's own ADDs.

A repair that a retry of the job would repeat is impossible: a repaired
counter's drift is gone, so the retry finds nothing alike to confirm.
Metrics: CounterDriftFound (drifting counters, confirmed or not),
CounterDriftConfirmed (alarmed: infra/template.yaml CounterDriftAlarm) and
CountersRepaired. The report names counters, never customers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from chalicelib.config import COUNTERS_DRIFT_CONFIRM_AFTER_SECONDS, COUNTERS_DRIFT_MAX_KEPT, settings
from chalicelib.domain.aggregates import ALL, UNKNOWN_BRANCH, CounterKey, confirmed, drift, total
from chalicelib.domain.clock import iso, parse_iso
from chalicelib.observability import count, flush, logger

REPORTED_REPAIRS = 50  # repaired counters listed in the job's result


def _largest(found: dict[CounterKey, int], limit: int) -> dict[CounterKey, int]:
    return dict(sorted(found.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:limit])


def reconcile(at: datetime, run_id: str | None = None) -> dict[str, Any]:
    """One reconciliation as of `at` (the schedule's time); returns its report."""
    from chalicelib.persistence import aggregates, changes, dead_letters

    run_id = run_id or str(uuid.uuid4())
    scopes = {ALL, UNKNOWN_BRANCH, *settings().branches}
    previous = aggregates.last_reconciliation()
    before = aggregates.read_all(scopes)
    expected = {k: n for k, n in total(changes.stored()).items() if k.scope in scopes}
    after = aggregates.read_all(scopes)
    found, moved = drift(expected, before, after)
    waiting = dead_letters.waiting()
    report: dict[str, Any] = {"run_id": run_id, "at": iso(at), "counters": len(after), "moving": moved,
                              "drifting": len(found), "confirmed": 0, "repaired": 0, "dead_letters_waiting": waiting}
    if previous is not None and (at - parse_iso(previous.at)).total_seconds() < COUNTERS_DRIFT_CONFIRM_AFTER_SECONDS:
        # Too soon to tell a lost record from one on its way: judged by a later run against `previous`.
        status, sure = "too_soon", {}
    else:
        sure = confirmed(found, previous.drift) if previous is not None else {}
        repair = sure if waiting == 0 else {}
        kept = _largest({k: d for k, d in found.items() if k not in repair}, COUNTERS_DRIFT_MAX_KEPT)
        if not aggregates.record_reconciliation(aggregates.Reconciliation(run_id, iso(at), kept), previous):
            status, repair = "superseded", {}
        else:
            aggregates.add(repair)
            status = "repaired" if repair else "held" if sure else "drifting" if found else "clean"
        report["repaired"] = len(repair)
        report["repaired_counters"] = [{"scope": k.scope, "period": k.period, "name": k.name, "by": d}
                                       for k, d in _largest(repair, REPORTED_REPAIRS).items()]
    report["confirmed"] = len(sure)
    count("CounterDriftFound", len(found))
    count("CounterDriftConfirmed", len(sure))
    count("CountersRepaired", report["repaired"])
    flush()
    logger().info("counters reconciled", extra={k: v for k, v in report.items() if k != "repaired_counters"})
    return {"status": status, **report}


def on_schedule(event_time: str) -> dict[str, Any]:
    """The nightly run (and `make trigger JOB=counters-reconcile`): as of the event's time."""
    return reconcile(parse_iso(event_time))
