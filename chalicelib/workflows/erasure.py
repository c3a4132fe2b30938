"""The erasure sweeper (`erasure-sweeper` in app.py, hourly): finishes erasures cut short and erases
anything of an erased customer found since.

Every erasure leaves a record when it begins (the customer id and the time,
nothing else; chalicelib/persistence/erasure.py). The sweeper reads the records
of the last ERASURE_SWEEP_DAYS UTC days and, for each, erases what is still
there: an erasure that was cut short (its marker is still the profile) is
resumed and finished; items found for an erasure that had finished are
orphans, which nothing should leave (every write checks the profile), so they
are counted (`ErasureOrphansErased`, alarmed in infra/template.yaml) as well
as erased. A record whose erasure is found complete, with nothing left, at
least ERASURE_RECHECK_AFTER_MINUTES after it began is deleted; DynamoDB's TTL
removes any other after ERASURE_RECORD_TTL_DAYS.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.config import ERASURE_RECHECK_AFTER_MINUTES, ERASURE_SWEEP_DAYS


def sweep(now: datetime) -> dict[str, int]:
    """One pass over the erasures of the last ERASURE_SWEEP_DAYS days; returns counts (no ids)."""
    from chalicelib.domain.clock import parse_iso
    from chalicelib.domain.customers import Erasure
    from chalicelib.persistence import customers, erasure

    checked = resumed = orphans = forgotten = 0
    for back in range(ERASURE_SWEEP_DAYS):
        day = (now - timedelta(days=back)).date().isoformat()
        for customer_id, started_at in erasure.begun_on(day):
            checked += 1
            state = customers.get_state(customer_id, consistent=True)
            if state is not None and not isinstance(state, Erasure):
                continue  # a live customer under that id: never erase one (ids are not reused)
            erased = erasure.erase_owned(customer_id)
            if isinstance(state, Erasure):
                erasure.finish(customer_id)
                resumed += 1
            elif erased:
                orphans += erased
            elif now - parse_iso(started_at) >= timedelta(minutes=ERASURE_RECHECK_AFTER_MINUTES):
                erasure.forget(customer_id, started_at)
                forgotten += 1
    return {"erasures_checked": checked, "erasures_resumed": resumed, "orphans_erased": orphans,
            "records_deleted": forgotten}


def on_schedule(event_time: str) -> dict[str, Any]:
    from chalicelib.domain.clock import parse_iso
    from chalicelib.observability import count, flush, logger

    report = sweep(parse_iso(event_time))
    logger().info("erasure sweep", extra=report)  # counts only
    count("ErasuresResumed", report["erasures_resumed"])
    count("ErasureOrphansErased", report["orphans_erased"])
    flush()
    return report
