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

# Idempotency-Key records live this long
IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60
IDEMPOTENCY_KEY_MAX_CHARS = 128


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
    jwks_url: str
    branches: tuple[str, ...]
    default_phone_region: str
    cors_allowed_origins: tuple[str, ...]
    cursor_secret: bytes
    timezone: str
    tracing_enabled: bool
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
        jwks_url=_jwks_url(region, pool_id),
        branches=_csv(env.get("BRANCHES", "jakarta,bandung,surabaya")),
        default_phone_region=env.get("DEFAULT_PHONE_REGION", "ID"),
        cors_allowed_origins=_csv(env.get("CORS_ALLOWED_ORIGINS", "")),
        cursor_secret=env.get("CURSOR_SECRET", "").encode() or b"relasi-local-cursor-secret",
        timezone=env.get("TIMEZONE", "Asia/Jakarta"),
        tracing_enabled=env.get("POWERTOOLS_TRACE_DISABLED", "true").lower() == "false",
        sender_email=env.get("SENDER_EMAIL", "no-reply@relasi.example"),
    )


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
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(os.environ.get("TIMEZONE", "Asia/Jakarta"))
    offset = datetime.now(zone).utcoffset()
    offset_minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    minutes = (reminders_local_hour() * 60 - offset_minutes) % (24 * 60)
    return minutes % 60, minutes // 60
