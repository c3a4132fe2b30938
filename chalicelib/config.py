"""Typed settings, read once from environment variables.

Every number the product promises lives here, with its unit in the name.
Stages set the variables in `.chalice/config.json`; the `infra/` template
injects resource names in the cloud and the local stack injects them locally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

# API limits
MAX_BODY_BYTES = 256 * 1024
PAGE_LIMIT_DEFAULT = 25
PAGE_LIMIT_MAX = 100
# Listing with a filter (stage, tag, branch on name search) reads at most this
# many index pages to fill one response page; past that it returns a short page
# with a cursor, so one request never turns into an unbounded read.
FILTERED_LIST_MAX_QUERIES = 5
# A pagination cursor is honoured this long after it was issued.
CURSOR_TTL_SECONDS = 15 * 60
# The cursor-signing key (Secrets Manager, CURSOR_SECRET_ARN) is read again after this long; a cursor
# that matches neither the current nor the previous key makes a container read it again at once,
# at most once per CURSOR_KEY_REFRESH_MIN_SECONDS (a rotation reaches every container that fast).
CURSOR_KEY_CACHE_SECONDS = 5 * 60
CURSOR_KEY_REFRESH_MIN_SECONDS = 30
# A filtered Query reads this many times the page size per request (at most
# FILTER_WINDOW_MAX_ITEMS); items past the page are not returned, and the
# cursor resumes after the last item returned.
FILTER_WINDOW_FACTOR = 4
FILTER_WINDOW_MAX_ITEMS = 400

# Field bounds
NAME_MAX_CHARS = 200
ADDRESS_MAX_CHARS = 500
CITY_MAX_CHARS = 100
TAG_MAX_CHARS = 32
TAGS_MAX_ITEMS = 20
ATTRIBUTES_MAX_ITEMS = 20
ATTRIBUTE_KEY_MAX_CHARS = 40
ATTRIBUTE_VALUE_MAX_CHARS = 256
SUMMARY_MAX_CHARS = 4000
# The earliest time an interaction may be dated (its id is made from it); later than now is refused too.
INTERACTIONS_EARLIEST_UTC = "2000-01-01T00:00:00+00:00"
REF_MAX_CHARS = 100
CONSENT_SOURCE_MAX_CHARS = 64

# Complaint SLA per severity: acknowledge within / resolve within, in hours.
SLA_ACK_WITHIN_HOURS = {"critical": 1, "high": 4, "medium": 8, "low": 24}
SLA_RESOLVE_WITHIN_HOURS = {"critical": 8, "high": 24, "medium": 72, "low": 7 * 24}
# A closed complaint can be reopened this long after it was closed.
REOPEN_CLOSED_WITHIN_DAYS = 14
SUBJECT_MAX_CHARS = 200
DESCRIPTION_MAX_CHARS = 4000
ASSIGNEE_MAX_CHARS = 100
RESOLUTION_NOTE_MAX_CHARS = 2000

SYSTEM_STAFF_ID = "relasi"  # staff_id of what the CRM does by itself

# Reminders (chalicelib/domain/reminders.py, chalicelib/workflows/reminders.py)
# Due-date reminders go out this many days before the due date (0 = on the day).
REMINDER_OFFSETS_DAYS = (7, 1, 0)
# Nothing is sent from QUIET_HOURS_START_HOUR until QUIET_HOURS_END_HOUR, local
# time (settings().timezone); a run inside them sends at QUIET_HOURS_END_HOUR.
QUIET_HOURS_START_HOUR = 21
QUIET_HOURS_END_HOUR = 8
# The daily job fires at this local hour unless REMINDERS_LOCAL_HOUR says otherwise
# (read when app.py is imported, i.e. by `chalice package`: Chalice's Cron is UTC).
REMINDERS_LOCAL_HOUR_DEFAULT = 8
# Messages per execution of the reminders state machine: its input (keys only,
# about 100 bytes per message) stays far below Step Functions' 256 KB payload
# limit, and its history (about 30 events per message) below the 25,000 events
# a standard execution may have.
REMINDERS_PER_EXECUTION = 200
# The state machine's Map sends at most REMINDERS_SEND_CONCURRENCY messages at once
# (MaxConcurrency in reminders.asl.json) and each takes at least
# REMINDERS_PACE_SECONDS: at most 20 messages a second per execution, the default
# SNS SMS quota (MPS) of an account; the executions of a day are started one
# throughput slot apart so they do not overlap.
REMINDERS_SEND_CONCURRENCY = 20
REMINDERS_PACE_SECONDS = 1
DUE_TITLE_MAX_CHARS = 200
DUE_AMOUNT_MAX = 999_999_999_999.99
# A customer's due items are listed in one response, soonest first.
DUE_ITEMS_MAX_PER_CUSTOMER = 100

# Erasure (chalicelib/persistence/erasure.py): the sweeper (chalicelib/workflows/erasure.py, hourly)
# re-checks the erasures of the last ERASURE_SWEEP_DAYS UTC days from the records they leave; a record
# is deleted once a sweep at least ERASURE_RECHECK_AFTER_MINUTES after the erasure began finds nothing
# left, and by DynamoDB's TTL after ERASURE_RECORD_TTL_DAYS whatever happens.
ERASURE_SWEEP_DAYS = 2
ERASURE_RECHECK_AFTER_MINUTES = 15
ERASURE_RECORD_TTL_DAYS = 7
# A DELETE that finds the customer changed under it reads it again, at most this many times.
ERASURE_BEGIN_ATTEMPTS = 5
# A write that finds the customer changed under it (moved to another branch) reads it again, at most this many times.
STALE_READ_ATTEMPTS = 3

# Idempotency-Key records live this long
IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60
IDEMPOTENCY_KEY_MAX_CHARS = 128

# Real-time aggregates (chalicelib/domain/aggregates.py), kept from the table's stream.
# Complaint resolution times are counted in buckets with these upper bounds, in
# hours (one more bucket holds everything longer); p50/p90 are read from them.
# Changing the bounds splits history: counters already stored keep the old ones.
RESOLUTION_TIME_BUCKETS_HOURS = (1, 4, 8, 24, 48, 72, 168, 336, 720)
# A counted stream record's marker lives this long: longer than the stream keeps
# a record (24 hours), so every redelivery finds it and counts nothing twice.
AGGREGATES_EVENT_MARKER_TTL_SECONDS = 48 * 60 * 60
# Every record's transaction adds to the same ALL counters, so concurrent shards' transactions conflict
# (TransactionConflict): retried in place this many times, backing off from the base delay, with full jitter.
AGGREGATES_CONFLICT_RETRIES = 6
AGGREGATES_CONFLICT_BACKOFF_BASE_SECONDS = 0.02
AGGREGATES_CONFLICT_BACKOFF_MAX_SECONDS = 1.0
# Reconciling the counters (chalicelib/workflows/aggregates.py): a drift is repaired once two recounts at least
# this far apart found it alike (a record still on its way differs from one that was lost), at most this many
# drifting counters are kept between runs (the rest wait for the next one), and the job runs at this local hour,
# after the export.
COUNTERS_DRIFT_CONFIRM_AFTER_SECONDS = 60 * 60
COUNTERS_DRIFT_MAX_KEPT = 2000
COUNTERS_RECONCILE_LOCAL_HOUR = 4
# The late-deliveries job (chalicelib/workflows/orders.py): after the morning's reminders, within office hours.
LATE_DELIVERIES_LOCAL_HOUR = 9

# Campaigns (chalicelib/domain/campaigns.py, chalicelib/workflows/campaigns.py). The sender reads the audience
# CAMPAIGN_SNAPSHOT_PAGE customers a Query and sends CAMPAIGN_SEND_PAGE recipients a page; one invocation of the
# sender works at most CAMPAIGN_STEP_SECONDS and hands back to the state machine, which calls it again.
CAMPAIGN_SNAPSHOT_PAGE = 500
CAMPAIGN_SEND_PAGE = 100
CAMPAIGN_STEP_SECONDS = 60
PREVIEW_SAMPLE = 20
PREVIEW_KEEP_SECONDS = 86400  # a background preview's result is kept this long (TTL)
PREVIEW_GIVE_UP_SECONDS = 600  # a background preview not done by then has failed: the next GET says so
# GET /analytics/summary: the default window (days ending today) and the longest one.
ANALYTICS_WINDOW_DEFAULT_DAYS = 30
ANALYTICS_WINDOW_MAX_DAYS = 366
SATISFACTION_MIN_ANSWERS = 20  # fewer answers: a CSAT or NPS is shown as insufficient, and staff are not ranked
SURVEY_TTL_DAYS = 14  # a satisfaction survey's link takes an answer this long after it was sent
SURVEY_LOW_CSAT = 2  # an answer of this or less opens a follow-up complaint
SURVEY_COMMENT_MAX_CHARS = 1000

# Analytics export (chalicelib/workflows/analytics.py, docs/analytics.md)
EXPORT_LOCAL_HOUR_DEFAULT = 2  # the daily export fires at 02:00 in TIMEZONE (EXPORT_LOCAL_HOUR), for yesterday
EXPORT_PART_MAX_ROWS = 1_000_000  # a part is uploaded when it holds this many rows...
EXPORT_PART_MAX_UNCOMPRESSED_BYTES = 128 * 1024 * 1024  # ...or this much JSON (~10-15 MB gzipped)
EXPORT_GZIP_LEVEL = 5
EXPORT_SCAN_SEGMENTS_DEFAULT = 1  # parallel Scan segments (EXPORT_SCAN_SEGMENTS), each read by its own thread
EXPORT_PREFETCH_GROUP_BATCHES = 4  # scan pages read ahead per segment while the export works
CATCH_UP_DAYS = 7  # the nightly run re-runs, each in its own invocation, the days before it that have no good export
EXPORT_LEASE_SECONDS = 16 * 60  # a run holds its day this long: Lambda's 15-minute limit and a margin
# The facts backfill (chalicelib/workflows/backfill.py): one scan segment per this many items of the table (a
# segment's invocation then stays within minutes), at most that many segments, so many invocations at once.
BACKFILL_ITEMS_PER_SEGMENT = 250_000
BACKFILL_MAX_SEGMENTS = 64
BACKFILL_LEASE_SECONDS = 6 * 3600  # one backfill at a time; a workflow that died lets the next one in after this
BACKFILL_BUFFER_BYTES = 64 * 1024 * 1024  # a segment's rows wait (as JSON lines) up to this much before uploading
BACKFILL_ENGAGEMENT_THREADS = 8  # a segment's customers' engagement transactions in flight at once
BACKFILL_UPLOAD_THREADS = 8  # a segment's parts (one per day of history touched) are made Parquet and PUT this many at once
# A failed backfill sweeps twice, this long apart: a segment's invocation still running when the Map failed (Lambda
# does not stop it) uploads at most once more before it sees the failure. The export function's timeout and a margin.
BACKFILL_SETTLE_SECONDS_DEFAULT = 960
# The export bucket's lifecycle deletes a file 400 days after it was written (infra/template.yaml), and a fact is
# written once: the nightly run starts a backfill when the current one is this old, which rewrites every fact
# before its parts (and the nightly parts of the days it then owns) expire; and drops the facts of customers
# erased since. 70 days of margin for a backfill that fails and an admin who starts the next.
BACKFILL_REFRESH_DAYS = 330
EXPORT_CITY_MAX_CHARS = 40  # a longer city is exported as "other" (an address or note typed into it)...
EXPORT_CITY_MAX_WORDS = 4  # ...and so is one of more words
EXPORT_EARLIEST_DATE = "2024-01-01"  # first snapshot date; the Glue tables' dt projection starts here too
EXPORT_RUNS_PAGE_DEFAULT = 30
CHURN_TOP_PER_BRANCH = 100  # at-risk customers per branch kept for GET /analytics/churn-risk
CHURN_API_LIMIT_DEFAULT = 20
ANOMALY_API_DAYS = 35  # anomalies of these last days of the export are kept for GET /analytics/anomalies
ANOMALY_API_MAX_ITEMS = 1000  # strongest first, when there are more
ROOT_CAUSE_TREND_WEEKS = 4  # GET /analytics/insights: the latest week against the 3 before, and these weeks' rows
INSIGHTS_DEFECT_CLUSTERS_MAX = 100  # QC's clusters kept for GET /analytics/insights (the export has them all)
# The money analyses (chalicelib/domain/finance.py) of the export, for GET /analytics/profitability, /basket,
# /transaction-flags and /forecast
PROFIT_MONTHS = 24  # profitability per customer, branch and month over these months up to the export's
PROFIT_TOP_CUSTOMERS = 50  # per branch, by historical value, kept for the API
BASKET_DAYS = 180  # products bought together: the revenue orders of these last days
FLAGS_API_MAX_ITEMS = 500  # per branch, newest first, kept for GET /analytics/transaction-flags (the export has all)
FORECAST_ACTUAL_MONTHS = 24  # months of actual net revenue shown next to the forecast
INSIGHTS_ROOT_CAUSES_MAX_ROWS = 1000  # of those weeks' rows (week x category x department x branch), newest kept: ~150 KB of the 400 KB item


# Analytics (chalicelib/domain/analytics.py): the export job's analyses.
# Age bands start at these ages in whole years: under_18, 18_24, ..., 55_64, 65_plus.
AGE_BAND_START_YEARS = (18, 25, 35, 45, 55, 65)
# RFM recency score: last contact at most this many days ago scores 5, 4, 3, 2;
# older, or never, scores 1.
RFM_RECENCY_SCORE_MAX_DAYS = (14, 30, 60, 120)
# RFM frequency score: at least this many interactions in the last 365 days
# scores 2, 3, 4, 5; fewer scores 1 (a single contact: a "new" customer when recent).
RFM_FREQUENCY_SCORE_MIN_INTERACTIONS = (2, 4, 8, 15)
# Churn risk: additive points, the total capped at 100.
# (no contact for at least N days, points): the longest period reached counts;
# a customer never contacted counts as the longest.
CHURN_NO_CONTACT_POINTS_BY_MIN_DAYS = ((60, 10), (120, 25), (180, 35))
# Interactions in the last 90 days fell by at least this share (0..1) of the
# previous 90 days', which had at least CHURN_ENGAGEMENT_DROP_MIN_PREV_INTERACTIONS.
CHURN_ENGAGEMENT_DROP_MIN_SHARE = 0.5
CHURN_ENGAGEMENT_DROP_MIN_PREV_INTERACTIONS = 3
CHURN_ENGAGEMENT_DROP_POINTS = 20
# Per complaint, up to the cap.
CHURN_OPEN_COMPLAINT_POINTS_EACH = 10
CHURN_OPEN_COMPLAINTS_MAX_POINTS = 25
CHURN_RECENT_COMPLAINT_POINTS_EACH = 5  # complaints created in the last 90 days
CHURN_RECENT_COMPLAINTS_MAX_POINTS = 15
CHURN_SLA_BREACH_POINTS_EACH = 10  # complaints of the last 365 days whose SLA was breached
CHURN_SLA_BREACHES_MAX_POINTS = 20
CHURN_SLOW_RESOLUTION_POINTS_EACH = 5
CHURN_SLOW_RESOLUTIONS_MAX_POINTS = 10
# The export job counts a resolution as slow when it came after the SLA resolve
# deadline or took longer than this, whichever is sooner.
CHURN_SLOW_RESOLUTION_MIN_HOURS = 7 * 24
CHURN_SMS_OPTED_OUT_POINTS = 15
CHURN_MARKETING_CONSENT_WITHDRAWN_POINTS = 5
# Bands: low below CHURN_MEDIUM_SCORE_MIN, high from CHURN_HIGH_SCORE_MIN.
CHURN_MEDIUM_SCORE_MIN = 30
CHURN_HIGH_SCORE_MIN = 60
# A category x department x branch is growing in a week when it had more
# complaints than the week before and at least this many.
ROOT_CAUSE_GROWING_MIN_COMPLAINTS = 3
# Daily anomalies: a day is judged against the ANOMALY_WINDOW_DAYS before it,
# once its series has at least ANOMALY_MIN_HISTORY_DAYS of history, and flagged
# from a robust z of ANOMALY_ROBUST_Z_MIN and at least ANOMALY_MIN_ABS_CHANGE
# events a day away from the window's median.
ANOMALY_WINDOW_DAYS = 28
ANOMALY_MIN_HISTORY_DAYS = 14
ANOMALY_ROBUST_Z_MIN = 3.5
ANOMALY_MIN_ABS_CHANGE = 3


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table_name: str
    idempotency_table_name: str
    user_pool_id: str
    user_pool_client_id: str
    console_login_url: str  # Cognito managed login (https://<domain>.auth.<region>.amazoncognito.com); "": the local form
    jwks_url: str
    branches: tuple[str, ...]
    default_phone_region: str
    cors_allowed_origins: tuple[str, ...]
    cursor_secret_arn: str  # the Secrets Manager secret whose value signs pagination cursors (chalicelib/api/cursors.py)
    timezone: str
    sender_email: str = "no-reply@relasi.example"
    # Workflows (complaint escalation). Read from the environment when settings() builds this.
    escalation_state_machine_arn: str = field(default_factory=lambda: os.environ.get("ESCALATION_STATE_MACHINE_ARN", ""))
    # A department's ops topic is this prefix + the department id (relasi-<stage>-ops-<department>).
    department_topic_arn_prefix: str = field(default_factory=lambda: os.environ.get("DEPARTMENT_TOPIC_ARN_PREFIX", ""))
    # The general ops topic: alarms, and workflow failure alerts.
    ops_topic_arn: str = field(default_factory=lambda: os.environ.get("OPS_TOPIC_ARN", ""))
    # Demos and tests: workflows wait this many times shorter (SLAs and stored due times stay real).
    time_scale: float = field(default_factory=lambda: float(os.environ.get("RELASI_TIME_SCALE") or 1))
    # The daily reminders state machine (chalicelib/workflows/reminders.asl.json).
    reminder_state_machine_arn: str = field(default_factory=lambda: os.environ.get("REMINDER_STATE_MACHINE_ARN", ""))
    # Analytics: live counters, processed stream records, export runs and results (infra/template.yaml AnalyticsTable).
    analytics_table_name: str = field(default_factory=lambda: os.environ.get("ANALYTICS_TABLE_NAME", "relasi-analytics"))
    # The export: bucket, the function POST /analytics/exports invokes, the pseudonym key, scan parallelism.
    export_bucket: str = field(default_factory=lambda: os.environ.get("EXPORT_BUCKET", ""))
    analytics_export_function: str = field(default_factory=lambda: os.environ.get("ANALYTICS_EXPORT_FUNCTION", ""))
    # The ARN (or name) of the pseudonym key's secret; the key is read at run time (chalicelib/aws.py secret_value).
    pseudonym_secret_arn: str = field(default_factory=lambda: os.environ.get("PSEUDONYM_SECRET_ARN", ""))
    # The stream consumer's dead-letter queue: the reconciliation waits while it holds records, the redrive empties it.
    stream_dlq_url: str = field(default_factory=lambda: os.environ.get("STREAM_DLQ_URL", ""))
    # Order and shipment messages wait out these local hours ("21-8": 21:00 to 08:00; "off": never wait). The
    # reminders' own schedule keeps QUIET_HOURS_START_HOUR/QUIET_HOURS_END_HOUR.
    quiet_hours_text: str = field(default_factory=lambda: os.environ.get(
        "QUIET_HOURS", f"{QUIET_HOURS_START_HOUR}-{QUIET_HOURS_END_HOUR}"))
    # A carrier's webhook key is the secret named this prefix + the carrier's id (relasi-<stage>-carrier-jne).
    carrier_secret_prefix: str = field(default_factory=lambda: os.environ.get("CARRIER_SECRET_PREFIX", ""))
    # Campaigns: the state machine that sends (chalicelib/workflows/campaigns.asl.json) and the function it calls.
    campaign_state_machine_arn: str = field(default_factory=lambda: os.environ.get("CAMPAIGN_STATE_MACHINE_ARN", ""))
    backfill_state_machine_arn: str = field(default_factory=lambda: os.environ.get("BACKFILL_STATE_MACHINE_ARN", ""))
    backfill_settle_seconds: int = field(default_factory=lambda: int(
        os.environ.get("BACKFILL_SETTLE_SECONDS") or BACKFILL_SETTLE_SECONDS_DEFAULT))
    campaign_sender_function: str = field(default_factory=lambda: os.environ.get("CAMPAIGN_SENDER_FUNCTION", ""))
    # The key that signs opt-out links (a Secrets Manager secret's ARN, read at run time; never rotated).
    link_secret_arn: str = field(default_factory=lambda: os.environ.get("LINK_SECRET_ARN", ""))
    # Where opt-out links point (a short domain in production: the link is in every marketing SMS).
    link_base: str = field(default_factory=lambda: os.environ.get("LINK_BASE", "https://r.relasi.example"))
    # The sending port (chalicelib/messaging.py): the configuration sets SMS (End User Messaging SMS) and email
    # (SES) go through; their event destinations publish the receipts to the message-events topic.
    sms_configuration_set: str = field(default_factory=lambda: os.environ.get("SMS_CONFIGURATION_SET", ""))
    email_configuration_set: str = field(default_factory=lambda: os.environ.get("EMAIL_CONFIGURATION_SET", ""))
    # Satisfaction surveys: at most one per customer in this many days, whatever they were about.
    survey_cap_days: int = field(default_factory=lambda: int(os.environ.get("SURVEY_CAP_DAYS") or 7))
    export_scan_segments: int = field(
        default_factory=lambda: int(os.environ.get("EXPORT_SCAN_SEGMENTS") or EXPORT_SCAN_SEGMENTS_DEFAULT))

    @property
    def quiet_hours(self) -> tuple[int, int] | None:
        """(start hour, end hour) local, or None ("off")."""
        text = self.quiet_hours_text.strip().lower()
        if text == "off":
            return None
        start, _, end = text.partition("-")
        hours = (int(start), int(end))
        if not all(0 <= h <= 23 for h in hours):
            raise ValueError(f"QUIET_HOURS must be <start>-<end> hours 0-23 or off, got {self.quiet_hours_text!r}")
        return hours

    @property
    def token_issuer(self) -> str:
        # Cognito (and moto's Cognito) always issue the real AWS URL form.
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


def _jwks_url(region: str, pool_id: str) -> str:
    explicit = os.environ.get("JWKS_URL")
    if explicit:
        return explicit
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:  # local stack: moto serves the pool's JWKS at the same path
        return f"{endpoint.rstrip('/')}/{pool_id}/.well-known/jwks.json"
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}/.well-known/jwks.json"


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = os.environ
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "ap-southeast-3"
    pool_id = env.get("USER_POOL_ID", "")
    return Settings(
        stage=env.get("STAGE", "dev"),
        region=region,
        table_name=env.get("TABLE_NAME", "relasi"),
        idempotency_table_name=env.get("IDEMPOTENCY_TABLE_NAME", "relasi-idempotency"),
        user_pool_id=pool_id,
        user_pool_client_id=env.get("USER_POOL_CLIENT_ID", ""),
        console_login_url=env.get("CONSOLE_LOGIN_URL", ""),
        jwks_url=_jwks_url(region, pool_id),
        branches=_csv(env.get("BRANCHES", "jakarta,bandung,surabaya")),
        default_phone_region=env.get("DEFAULT_PHONE_REGION", "ID"),
        cors_allowed_origins=_csv(env.get("CORS_ALLOWED_ORIGINS", "")),
        cursor_secret_arn=env.get("CURSOR_SECRET_ARN", ""),
        timezone=env.get("TIMEZONE", "Asia/Jakarta"),
        sender_email=env.get("SENDER_EMAIL", "no-reply@relasi.example"),
    )


@dataclass(frozen=True)
class CampaignLimits:
    """Campaign tunables (environment variables with defaults; the template sets none of them, so the defaults
    are production's unless a stage overrides them in .chalice/config.json)."""

    sms_parts_per_second: int  # CAMPAIGN_SMS_PARTS_PER_SECOND: never more in any second, every campaign together
    emails_per_second: int  # CAMPAIGN_EMAILS_PER_SECOND
    cap_per_day: int  # MARKETING_CAP_PER_DAY: marketing messages per customer per local day
    cap_per_7_days: int  # MARKETING_CAP_PER_7_DAYS: ... per rolling 7 local days
    sms_monthly_budget_idr: int  # SMS_MONTHLY_BUDGET_IDR: mirrors the account's SMS spend limit
    sms_price_per_part_idr: int  # SMS_PRICE_PER_PART_IDR
    holidays: frozenset[str]  # CAMPAIGN_HOLIDAYS: local dates (YYYY-MM-DD, comma separated) with no marketing
    send_days: frozenset[int]  # CAMPAIGN_SEND_DAYS "1-6": ISO weekdays (1 Monday .. 7 Sunday) marketing goes out
    send_hours: tuple[int, int]  # CAMPAIGN_SEND_HOURS "8-18": local hours [start, end) marketing goes out
    assignment_key: str  # CAMPAIGN_ASSIGNMENT_KEY: the salt of the control/holdout/variant hash (not a secret)
    # CAMPAIGN_PREVIEW_SYNC_CUSTOMERS: a preview that would read more customers than this answers 202 and finishes
    # in the campaign sender (API Gateway gives a request 29 s)
    preview_sync_customers: int


def _range(text: str, lo: int, hi: int) -> list[int]:
    start, _, end = text.partition("-")
    first, last = int(start), int(end or start)
    if not lo <= first <= last <= hi:
        raise ValueError(f"expected <first>-<last> within {lo}-{hi}, got {text!r}")
    return list(range(first, last + 1))


def _span(text: str, name: str = "CAMPAIGN_SEND_HOURS") -> tuple[int, int]:
    start, _, end = text.partition("-")
    span = (int(start), int(end))
    if not 0 <= span[0] < span[1] <= 24:
        raise ValueError(f"{name} must be <start>-<end> within 0-24, got {text!r}")
    return span


def campaign_limits() -> CampaignLimits:
    env = os.environ
    return CampaignLimits(
        sms_parts_per_second=int(env.get("CAMPAIGN_SMS_PARTS_PER_SECOND") or 10),
        emails_per_second=int(env.get("CAMPAIGN_EMAILS_PER_SECOND") or 10),
        cap_per_day=int(env.get("MARKETING_CAP_PER_DAY") or 1),
        cap_per_7_days=int(env.get("MARKETING_CAP_PER_7_DAYS") or 3),
        sms_monthly_budget_idr=int(env.get("SMS_MONTHLY_BUDGET_IDR") or 10_000_000),
        sms_price_per_part_idr=int(env.get("SMS_PRICE_PER_PART_IDR") or 350),
        holidays=frozenset(_csv(env.get("CAMPAIGN_HOLIDAYS", ""))),
        send_days=frozenset(d - 1 for d in _range(env.get("CAMPAIGN_SEND_DAYS") or "1-6", 1, 7)),
        send_hours=_span(env.get("CAMPAIGN_SEND_HOURS") or "8-18"),
        assignment_key=env.get("CAMPAIGN_ASSIGNMENT_KEY") or "relasi-assignment-v1",
        preview_sync_customers=int(env.get("CAMPAIGN_PREVIEW_SYNC_CUSTOMERS") or 20_000),
    )


@dataclass(frozen=True)
class Workshop:
    """The branches' workshops (environment variables with defaults, like CampaignLimits)."""

    hours: tuple[int, int]  # WORKSHOP_HOURS "8-16": local hours [open, close); one slot an hour
    days: frozenset[int]  # WORKSHOP_DAYS "1-6": ISO weekdays (1 Monday .. 7 Sunday) it opens, as weekday() numbers
    bays: int  # WORKSHOP_BAYS "4": places per slot, or "4,jakarta=6": a default and branches of their own
    bays_by_branch: dict[str, int]
    holidays: frozenset[str]  # WORKSHOP_HOLIDAYS: local dates (YYYY-MM-DD, comma separated) it is closed
    booking_days_ahead: int  # WORKSHOP_BOOKING_DAYS_AHEAD "90": how far ahead a slot can be booked

    def bays_of(self, branch: str) -> int:
        return self.bays_by_branch.get(branch, self.bays)


@dataclass(frozen=True)
class ServiceInterval:
    months: int
    km: int


def service_intervals() -> tuple[ServiceInterval, dict[str, ServiceInterval]]:
    """SERVICE_INTERVAL "6/10000": months/km between services, or "6/10000,avanza=4/8000": a default and models
    of their own (model names in any case)."""
    default, by_model = ServiceInterval(6, 10_000), {}
    for part in _csv(os.environ.get("SERVICE_INTERVAL") or "6/10000"):
        name, _, value = part.rpartition("=")
        months, _, km = value.partition("/")
        interval = ServiceInterval(int(months), int(km))
        if interval.months < 1 or interval.km < 1:
            raise ValueError(f"SERVICE_INTERVAL must be <months>/<km> of at least 1, got {part!r}")
        if name:
            by_model[name.strip().lower()] = interval
        else:
            default = interval
    return default, by_model


@dataclass(frozen=True)
class CostToServe:
    """What serving a customer costs, for profitability (environment variables with defaults, like CampaignLimits):
    PROFIT_SMS_PRICE_IDR per SMS part (default SMS_PRICE_PER_PART_IDR, else 350), PROFIT_EMAIL_PRICE_IDR per email
    (default 15), PROFIT_COMPLAINT_COST_IDR per complaint handled (default 75,000: an hour of an agent's time and a
    share of the team lead's)."""

    sms_price: int
    email_price: int
    complaint_cost: int


def cost_to_serve() -> CostToServe:
    env = os.environ
    return CostToServe(sms_price=int(env.get("PROFIT_SMS_PRICE_IDR") or env.get("SMS_PRICE_PER_PART_IDR") or 350),
                       email_price=int(env.get("PROFIT_EMAIL_PRICE_IDR") or 15),
                       complaint_cost=int(env.get("PROFIT_COMPLAINT_COST_IDR") or 75_000))


def workshop() -> Workshop:
    env = os.environ
    default, by_branch = 4, {}
    for part in _csv(env.get("WORKSHOP_BAYS") or "4"):
        name, _, number = part.rpartition("=")
        if name:
            by_branch[name] = int(number)
        else:
            default = int(number)
    if min([default, *by_branch.values()]) < 1:
        raise ValueError("WORKSHOP_BAYS must be at least 1 a branch")
    return Workshop(hours=_span(env.get("WORKSHOP_HOURS") or "8-16", "WORKSHOP_HOURS"),
                    days=frozenset(d - 1 for d in _range(env.get("WORKSHOP_DAYS") or "1-6", 1, 7)),
                    bays=default, bays_by_branch=by_branch,
                    holidays=frozenset(_csv(env.get("WORKSHOP_HOLIDAYS", ""))),
                    booking_days_ahead=int(env.get("WORKSHOP_BOOKING_DAYS_AHEAD") or 90))


def export_cron_utc() -> tuple[int, int]:
    """(minute, hour) in UTC of the daily analytics export: EXPORT_LOCAL_HOUR:00 (default 02) in TIMEZONE."""
    hour = int(os.environ.get("EXPORT_LOCAL_HOUR") or EXPORT_LOCAL_HOUR_DEFAULT)
    if not 0 <= hour <= 23:
        raise ValueError(f"EXPORT_LOCAL_HOUR must be 0-23, got {hour}")
    return _local_hour_as_utc(hour)


def counters_reconcile_cron_utc() -> tuple[int, int]:
    """(minute, hour) in UTC of the counters' reconciliation: COUNTERS_RECONCILE_LOCAL_HOUR:00 in TIMEZONE."""
    return _local_hour_as_utc(COUNTERS_RECONCILE_LOCAL_HOUR)


def late_deliveries_cron_utc() -> tuple[int, int]:
    """(minute, hour) in UTC of the late-deliveries job: LATE_DELIVERIES_LOCAL_HOUR:00 in TIMEZONE."""
    return _local_hour_as_utc(LATE_DELIVERIES_LOCAL_HOUR)


def reminders_local_hour() -> int:
    """The local hour the daily reminders job fires at (REMINDERS_LOCAL_HOUR, default 08)."""
    hour = int(os.environ.get("REMINDERS_LOCAL_HOUR") or REMINDERS_LOCAL_HOUR_DEFAULT)
    if not 0 <= hour <= 23:
        raise ValueError(f"REMINDERS_LOCAL_HOUR must be 0-23, got {hour}")
    return hour


def reminders_cron_utc() -> tuple[int, int]:
    """(minute, hour) in UTC of the daily reminders job: REMINDERS_LOCAL_HOUR:00 in TIMEZONE.

    EventBridge cron expressions are UTC. The offset is the zone's offset now:
    Asia/Jakarta has no daylight saving time (08:00 WIB = 01:00 UTC); in a zone
    that has it, the job fires an hour off for part of the year.
    """
    return _local_hour_as_utc(reminders_local_hour())


def _local_hour_as_utc(hour: int) -> tuple[int, int]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(os.environ.get("TIMEZONE", "Asia/Jakarta"))
    offset = datetime.now(zone).utcoffset()
    offset_minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    minutes = (hour * 60 - offset_minutes) % (24 * 60)
    return minutes % 60, minutes // 60
