"""docs/performance.md: the bench results as Markdown (also printed)."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from bench.coldstart import FIRST_REQUEST_TARGET_RATIO, FIRST_STAGES, LABELS, TARGET_RATIO, ColdStart
from bench.dynamodb import BATCH_WRITE_MAX, RequestCounts, delete_formula, summarize
from bench.export import FACTS_FLAT, FLAT_TOLERANCE, NIGHTLY_LIMIT_SHARE, ExportBench, Probe, SizeResult
from bench.export import TARGET_RATIO as EXPORT_TARGET_RATIO
from bench.reminders import (
    DUE_WINDOW_DAYS,
    ON_STOP_LIST,
    TARGET,
    WITH_BIRTHDAY,
    WITH_DUE_ITEMS,
    WITH_EMAIL,
    ReminderBench,
)

PACKAGES = ("boto3", "botocore", "chalice", "pynamodb", "aws-lambda-powertools", "pydantic", "moto")


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def _versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def machine() -> list[str]:
    return [
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {_nproc()} CPUs (nproc), {_cpu_model()}, {platform.system()} {platform.release()}; "
        f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- Packages: {_versions()}",
    ]


def cold_start(c: ColdStart) -> list[str]:
    verdict = "meets" if c.import_ratio <= TARGET_RATIO else "MISSES"
    wall_verdict = "meets" if c.wall_ratio <= TARGET_RATIO else "MISSES"
    lines = [
        "## Cold start",
        "",
        f"Median of {c.runs} fresh processes per probe, interleaved. *import* is timed inside the process "
        "around the import statement; *wall* is the whole `python -c` process (start-up, import, exit) "
        "as the parent sees it.",
        "",
        "| Probe | import, median (min-max) | wall, median (min-max) |",
        "|---|---|---|",
    ]
    for probe in ("python", "floor", "app", "floor_client", "get_customer"):
        s = c.samples[probe]
        imported = "-" if probe == "python" else \
            f"{_ms(c.median_import(probe))} ({_ms(min(s.imports))}-{_ms(max(s.imports))})"
        lines.append(
            f"| {LABELS[probe]} | {imported} | {_ms(c.median_wall(probe))} ({_ms(min(s.walls))}-{_ms(max(s.walls))}) |"
        )
    lines += [
        "",
        "| Ratio / floor | value | target | verdict |",
        "|---|---|---|---|",
        f"| `import app`, import time | {c.import_ratio:.2f} | <= {TARGET_RATIO} | {verdict} |",
        f"| `import app`, process wall time | {c.wall_ratio:.2f} | <= {TARGET_RATIO} | {wall_verdict} |",
        f"| first GET /customers/{{id}}, CPU: `get_customer` / `floor_client` | {c.first_request_ratio:.2f} | "
        f"<= {FIRST_REQUEST_TARGET_RATIO} | "
        f"{'meets' if c.first_request_ratio <= FIRST_REQUEST_TARGET_RATIO else 'MISSES'} |",
        "",
        "What the first requests import on top of the cold start (for information; paid once per "
        f"Lambda instance, by the request that needs it). Median of {c.runs} processes, each stage "
        "timed after the ones above it:",
        "",
        "| Stage | median |",
        "|---|---|",
    ]
    for i, label in enumerate(FIRST_STAGES):
        lines.append(f"| + {label} | {_ms(c.stage_median(i))} |")
    if c.heaviest:
        lines += [
            "",
            "Largest direct imports of `app` (cumulative, one `python -X importtime -c 'import app'` run): "
            + ", ".join(f"`{name}` {_ms(sec)}" for name, sec in c.heaviest) + ".",
        ]
    return lines


REQUESTS_HEADING = "## DynamoDB requests per API operation"


def requests(r: RequestCounts) -> list[str]:
    lines = [
        REQUESTS_HEADING,
        "",
        f"On the local stack (moto) with {r.seeded} seeded demo customers (`infra.seed`, 3 branches, "
        "18 months of history: interactions, complaints), as the demo `admin` unless said otherwise; the "
        "console's pages as htmx asks for their content. Lists use the default page "
        f"size; interactions and timeline use `limit={r.page_size}`. Counts are botocore API calls "
        "(a retry inside botocore would not show; none happen locally). Transactions and batches show the "
        "items they carry, Queries the items they read before any filter (`ScannedCount`); *idempotency* marks "
        "calls on the Powertools idempotency table. `--seed N` seeds more customers; in the bench process moto "
        "backs up a table once per transaction instead of once per item, which changes how fast moto answers, "
        "not what the app sends.",
        "",
        "| Operation | DynamoDB requests | Total | Target | Verdict | Notes |",
        "|---|---|---|---|---|---|",
    ]
    for op in r.ops:
        lines.append(
            f"| {op.name} | {summarize(op.dynamodb)} | {len(op.dynamodb)} | {op.target} | {op.verdict()} "
            f"| {op.note} |"
        )
    lines += _why_misses(r)
    lines += [
        "",
        "A later page of a customer's interactions or timeline costs 2 requests where it cost 1: a cursor "
        "carries a position, not a permission, so every page reads the profile (GetItem) to check the caller's "
        "access to the customer as they are now (the first page finds the profile in its own Query).",
        "",
        "DELETE of a customer with *N* interactions and no complaints (design, chalicelib/persistence/erasure.py: "
        "the profile read consistently; one transaction turns it into an erasure marker, deletes its guards and "
        "records the erasure; complaints are looked for on the timeline index; the customer's partition is read "
        "and deleted until a pass finds nothing; the marker goes last):",
        "",
        f"- GetItem 1 + TransactWriteItems 1 + Query 2 (timeline index, first pass) + Query 1 if N > 0 (the pass "
        f"that finds nothing left) + BatchWriteItem ceil(N/{BATCH_WRITE_MAX}) + DeleteItem 1; each Query one "
        "1 MB page up to about 3,000 interactions",
        f"- total = 5 + (1 if N > 0) + ceil(N/{BATCH_WRITE_MAX}); "
        + ", ".join(f"N={n}: {delete_formula(n)['total']}" for n in (0, 5, 15, 120, 1000))
        + ". The rows above check it against measured deletes; each complaint adds a Query of its case and "
        "history and their deletes.",
    ]
    others = [(op.name, summarize(op.others)) for op in r.ops if op.others]
    lines += ["", "Calls to other AWS services (not counted): "
              + ("; ".join(f"{name}: {s}" for name, s in others) if others else "none.")]
    if r.cold_differences:
        lines += ["", "First pass (cold process) made different calls than the measured warm pass:", ""]
        lines += [f"- {d}" for d in r.cold_differences]
    else:
        lines += ["", "The first pass, in a fresh process, made the same DynamoDB calls as the measured pass."]
    return lines


def _max_queries() -> str:
    try:
        from chalicelib.config import FILTERED_LIST_MAX_QUERIES
    except ImportError:
        return "FILTERED_LIST_MAX_QUERIES"
    return f"FILTERED_LIST_MAX_QUERIES = {FILTERED_LIST_MAX_QUERIES}"


def _why_misses(r: RequestCounts) -> list[str]:
    missed = [op.name for op in r.ops if op.verdict().startswith("MISSES")]
    reasons = []
    if any("tag=" in name for name in missed):
        reasons.append(
            "Tag filter: branch and stage are index keys, but a tag is a filter on the chosen index, and "
            "DynamoDB's `Limit` counts the items read before it; each Query reads 4x the page size and up "
            f"to {_max_queries()} Queries fill one page (`chalicelib/config.py`); a rarer tag needs more, and "
            "at the cap the page comes back short with a cursor."
        )
    if any("cursor page" in name for name in missed):
        reasons.append(
            "Cursor pages of interactions and timeline: the first page's Query returns the profile on top "
            "(it sorts first) for the branch access check; a Query resumed from a cursor does not, so the check "
            "reads the profile with a GetItem. Trusting the signed cursor (bound to the caller's branch scope "
            "and the customer) would drop the GetItem, at the price of not noticing a branch move between pages."
        )
    if not reasons:
        return []
    return ["", "Why the misses:", "", *[f"- {reason}" for reason in reasons]]


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(share: float) -> str:
    return f"{share * 100:g}%"


def late_deliveries(r: Any) -> list[str]:
    from bench.late import LATE_SHARE, ON_THE_WAY_SHARE, requests_line
    from bench.late import TARGET as LATE_TARGET

    return [
        "## Late-deliveries job: items read per late order",
        "",
        f"On the local stack (moto) with {_n(r.orders)} orders built with the order rules and bulk-loaded with "
        f"`persistence.orders.load`: about {_pct(LATE_SHARE)} on their way past their promised date "
        f"({_n(r.late)}), {_pct(ON_THE_WAY_SHARE)} on their way and not late yet, the rest delivered or closed; "
        "the customers of the late orders are loaded too. Then `chalicelib.workflows.orders.late_deliveries` runs "
        f"for {r.day} at its schedule's hour, and again (a schedule that fires twice).",
        "",
        "| Run | found | complaints opened | orders marked | requests | items read |",
        "|---|---|---|---|---|---|",
        f"| first | {_n(r.first['late_found'])} | {_n(r.first['complaints_opened'])} | "
        f"{_n(r.first['orders_marked'])} | {requests_line(r.first_count)} | {_n(r.items_read)} |",
        f"| second, same day | {_n(r.second['late_found'])} | {_n(r.second['complaints_opened'])} | "
        f"{_n(r.second['orders_marked'])} | {requests_line(r.second_count)} | "
        f"{_n(r.second_count.items_read + r.second_count.requests.get('GetItem', 0))} |",
        "",
        "| Items read per late order | value | target | verdict |",
        "|---|---|---|---|",
        f"| The job (the sparse `orders_late` index; the profile only when the customer moved or went) | "
        f"{r.per_late_order:.2f} | <= {LATE_TARGET} | {r.verdict()} |",
        f"| Full scan: table items / late orders | {r.scan_per_late_order:.0f} | - | what a Scan-based job would "
        "read |",
        "",
        f"Table items: {_n(r.table_items)}. Building the orders took {r.build_seconds:.0f} s, loading them "
        f"{r.load_seconds:.0f} s, the first run {r.job_seconds:.1f} s. The writes are one transaction for the "
        "complaint and one for the order per late order; the second run finds nothing (the index holds only "
        "orders not found late yet).",
    ]


def reminders(r: ReminderBench) -> list[str]:
    job, counted = r.job, r.job.counted
    due = ", ".join(f"T-{days} {_n(n)}" for days, n in r.expected_due.items())
    found = f"{_n(r.reminders_due)}"
    if r.reminders_due == r.expected_reminders:
        found += " (as many as the data holds)"
    else:
        found += f" (DIFFERS: the data holds {_n(r.expected_reminders)})"
    reasons = job.report.get("skip_reasons") or {}
    skipped = f"{_n(int(job.report['skipped']))} skipped" + (
        " (" + ", ".join(f"{reason} {_n(n)}" for reason, n in sorted(reasons.items())) + ")" if reasons else "")
    writes = ", ".join(f"{op} {_n(n)}" for op, n in sorted(counted.requests.items())
                       if op not in ("Query", "BatchGetItem", "Scan", "GetItem")) or "none"
    reads = ", ".join(f"{op} {_n(counted.requests[op])}" for op in ("Query", "BatchGetItem", "GetItem", "Scan")
                      if counted.requests[op]) or "none"
    agree = "the two counts agree" if job.items_read == counted.items_read else "the two counts DIFFER"
    lines = [
        "## Daily reminder job: items read per reminder due",
        "",
        f"On the local stack (moto) with {_n(r.customers)} customers, each built by the API's own model and use "
        "case (`CustomerCreate`, `services.customers.build`, as `infra.seed` does) and bulk-loaded with "
        f"`persistence.customers.load`: {_pct(WITH_BIRTHDAY)} gave a birthday (born 1950-2005, any day of the year "
        f"alike), {_pct(WITH_EMAIL)} an email; {_pct(WITH_DUE_ITEMS)} have 1-3 due items (service, installment, "
        f"warranty, contract, custom) due between {-DUE_WINDOW_DAYS[0]} days before and {DUE_WINDOW_DAYS[1]} days "
        f"after the day; {_pct(ON_STOP_LIST)} of the numbers replied STOP. No interaction history is loaded, so "
        "the table is smaller than a real one of that many customers. Then `chalicelib.workflows.reminders.run` "
        f"runs for {r.day} as the schedule fires it ({r.fired_at}, {r.fired_local}), with a `start` that records the "
        "Step Functions executions instead of starting them.",
        "",
        "| Data and run | |",
        "|---|---|",
        f"| Customers | {_n(r.customers)} ({_n(r.with_birthday)} with a birthday, {_n(r.emails)} with an email) |",
        f"| Due items | {_n(r.due_items)} (on {_n(r.with_due_items)} customers) |",
        f"| STOP-list entries | {_n(r.stop_entries)} |",
        f"| Table items before the job | {_n(r.table_items)} (DescribeTable `ItemCount`; written: profiles, phone "
        f"and email guards, due items, STOP entries = {_n(r.written_items)}) |",
        f"| Reminders due on {r.day} | {found}: {_n(r.expected_birthdays)} birthdays; due items {due} |",
        f"| Decided | {_n(int(job.report['pending']))} to send, {skipped} |",
        f"| Executions (recorded, not started) | {_n(job.executions)}; largest input "
        f"{job.largest_input_bytes / 1024:.1f} KB (Step Functions' limit: 256 KB) |",
        f"| Writes of the job | {writes} (one claim and timeline entry per reminder decided) |",
        f"| The job's run time in moto | {job.seconds:.0f} s |",
        "",
        "| Items read by the job, counted by | items read | read requests |",
        "|---|---|---|",
        f"| the job (`RunReport.items_read`, `read_requests`) | {_n(job.items_read)} | {_n(job.read_requests)} |",
        f"| botocore's answers (`_make_api_call` wrapped) | {_n(counted.items_read)}: Query `ScannedCount` "
        f"{_n(counted.query_scanned)} (`Count` {_n(counted.query_returned)}) + BatchGetItem items returned "
        f"{_n(counted.batch_get_items)} ({_n(counted.batch_get_keys)} keys asked)"
        + (f" + Scan {_n(counted.scanned_by_scan)}" if counted.scanned_by_scan else "")
        + f" | {_n(counted.read_requests)}: {reads} |",
        "",
        f"Reminders due: {_n(r.reminders_due)}; {agree}.",
        "",
        "| Items read per reminder due | value | target | verdict |",
        "|---|---|---|---|",
        f"| Daily job (sparse `birthdays` and `due_by_date` indexes) | {r.per_reminder:.2f} "
        f"(botocore: {r.counted_per_reminder:.2f}) | <= {TARGET} | {r.verdict()} |",
        f"| Full scan: table items / reminders due | {r.scan_per_reminder:.0f} | - | what a Scan-based job would "
        "read per reminder |",
        "",
        "What the job reads: one index item per reminder (a profile for a birthday, a due item with its copy of "
        "the contact data for a due date), the STOP-list entries it finds among the numbers an SMS may go to "
        "(BatchGetItem, 100 numbers a request; only listed numbers come back as items), and the claims of an "
        "earlier run of the day (none on a first run; a second run of the same day reads one per reminder). "
        f"Counting customer profiles alone (as the issue's estimate of about 135 seems to), a scan would read "
        f"{r.customers / r.reminders_due:.0f} per reminder; the table also holds the uniqueness guards and "
        "the due items, and in real use every customer's history, so a Scan reads more. Per reminder, the "
        "job's figure does not depend on the number of customers: it reads the day's index items, not the "
        "table.",
    ]
    if r.speedups:
        lines += [
            "",
            "moto, for this section only (what the app sends and what moto answers it unchanged; no one reads "
            "the stream here): "
            + "; ".join(r.speedups) + ". See `bench/reminders.py`.",
        ]
    return lines


def _spread(values: list[float], unit: str = " s", digits: int = 1) -> str:
    """The median, and (min-max) when there is more than one value."""
    middle = f"{statistics.median(values):.{digits}f}{unit}"
    return middle if len(values) == 1 else f"{middle} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _export_size_row(r: SizeResult) -> str:
    return (
        f"| {_n(r.interactions)} ({r.per_customer}/customer) | {_n(r.table_items)} | {_n(r.rows)} "
        f"| {_spread([p.seconds for p in r.exports])} | {_n(round(r.rows_per_second))} "
        f"({_n(round(r.interactions_per_second))} interactions read/s) "
        f"| {_spread([p.peak_rss_mib for p in r.exports], ' MiB', 0)} "
        f"| {_spread([p.seconds for p in r.floors])} | **{r.ratio:.2f}** "
        f"| {r.export_cpu_seconds:.1f} s / {r.floor_cpu_seconds:.1f} s = {r.export_cpu_seconds / r.floor_cpu_seconds:.2f} |"
    )


def _verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


EXPORT_HEADING = "## Analytics export: throughput, peak memory, and the floor of a plain paged read"


def export(r: ExportBench) -> list[str]:
    small, large = r.smallest, r.largest
    runs = ", ".join(f"{len(x.exports)} at {_n(x.interactions)}" for x in r.sizes)
    lines = [
        EXPORT_HEADING,
        "",
        f"On the local stack (moto) with {_n(r.customers)} customers built by the API's model and use case (as in the "
        "reminders section: birthdays, due items, STOP entries), created 2-3 years before the day; "
        f"{_n(r.complaints)} complaints with {_n(r.history_entries)} history entries (moved along by the domain's "
        "transitions); and interactions spread over the two years before the day (weighted channels and kinds, "
        "about 12% the CRM's own messages, i.e. notifications), every item made by the app's persistence "
        "converters and PynamoDB's `serialize` and put straight into moto's table. The table is filled to each "
        "size in turn. The day exported is "
        f"{r.day}; EXPORT_SCAN_SEGMENTS = {r.segments}.",
        "",
        "Each run is a fresh `python -m bench.export` process talking HTTP to moto, so its peak RSS is its own: "
        "VmHWM from /proc/self/status (`getrusage(RUSAGE_SELF).ru_maxrss` would not do: Linux carries the "
        "parent's peak over the exec, and the parent holds moto's table). *Export*: `analytics_export.export_day(day, run_id)`, "
        "what the Lambda function runs (each run re-exports the day: new parts, manifest switched, old parts "
        "deleted). *Floor*: the same Scan (`export_source.scan_pages`, same segments and page size) turning "
        "each item into plain Python (`plain_item`) and nothing else. Both are timed after the same imports; "
        f"floor and export runs alternate; medians (min-max) of {runs} runs. Wall times include moto answering "
        "on the same machine (it shares the CPUs); *CPU* is the probe process's own user+system time.",
        "",
        "| Interactions | table items | rows exported (all datasets) | export wall | rows/s | export peak RSS "
        "| floor wall | ratio export/floor (wall) | CPU export / floor = ratio |",
        "|---|---|---|---|---|---|---|---|---|",
        *[_export_size_row(x) for x in r.sizes],
        "",
    ]
    checks = []
    for x in r.sizes:
        expected = r.customers
        exported = x.exported_customers
        agree = all(x.manifest_rows[name] == int(d["rows"]) for name, d in x.exports[-1].summary.items()
                    if name in x.manifest_rows)  # the facts' parts are listed by the day's facts manifest instead
        checks.append(
            f"at {_n(x.interactions)}: customers exported {_n(exported)} "
            + ("(all of them)" if exported == expected else f"(DIFFERS from the {_n(expected)} loaded)")
            + ("; the manifests announce the same rows as the export's summary" if agree
               else "; the manifests DIFFER from the export's summary")
            + f"; the floor read {_n(x.items_read)} items in {_n(x.pages)} pages"
        )
    lines += ["Rows: " + "; ".join(checks) + ".", ""]
    flat = r.flatness
    base = small.rss_imported_mib
    lam_time = large.export_seconds
    lines += [
        f"| Check ({_n(large.interactions)} interactions unless said) | value | limit | verdict |",
        "|---|---|---|---|",
    ]
    for x in r.sizes:
        lines.append(f"| Export / floor, wall time, at {_n(x.interactions)} | {x.ratio:.2f} "
                     f"| <= {EXPORT_TARGET_RATIO} | {_verdict(x.ratio <= EXPORT_TARGET_RATIO)} |")
    for x in r.sizes:
        cpu_ratio = x.export_cpu_seconds / x.floor_cpu_seconds
        lines.append(f"| Export / floor, CPU time of the process, at {_n(x.interactions)} | {cpu_ratio:.2f} "
                     f"| <= {EXPORT_TARGET_RATIO} | {_verdict(cpu_ratio <= EXPORT_TARGET_RATIO)} |")
    lines += [
        f"| Memory flat: peak RSS at {_n(large.interactions)} / at {_n(small.interactions)} | {flat:.2f} "
        f"({large.peak_rss_mib:.0f} / {small.peak_rss_mib:.0f} MiB; {base:.0f} MiB after imports) "
        f"| <= {1 + FLAT_TOLERANCE:.2f} | {_verdict(flat <= 1 + FLAT_TOLERANCE)} |",
        f"| Lambda memory: export peak RSS | {large.max_peak_rss_mib:.0f} MiB (highest run) "
        f"| {_n(r.lambda_memory_mb)} MB | {_verdict(large.max_peak_rss_mib * 1.048576 <= r.lambda_memory_mb)} |",
        f"| Lambda time: export wall time, locally | {lam_time:.0f} s (CPU {large.export_cpu_seconds:.0f} s) "
        f"| {r.lambda_timeout_s} s | {_verdict(lam_time <= r.lambda_timeout_s)} |",
    ]
    lines += ["", *_ratio_notes(r), "", *_lambda_notes(r)]
    lines += _day_facts(r)
    lines += _backfill(r)
    lines += _profile(r)
    if r.speedups:
        lines += [
            "",
            "moto, for this section only (what the app sends and what moto answers it unchanged; "
            "tests/test_moto_speedups.py compares the Scan answers byte for byte): "
            + "; ".join(r.speedups) + ". See `infra/moto_speedups.py` and `bench/export.py`.",
        ]
    return lines


def _flat_checks(small: SizeResult, large: SizeResult, at_small: list[Probe], at_large: list[Probe],
                 timeout_s: int) -> list[str]:
    """Whether probes of the largest history took what they took at the smallest: wall, CPU and peak memory
    within FACTS_FLAT, the wall time under NIGHTLY_LIMIT_SHARE of the Lambda limit."""
    def ratio(what: str) -> float:
        return statistics.median(getattr(p, what) for p in at_large) / statistics.median(
            getattr(p, what) for p in at_small)

    wall, cpu, memory = ratio("seconds"), ratio("cpu_seconds"), ratio("peak_rss_mib")
    share = statistics.median(p.seconds for p in at_large) / timeout_s
    return [
        "",
        f"| Check ({_n(large.interactions)} against {_n(small.interactions)} interactions of history) | value "
        "| limit | verdict |",
        "|---|---|---|---|",
        f"| Wall time, largest / smallest history | {wall:.2f} | <= {FACTS_FLAT} | {_verdict(wall <= FACTS_FLAT)} |",
        f"| CPU time, largest / smallest history | {cpu:.2f} | <= {FACTS_FLAT} | {_verdict(cpu <= FACTS_FLAT)} |",
        f"| Peak memory, largest / smallest history | {memory:.2f} | <= {FACTS_FLAT} "
        f"| {_verdict(memory <= FACTS_FLAT)} |",
        f"| Share of the Lambda limit ({timeout_s} s), wall | {share:.1%} | < {NIGHTLY_LIMIT_SHARE:.0%} "
        f"| {_verdict(share < NIGHTLY_LIMIT_SHARE)} |",
    ]


def _day_facts(r: ExportBench) -> list[str]:
    """The day's facts export (`export_changes`) at each size of history: what follows the day, not history."""
    measured = [x for x in r.sizes if x.facts]
    if not measured:
        return []
    small, large = measured[0], measured[-1]
    lines = [
        "",
        "### The day's facts: what the nightly run reads from the change log",
        "",
        f"{_n(r.day_facts)} interactions of {r.day} itself (notifications among them) are put into the table "
        "and logged by `change_log.record` from stream records as the consumer logs them; the same change log at "
        "every size. *Facts*: `analytics_export.export_changes(day, ...)` alone, the part of the nightly run that "
        "reads only the day (one Query per log shard, one BatchGetItem per 100 facts) and writes each fact into "
        f"the partition of the day it happened. Fresh process per run; medians (min-max) of {len(small.facts)} "
        "runs.",
        "",
        "| History (interactions in the table) | fact rows | wall | CPU | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for x in measured:
        lines.append(f"| {_n(x.interactions)} | {_n(x.facts[0].rows)} | {_spread([p.seconds for p in x.facts])} "
                     f"| {_spread([p.cpu_seconds for p in x.facts])} "
                     f"| {_spread([p.peak_rss_mib for p in x.facts], ' MiB', 0)} |")
    lines += _flat_checks(small, large, small.facts, large.facts, r.lambda_timeout_s)
    small_requests, large_requests = sum(small.facts[0].requests.values()), sum(large.facts[0].requests.values())
    if small_requests and large_requests:
        shown = ", ".join(f"{op} {n:,}" for op, n in sorted(large.facts[0].requests.items()))
        lines += [
            "",
            f"The work is the day's whatever the history's size: a facts run made {_n(small_requests)} AWS requests at "
            f"{_n(small.interactions)} interactions of history and {_n(large_requests)} at "
            f"{_n(large.interactions)} ({shown}), the same rows into the same parts; a difference in time between "
            "the sizes is the machine's (the larger runs share it with moto holding the larger table), not work "
            "that grows with history.",
        ]
    return lines


NIGHTLY_HEADING = "## The nightly run: what busier customers cost it"  # the larger sizes' interactions among
OLDER_NIGHTLY_HEADING = "## The nightly run: what older history costs it"  # ... and before the smallest's


def nightly_heading(r: ExportBench) -> str:
    return OLDER_NIGHTLY_HEADING if r.older_history else NIGHTLY_HEADING


def nightly(r: ExportBench) -> list[str]:
    """The nightly run (`export_day(day, run_id, full=False)`) at each size of history: its cost follows customers,
    complaints and orders, and the day's facts; not the interactions of history."""
    measured = [x for x in r.sizes if x.nightly]
    if not measured:
        return []
    small, large = measured[0], measured[-1]
    lines = [
        nightly_heading(r),
        "",
        f"On the local stack (moto) with {_n(r.customers)} customers, {_n(r.complaints)} complaints and "
        f"{_n(r.history_entries)} complaint history entries, and interactions (about 12% the CRM's own messages) "
        + (f"spread over the two years before {r.day} at the smallest size; each larger size adds its interactions "
           "before those, at the same density (a company growing older: each customer's last two years stay as "
           "they were)" if r.older_history else
           f"spread over the two years before {r.day}, filled to each size in turn (the customers grow busier: "
           "each customer's last 400 days hold more contacts at each size)")
        + ", with each customer's engagement item as the stream consumer and the nightly prune leave it; the day "
        "itself brought "
        f"{_n(r.day_facts_logged)} interactions, logged by the change log. *Nightly run*: "
        "`analytics_export.export_day(day, run_id, full=False)`, what the schedule runs on a night that is not "
        "the weekly compaction's: customers through `customers_all` with their engagement items and opt-outs (a "
        "BatchGetItem per 100 customers), complaints through `complaints_all`, orders through `orders_all`, the "
        "day's facts and changes from the change log; no Scan. Fresh process per run; medians (min-max) of "
        f"{len(small.nightly)} runs.",
        "",
        "| History (interactions in the table) | table items | rows written | wall | CPU | peak RSS | AWS requests |",
        "|---|---|---|---|---|---|---|",
    ]
    for x in measured:
        requests = ", ".join(f"{op} {n:,}" for op, n in sorted(x.nightly[-1].requests.items()))
        lines.append(f"| {_n(x.interactions)} | {_n(x.table_items)} | {_n(x.nightly[-1].rows)} "
                     f"| {_spread([p.seconds for p in x.nightly])} | {_spread([p.cpu_seconds for p in x.nightly])} "
                     f"| {_spread([p.peak_rss_mib for p in x.nightly], ' MiB', 0)} | {requests} |")
    lines += [
        *_flat_checks(small, large, small.nightly, large.nightly, r.lambda_timeout_s),
        "",
        "The weekly full run (the compaction, and any run asked for) still reads the whole table: the section "
        "on the export's throughput, below, measures it.",
    ]
    if r.speedups:
        lines += ["", "moto, for this section only: " + "; ".join(r.speedups) + ". See `infra/moto_speedups.py`."]
    return lines


BACKFILL_SEGMENT_LIMIT_S = 300  # the issue's: no segment of a backfill above 5 minutes
BACKFILL_TARGET_ITEMS = 5_000_000  # the backfill the issue asks about


def _backfill(r: ExportBench) -> list[str]:
    """The facts backfill: each scan segment's invocation at each size, and what that says of a 5M backfill."""
    from chalicelib.config import BACKFILL_ITEMS_PER_SEGMENT
    from chalicelib.workflows.backfill import segments_for

    measured = [x for x in r.sizes if x.backfill]
    if not measured:
        return []
    lines = [
        "",
        "### The facts backfill: one invocation per scan segment",
        "",
        "`chalicelib.workflows.backfill.run_segment` for each segment of the table (as many as `segments_for` "
        f"gives: one per {_n(BACKFILL_ITEMS_PER_SEGMENT)} items), each in a fresh process as the state machine's "
        "invocations are, one after the other here (the state machine runs four at a time), then `finish`; "
        f"everything up to {r.day} is the backfill's (its `before` is the day after).",
        "",
        "| Items in the table | segments | fact rows | slowest segment: wall | CPU | peak RSS | median segment: "
        "wall | finish: wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for x in measured:
        slowest = max(x.backfill, key=lambda p: p.seconds)
        finish = x.backfill_finish.seconds if x.backfill_finish else 0.0
        lines.append(f"| {_n(x.table_items)} | {len(x.backfill)} | {_n(sum(p.rows for p in x.backfill))} "
                     f"| {slowest.seconds:.1f} s | {slowest.cpu_seconds:.1f} s | {slowest.peak_rss_mib:.0f} MiB "
                     f"| {statistics.median(p.seconds for p in x.backfill):.1f} s | {finish:.1f} s |")
    large = measured[-1]
    slowest = max(p.seconds for p in large.backfill)
    per_segment = large.table_items / len(large.backfill)
    projected = slowest * BACKFILL_ITEMS_PER_SEGMENT / per_segment
    segments = segments_for(BACKFILL_TARGET_ITEMS)
    lines += [
        "",
        "| Check | value | limit | verdict |",
        "|---|---|---|---|",
        f"| Slowest segment at {_n(large.table_items)} items ({_n(round(per_segment))} items a segment) | "
        f"{slowest:.1f} s | < {BACKFILL_SEGMENT_LIMIT_S} s | {_verdict(slowest < BACKFILL_SEGMENT_LIMIT_S)} |",
        f"| A {_n(BACKFILL_TARGET_ITEMS)}-item backfill: {segments} segments of at most "
        f"{_n(BACKFILL_ITEMS_PER_SEGMENT)} items; the slowest segment scaled to that many items | {projected:.1f} s "
        f"| < {BACKFILL_SEGMENT_LIMIT_S} s | {_verdict(projected < BACKFILL_SEGMENT_LIMIT_S)} |",
        "",
        "A segment's work is its share of the table, whatever the table's size; the 5,000,000-item row is that "
        "share measured here and scaled, not a 5,000,000-item run (loading 5M items into moto does not fit a "
        "bench run).",
    ]
    return lines


def _ratio_notes(r: ExportBench) -> list[str]:
    """What the two ratios say, and the export's CPU beyond the floor split into a fixed part and a per-item part."""
    text = (
        "Reading the ratios: the issue's ratio is of times. Locally the floor waits for moto page after page, "
        "while the export reads ahead in a thread (EXPORT_PREFETCH_GROUP_BATCHES pages), so moto's serving "
        "overlaps the export's work and the wall ratio flatters the export as the table grows. The CPU ratio "
        "compares the two processes' own work (botocore's parsing is in both), which is what one vCPU pays; "
        "DynamoDB's latency would add to the floor's wall time what the read-ahead hides in the export's."
    )
    extra = [(x.items_read, x.export_cpu_seconds - x.floor_cpu_seconds) for x in r.sizes]
    if len(extra) >= 2 and extra[-1][0] != extra[0][0]:
        (n1, e1), (n2, e2) = extra[0], extra[-1]
        per_item = (e2 - e1) / (n2 - n1)
        fixed = e1 - per_item * n1
        text += (
            f" The export's CPU beyond the floor's: {e1:.1f} s at {_n(r.smallest.interactions)} interactions, "
            f"{e2:.1f} s at {_n(r.largest.interactions)}, i.e. about {fixed:.1f} s per run whatever the number of "
            f"interactions (the {_n(r.customers)} customers' rows and lookups, the analyses, the day's "
            f"{_n(r.day_facts)} facts from the change log, which the floor does not read, S3) plus "
            f"{per_item * 1e6:.0f} µs per item read; the fixed part is why the ratio is higher on the smaller table."
        )
    return [text]


def _profile(r: ExportBench) -> list[str]:
    main, readers = r.profile_main, r.profile_readers
    if main is None:
        return []
    lines = [
        "",
        f"Where the export's time goes: cProfile of one more export at {_n(r.profiled_at)} interactions, CPU time "
        "per thread (`time.thread_time`; the profiler's own cost per call inflates functions called very often). "
        f"The export's own thread spent {main.total_seconds:.1f} s"
        + (f", the Scan's reader thread (the floor's work: Scan pages, botocore's parsing, `plain_item`) "
           f"{readers.total_seconds:.1f} s" if readers else "")
        + ". The export's own thread, the app's functions by time with callees, and all functions by own time:",
        "",
        "| App function | with callees | share | own time |",
        "|---|---|---|---|",
        *[f"| `{name}` | {cum:.2f} s | {cum / main.total_seconds:.0%} | {tot:.2f} s |" for name, tot, cum in main.app],
        "",
        "| Function | own time | share | with callees |",
        "|---|---|---|---|",
        *[f"| `{name}` | {tot:.2f} s | {tot / main.total_seconds:.0%} | {cum:.2f} s |" for name, tot, cum in main.top],
    ]
    if readers:
        lines += [
            "",
            "The reader thread: "
            + ", ".join(f"`{name}` {tot:.1f} s ({tot / readers.total_seconds:.0%})" for name, tot, _ in readers.top[:6])
            + ".",
        ]
    return lines


def _lambda_notes(r: ExportBench) -> list[str]:
    large = r.largest
    wall, cpu = large.export_seconds, large.export_cpu_seconds
    share = wall / r.lambda_timeout_s
    notes = [
        f"Against the Lambda limits ({r.lambda_timeout_s} s, {_n(r.lambda_memory_mb)} MB, which is one full vCPU): "
        f"the export of {_n(large.interactions)} interactions took {wall:.0f} s of wall time here "
        f"({share:.0%} of the limit), {cpu:.0f} s of it the export process's own CPU; the rest is mostly moto "
        f"serving the Scan on the same machine (the floor: {large.floor_seconds:.0f} s wall, "
        f"{large.floor_cpu_seconds:.0f} s CPU in the reading process). On Lambda the reading process's CPU stays "
        "(botocore parses every page) while moto's share becomes DynamoDB's latency, which the export's reader "
        "thread overlaps with the work; this machine's cores and Lambda's vCPU are not the same speed, so the "
        "CPU seconds are an estimate, not a promise.",
    ]
    if wall > r.lambda_timeout_s or cpu > 0.7 * r.lambda_timeout_s:
        per_minute = large.interactions / wall * 60
        needed = max(2, -(-int(wall * 1.5) // r.lambda_timeout_s))
        notes += [
            "",
            f"One invocation does not fit with a margin. At {_n(round(per_minute))} interactions a minute, split by "
            f"scan segment: EXPORT_SCAN_SEGMENTS threads inside one invocation overlap DynamoDB's latency but "
            "share one vCPU (the export's CPU does not shrink), so the split that scales is one invocation per "
            f"segment (Segment/TotalSegments = {needed} or more, each writing its own parts, the manifests written "
            "once all segments are done); that needs a change in chalicelib/workflows/analytics.py.",
        ]
    else:
        notes += [
            "",
            f"One invocation fits: {wall:.0f} s is {share:.0%} of the time limit. Were the table to grow about "
            f"{r.lambda_timeout_s / wall:.0f}x, the split would be by scan segment (one invocation per segment, "
            "each writing its own parts, the manifests written once all are done; EXPORT_SCAN_SEGMENTS threads "
            "inside one invocation only overlap DynamoDB's latency, they share one vCPU).",
        ]
    return notes


def campaigns(r: Any) -> list[str]:
    from bench.campaigns import READ_TARGET, WRITE_TARGET, requests_line

    read_verdict, write_verdict = r.verdicts()
    extra = r.written_per_message - 2
    return [
        CAMPAIGNS_HEADING,
        "",
        f"On the local stack (moto) with {_n(r.customers)} customers built and loaded as in the reminders section "
        "(consent, STOP list, languages alike), a campaign to all of them is written and scheduled through the use "
        "cases, and `chalicelib.workflows.campaigns.step` (what the `campaign-sender` function runs) is called as "
        f"the state machine calls it: until the audience is fixed ({_n(r.matched)} rows written), then for "
        f"{_n(r.sent)} messages (sending all of them at 10 parts a second would take hours of wall time; a page of "
        "100 rows is the same work each time). The rate is lifted and the window opened for the bench (the pacing "
        "and the window are tested in `tests/test_campaigns.py`).",
        "",
        "| Measure | value | target | verdict |",
        "|---|---|---|---|",
        f"| Items read per audience member while the audience is fixed (the customers' index; the STOP list's "
        f"entries found) | {r.read_per_member:.3f} | <= {READ_TARGET:g} | {read_verdict} |",
        f"| Items written per message sent | {r.written_per_message:.3f} | <= {WRITE_TARGET:g} | {write_verdict}"
        f"{' (2 in the claim; ' + f'{extra:.3f}' + ' amortized: a second of sending, a page of counters)' if extra > 0 else ''} |",
        f"| Items read per message sent (its row, the rows of the other arms on its page, the profile, the cap) | "
        f"{r.read_per_message:.2f} | - | - |",
        f"| The largest state the state machine carries (execution input, every step's output) | "
        f"{r.largest_state_bytes} bytes | far below 256 KB | {'meets' if r.largest_state_bytes < 8192 else 'MISSES'} |",
        f"| Time to fix the audience ({r.snapshot_steps} steps of one page) | {r.snapshot_seconds:.0f} s | - | "
        "moto's time; DynamoDB's is a Query page and 20 BatchWriteItem requests per 500 customers |",
        "",
        f"Requests while fixing the audience: {requests_line(r.snapshot)}. While sending: "
        f"{requests_line(r.sending)} ({r.send_seconds:.0f} s for {_n(r.sent)} messages in moto). Loading the "
        f"customers took {r.load_seconds:.0f} s.",
    ]


FACTS_FORMAT_HEADING = "## Facts files: Parquet against gzipped JSON Lines"


def facts_format(r: Any) -> list[str]:
    """bench/facts_format.py: one day's contacts each way."""
    from bench.facts_format import QUERY_COLUMNS

    share = r.parquet_query_bytes / r.json_gz_bytes if r.json_gz_bytes else 0.0
    return [
        FACTS_FORMAT_HEADING,
        "",
        f"One day's `interaction_events` ({_n(r.rows)} contacts, spread as in the export bench below) made into "
        "one part each way, as the export makes them (`bench/facts_format.py`; median of "
        f"{r.runs} runs, CPU time):",
        "",
        "| | gzipped JSON Lines (schema 7) | Parquet, ZSTD (schema 8) |",
        "|---|---|---|",
        f"| the file | {_n(r.json_gz_bytes)} bytes | {_n(r.parquet_bytes)} bytes "
        f"({r.parquet_bytes / r.json_gz_bytes:.2f}x) |",
        f"| what Athena reads for contacts per {' and '.join(f'`{c}`' for c in QUERY_COLUMNS)} | "
        f"{_n(r.json_gz_bytes)} bytes (the whole file) | {_n(r.parquet_query_bytes)} bytes ({share * 100:.1f}% of the "
        "JSON) |",
        f"| CPU to make it | {r.gzip_cpu_s * 1000:.0f} ms (rows to gzipped lines) | "
        f"+ {r.parquet_cpu_s * 1000:.0f} ms (those bytes to Parquet, in DuckDB) |",
        "",
        f"A facts part costs {r.parquet_cpu_s / r.rows * 1e6:.1f} µs of CPU per row on top of what every part "
        f"costs: {r.parquet_cpu_s / 900 * 100:.2f}% of Lambda's 15 minutes for a day of {_n(r.rows)} contacts.",
    ]


CAMPAIGNS_HEADING = "## Campaigns: reads per audience member, writes per message, the state's size"


def document(cold: ColdStart | None, counts: RequestCounts | None, seconds: float,
             reminder_run: ReminderBench | None = None, export_run: ExportBench | None = None,
             late_run: Any = None, campaign_run: Any = None, facts_format_run: Any = None) -> str:
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (`python -m bench`, see `bench/`); run it again rather than editing this page.",
        "",
        "Four budgets: the **cold start** (the import cost of `app` in a fresh process, against the floor "
        "`import boto3, chalice` that any Chalice app on boto3 pays), the **DynamoDB requests** each API "
        "operation makes (DynamoDB bills, and adds latency, per request), the **items the daily reminder "
        "job reads** per reminder due on a large table (DynamoDB bills reads by what they read, and a Scan "
        "reads every item), and the **analytics export's** throughput and peak memory against a plain paged "
        "read of the same table, within the Lambda function's limits; besides, the bytes of the **facts files** "
        "(Athena bills the bytes a query reads), Parquet against gzipped JSON Lines. The requests are counted on the "
        "local stack, driving the app the way the tests do (moto in-process, `chalice.test.Client` behind the "
        "local API Gateway, real Cognito ID tokens), by wrapping botocore's `BaseClient._make_api_call`, "
        "which every client goes through (PynamoDB's and the idempotency layer's boto3 client alike).",
        "",
        *machine(),
        f"- Bench run time: {seconds:.0f} s",
    ]
    if counts is not None:
        lines.append(f"- Seeding {counts.seeded} customers took {counts.seed_seconds:.0f} s")
    if reminder_run is not None:
        lines.append(f"- Reminders section: building {_n(reminder_run.customers)} customers took "
                     f"{reminder_run.build_seconds:.0f} s, loading them {reminder_run.load_seconds:.0f} s, "
                     f"the job {reminder_run.job.seconds:.0f} s")
    if export_run is not None:
        lines.append(f"- Export section: {export_run.seconds:.0f} s in all; building and loading "
                     f"{_n(export_run.customers)} customers {export_run.build_seconds:.0f} s, the interactions "
                     + ", ".join(f"{x.load_seconds:.0f} s (to {_n(x.interactions)})" for x in export_run.sizes))
    if cold is not None:
        lines += ["", *cold_start(cold)]
    if counts is not None:
        lines += ["", *requests(counts)]
    if reminder_run is not None:
        lines += ["", *reminders(reminder_run)]
    if late_run is not None:
        lines += ["", *late_deliveries(late_run)]
    if campaign_run is not None:
        lines += ["", *campaigns(campaign_run)]
    if facts_format_run is not None:
        lines += ["", *facts_format(facts_format_run)]
    if export_run is not None:
        lines += ["", *nightly(export_run), "", *export(export_run)]
    return "\n".join(lines) + "\n"


def with_section(document_text: str, heading: str, section: list[str]) -> str:
    """`document_text` with the section under `heading` replaced by `section` (added before the export's
    section, or at the end, when it has none): one section measured again, the others kept as they were."""
    lines = document_text.rstrip("\n").split("\n")
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = [*section, ""] if end < len(lines) else section
    else:
        at = next((i for i, line in enumerate(lines) if line.startswith("## Analytics export")), len(lines))
        lines[at:at] = [*section, ""] if at < len(lines) else ["", *section]
    return "\n".join(lines) + "\n"
