"""What the analytics export writes: datasets, their columns, and rows without personal data.

The warehouse gets no direct identifiers. Names, phones, emails, addresses,
free text (interaction summaries, complaint subjects, descriptions, notes,
due-item titles), external references and custom attributes are never
exported; a birthday becomes an age band; ids become keyed pseudonyms
(HMAC-SHA256 with a secret held in the deployment), stable across days so
analysts can join datasets and snapshots, and useless without the key.

Rows are plain dicts in column order; the same column lists declare the Glue
tables (infra/template.yaml; tests/test_infra.py checks both agree).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config import EXPORT_CITY_MAX_CHARS, EXPORT_CITY_MAX_WORDS, EXPORT_EARLIEST_DATE
from chalicelib.config import SURVEY_LOW_CSAT as LOW_CSAT
from chalicelib.domain.analytics import age_band
from chalicelib.domain.clock import iso, parse_iso
from chalicelib.domain.orders import REVENUE_STATUSES

# Datasets no longer written (9: interactions, whose facts are interaction_events): a backfill that succeeds
# deletes what is left of them, as it deletes the facts' files of an older format. Retiring one starts no
# backfill by itself: bump FACTS_SCHEMA_VERSION too, or say in docs/operations.md to start one.
RETIRED_DATASETS = ("interactions",)
SCHEMA_VERSION = 9  # 9: no interactions snapshot: interaction_events holds them (8: the facts datasets are Parquet files (7: the facts datasets (FACT_DATASETS, delivered_order_lines among them), by the day they happened; the *_changed deltas (6: profitability, basket_rules, transaction_flags, revenue_forecast; orders' staff_key, phone_key, placed_with_staff_phone, changed_after_delivery; order_lines' list_price, cost_price (5: vehicles, appointments, work_orders, defect_clusters; complaints' QC columns (4: campaigns, campaign_recipients (3: orders, order_lines, shipments, products; rfm's monetary)
# What the backfill makes changed (columns, format: 8, Parquet; 9: it also fills each customer's engagement item
# with history's contacts; 10: and messages): the backfill that made them is outdated, and the nightly run starts a new one
# (chalicelib/workflows/backfill.py start_if_needed)
FACTS_SCHEMA_VERSION = 10
FILE_EXTENSION = "jsonl.gz"
FACT_FILE_EXTENSION = "parquet"  # the facts datasets' parts (FACT_DATASETS)
MANIFEST_NAME = "_manifest.json"  # leading underscore: Athena and Hive skip it as data
PSEUDONYM_HEX_CHARS = 32  # 128 bits of HMAC-SHA256
MEMO_MAX_ENTRIES = 65_536  # per export run: pseudonyms and local dates already worked out


@dataclass(frozen=True)
class Column:
    name: str
    glue_type: str
    comment: str


def _c(name: str, glue_type: str, comment: str) -> Column:
    return Column(name, glue_type, comment)


CUSTOMER_KEY = _c("customer_key", "string", "keyed pseudonym of the customer id: joins every dataset and day")
OCCURRED_AT = _c("occurred_at", "string", "ISO 8601 UTC")
OCCURRED_ON = _c("occurred_on", "string", "local date (YYYY-MM-DD)")
ORDER_KEY = _c("order_key", "string", "keyed pseudonym of the order id")
MONEY = "decimal(18,2)"
HISTORY_TYPE = "array<struct<at:string,change:string,from_value:string,to_value:string,staff_key:string>>"

DATASETS: dict[str, tuple[Column, ...]] = {
    "customers": (
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch"),
        _c("lifecycle_stage", "string", "lead, prospect, customer, vip, churned"),
        _c("gender", "string", "as recorded, or null"),
        _c("age_band", "string", "age on the snapshot date: under_18, 18_24 ... 65_plus, unknown"),
        _c("city", "string", "city as typed, 'other' if it does not read like a place name, or null"),
        _c("preferred_channel", "string", "sms or email"),
        _c("language", "string", "id or en"),
        _c("tags", "array<string>", "labels staff gave the customer (none with 4 digits in a row)"),
        _c("has_email", "boolean", "an email address is on file"),
        _c("sms_marketing_consent", "boolean", "current SMS marketing consent"),
        _c("email_marketing_consent", "boolean", "current email marketing consent"),
        _c("sms_opted_out", "boolean", "the number replied STOP"),
        _c("marketing_consent_withdrawn", "boolean", "a marketing consent set to no after the customer was created"),
        _c("created_at", "string", "ISO 8601 UTC"),
        _c("created_on", "string", "local date created (YYYY-MM-DD)"),
        _c("updated_at", "string", "ISO 8601 UTC"),
    ),
    "notifications": (
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch (null for older records)"),
        _c("topic", "string", "birthday, due_date, complaint, order (its status), service (the workshop) or survey "
                              "(a satisfaction survey's link)"),
        _c("channel", "string", "sms or email (the preferred channel when skipped)"),
        _c("delivery", "string", "pending, sending, sent, skipped or failed"),
        _c("reason", "string", "why it was skipped or failed, or null"),
        OCCURRED_AT,
        OCCURRED_ON,
    ),
    "complaints": (
        _c("complaint_key", "string", "keyed pseudonym of the complaint id"),
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch"),
        _c("category", "string", "complaint category"),
        _c("department", "string", "department it was routed to"),
        _c("severity", "string", "critical, high, medium, low"),
        _c("status", "string", "status at the end of dt"),
        _c("escalation_level", "bigint", "0 to 3, now (escalations keep no history)"),
        _c("breached", "boolean", "had missed an SLA deadline by the end of dt"),
        _c("created_at", "string", "ISO 8601 UTC"),
        _c("created_on", "string", "local date (YYYY-MM-DD)"),
        _c("acknowledged_at", "string", "ISO 8601 UTC, or null if not by the end of dt"),
        _c("resolved_at", "string", "ISO 8601 UTC, or null if not resolved at the end of dt"),
        _c("closed_at", "string", "ISO 8601 UTC, or null if not closed at the end of dt"),
        _c("ack_due_at", "string", "ISO 8601 UTC"),
        _c("resolve_due_at", "string", "ISO 8601 UTC"),
        _c("hours_to_resolve", "double", "created to resolved, hours, or null"),
        _c("resolved_within_sla", "boolean", "resolved by resolve_due_at; null while unresolved"),
        _c("vehicle_key", "string", "quality_control: keyed pseudonym of the VIN, or null"),
        _c("part_no", "string", "quality_control: the part, or null"),
        _c("batch_no", "string", "quality_control: the part's batch, or null"),
        _c("defect_code", "string", "quality_control: the defect's code, or null"),
        _c("factory_defect", "boolean", "QC's finding: from the factory (true), from use (false), not judged (null)"),
        _c("history", HISTORY_TYPE, "status changes; values of free-text changes are left out"),
    ),
    "orders": (
        ORDER_KEY,
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch that placed it"),
        _c("channel", "string", "showroom, phone, online, dealer"),
        _c("status", "string", "status when exported (draft ... closed, cancelled, returned)"),
        _c("payment_status", "string", "unpaid, partial, paid, refunded"),
        _c("lines", "bigint", "number of lines"),
        _c("subtotal", MONEY, "IDR: the lines' qty x unit_price"),
        _c("discount_total", MONEY, "IDR"),
        _c("tax_total", MONEY, "IDR"),
        _c("net_total", MONEY, "IDR: what the customer pays (subtotal - discounts + tax)"),
        _c("is_revenue", "boolean", "confirmed up to closed (not draft, cancelled or returned)"),
        _c("placed_at", "string", "ISO 8601 UTC"),
        _c("placed_on", "string", "local date placed (YYYY-MM-DD)"),
        _c("promised_date", "string", "YYYY-MM-DD, or null"),
        _c("delivered_at", "string", "ISO 8601 UTC, or null"),
        _c("returned_at", "string", "ISO 8601 UTC, or null"),
        _c("return_reason", "string", "a choice from a list, or null"),
        _c("late", "boolean", "the late-deliveries job found it late"),
        _c("customer_erased", "boolean", "kept as a financial record after its customer's erasure"),
        _c("staff_key", "string", "keyed pseudonym of the staff member who placed it"),
        _c("phone_key", "string", "keyed pseudonym of the phone it was placed with (null after the customer's "
                                  "erasure, and on older orders)"),
        _c("placed_with_staff_phone", "boolean", "that phone is the placing staff member's own"),
        _c("changed_after_delivery", "boolean", "changed after delivery in a way delivery does not explain"),
    ),
    "order_lines": (
        ORDER_KEY,
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch that placed the order"),
        _c("placed_on", "string", "local date the order was placed (YYYY-MM-DD)"),
        _c("is_revenue", "boolean", "the order is revenue (see orders)"),
        _c("line_no", "bigint", "1.."),
        _c("sku", "string", "product"),
        _c("category", "string", "the product's category when ordered"),
        _c("qty", "double", "quantity (up to 3 decimals)"),
        _c("list_price", MONEY, "IDR: the product's list price when ordered, or null (older orders)"),
        _c("cost_price", MONEY, "IDR: the product's cost price when ordered, or null (unknown)"),
        _c("unit_price", MONEY, "IDR"),
        _c("discount_amount", MONEY, "IDR"),
        _c("tax_rate", "double", "a fraction: 0.11 for 11% PPN"),
        _c("total", MONEY, "IDR: qty x unit_price - discount + tax"),
    ),
    "shipments": (
        _c("shipment_key", "string", "keyed pseudonym of the shipment id"),
        ORDER_KEY,
        _c("branch_id", "string", "branch that placed the order"),
        _c("carrier", "string", "jne, jnt, sicepat, pos, own_fleet"),
        _c("status", "string", "label_created ... delivered; attempted_delivery, delayed, failed, returning"),
        _c("lines", "bigint", "order lines it carries"),
        _c("created_at", "string", "ISO 8601 UTC"),
        _c("created_on", "string", "local date (YYYY-MM-DD)"),
        _c("expected_delivery_date", "string", "YYYY-MM-DD, the latest expected, or null"),
        _c("delivered_at", "string", "ISO 8601 UTC of the delivered event, or null"),
        _c("events", "bigint", "events recorded (applied or not)"),
        _c("delays", "bigint", "delayed events applied"),
    ),
    "products": (
        _c("sku", "string", "product"),
        _c("name", "string", "product name"),
        _c("category", "string", "category"),
        _c("unit", "string", "pcs, litre, hour..."),
        _c("list_price", MONEY, "IDR"),
        _c("cost_price", MONEY, "IDR, or null"),
        _c("active", "boolean", "can be ordered"),
        _c("updated_at", "string", "ISO 8601 UTC"),
    ),
    "campaigns": (
        _c("campaign_id", "string", "the campaign (its id in the CRM: not personal data)"),
        _c("number", "bigint", "its short number"),
        _c("name", "string", "campaign name"),
        _c("channel", "string", "sms or email"),
        _c("purpose", "string", "promotion, cross_sell, retention, price_change, new_product, informational"),
        _c("status", "string", "draft, scheduled, sending, paused, completed, cancelled (as exported)"),
        _c("holdout_pct", "bigint", "percent of the reachable kept as the holdout"),
        _c("variants", "array<string>", "variant ids"),
        _c("created_at", "string", "ISO 8601 UTC"),
        _c("started_at", "string", "ISO 8601 UTC the audience was fixed, or null"),
        _c("started_on", "string", "local date (YYYY-MM-DD), or null"),
        _c("finished_at", "string", "ISO 8601 UTC, or null"),
        _c("recipients", "bigint", "people the audience matched, or null before it was fixed"),
    ),
    "campaign_recipients": (
        _c("campaign_id", "string", "the campaign"),
        CUSTOMER_KEY,
        _c("branch_id", "string", "the customer's branch when the audience was fixed"),
        _c("arm", "string", "send, holdout, control (the global control group) or excluded"),
        _c("reason", "string", "why not sent: no_address, no_consent, opted_out, global_control, holdout, "
                               "frequency_cap, withdrawn; null when sent"),
        _c("variant", "string", "variant id of the send arm, or null"),
        _c("status", "string", "queued, accepted (no final receipt), delivered, undelivered, failed, capped, "
           "withdrawn; holdout, control, excluded"),
        _c("error_code", "string", "why: the sending service's code of a failed send, the receipt's of an "
           "undelivered one (blocked, ttl_expired, bounce_permanent ...), or null"),
        _c("parts", "bigint", "SMS parts, or null"),
        _c("sent_at", "string", "ISO 8601 UTC the message was handed over, or null"),
        _c("sent_on", "string", "local date (YYYY-MM-DD), or null"),
        _c("opted_out", "boolean", "opted out through this campaign's link by dt"),
    ),
    "rfm": (
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch"),
        _c("recency_days", "bigint", "days since the last interaction, null if none"),
        _c("frequency", "bigint", "interactions in the last 365 days"),
        _c("monetary", MONEY, "IDR: net totals of the orders placed in the last 365 days that are revenue"),
        _c("r_score", "bigint", "1..5"),
        _c("f_score", "bigint", "1..5"),
        _c("segment", "string", "champions, loyal, potential_loyal, new, need_attention, at_risk, cant_lose, "
                                "hibernating, lost"),
    ),
    "churn_risk": (
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch"),
        _c("score", "bigint", "0..100"),
        _c("band", "string", "low, medium, high"),
        _c("reasons", "array<string>", "reason codes, largest contribution first"),
    ),
    "complaint_root_causes": (
        _c("week_start", "string", "Monday of the ISO week (YYYY-MM-DD)"),
        _c("week_complete", "boolean", "the week had ended by dt (false: dt's own week, so far)"),
        _c("category", "string", "complaint category"),
        _c("department", "string", "department"),
        _c("branch_id", "string", "branch"),
        _c("complaints", "bigint", "complaints opened that week"),
        _c("breached", "bigint", "of which missed an SLA"),
        _c("breach_share", "double", "breached / complaints"),
        _c("previous_week_complaints", "bigint", "the week before"),
        _c("change", "bigint", "complaints - previous_week_complaints"),
        _c("growing", "boolean", "a complete week that grew against the previous week"),
    ),
    "anomalies": (
        _c("day", "string", "local date (YYYY-MM-DD)"),
        _c("branch_id", "string", "branch"),
        _c("metric", "string", "complaints or interactions"),
        _c("dimension", "string", "complaint category or interaction channel"),
        _c("count", "bigint", "count that day"),
        _c("median", "double", "median of the preceding window"),
        _c("mad", "double", "median absolute deviation of the window"),
        _c("robust_z", "double", "0.6745 * (count - median) / MAD"),
        _c("direction", "string", "high or low"),
    ),
    "vehicles": (
        _c("vehicle_key", "string", "keyed pseudonym of the VIN"),
        _c("customer_key", "string", "keyed pseudonym of the owner's id, or null once the owner was erased"),
        _c("branch_id", "string", "the owner's branch"),
        _c("make", "string", "make"),
        _c("model", "string", "model"),
        _c("year", "bigint", "model year"),
        _c("purchase_on", "string", "local date bought, or null"),
        _c("warranty_end", "string", "local date the warranty ends, or null"),
        _c("last_service_on", "string", "local date of the last service, or null"),
        _c("last_odometer_km", "bigint", "the odometer when last read, or null"),
        _c("created_at", "string", "ISO 8601 UTC"),
    ),
    "appointments": (
        _c("appointment_key", "string", "keyed pseudonym of the appointment id"),
        _c("vehicle_key", "string", "keyed pseudonym of the VIN"),
        CUSTOMER_KEY,
        _c("branch_id", "string", "the workshop's branch"),
        _c("service_type", "string", "periodic, repair, inspection, warranty, body_paint"),
        _c("slot_start", "string", "ISO 8601 UTC"),
        _c("slot_on", "string", "local date of the slot"),
        _c("status", "string", "booked, confirmed, checked_in, completed, cancelled, no_show (now)"),
        _c("created_at", "string", "ISO 8601 UTC"),
    ),
    "work_orders": (
        _c("work_order_key", "string", "keyed pseudonym of the work order id"),
        _c("vehicle_key", "string", "keyed pseudonym of the VIN"),
        CUSTOMER_KEY,
        _c("branch_id", "string", "the workshop's branch"),
        _c("status", "string", "new, in_progress, on_hold, completed, closed, cannot_complete, cancelled (now)"),
        _c("stage", "string", "while in progress: inspecting, waiting_approval, waiting_parts, repairing, "
                              "quality_check"),
        _c("jobs", "bigint", "how many jobs (their descriptions are free text: left out)"),
        _c("estimate_total", "decimal(18,2)", "IDR"),
        _c("approved", "boolean", "the customer approved the estimate"),
        _c("eta", "string", "ISO 8601 UTC, as now"),
        _c("late", "boolean", "opened a complaint for being past its ETA"),
        _c("created_at", "string", "ISO 8601 UTC"),
        _c("created_on", "string", "local date opened"),
        _c("completed_at", "string", "ISO 8601 UTC it became ready for pick-up, or null"),
    ),
    "defect_clusters": (
        _c("model", "string", "vehicle model"),
        _c("part_no", "string", "the part"),
        _c("batch_no", "string", "the part's batch"),
        _c("vehicles", "bigint", "distinct vehicles with a quality_control complaint in the window (3 or more)"),
        _c("complaints", "bigint", "those complaints"),
        _c("factory_defects", "bigint", "of them, judged factory defects by QC"),
        _c("first_on", "string", "local date of the first complaint in the window"),
        _c("last_on", "string", "local date of the last"),
        _c("branches", "array<string>", "branches the complaints came from"),
    ),
    "profitability": (
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch the orders were placed in, the messages and complaints came from"),
        _c("month", "string", "YYYY-MM (local), the 24 months up to dt's"),
        _c("orders", "bigint", "revenue orders placed that month"),
        _c("revenue", MONEY, "IDR: their lines' qty x unit_price (before discounts and tax)"),
        _c("discounts", MONEY, "IDR: their discounts"),
        _c("cogs", MONEY, "IDR: qty x the cost price each line was sold at (lines with one)"),
        _c("sms_sent", "bigint", "SMS parts sent (a notification counts one part)"),
        _c("emails_sent", "bigint", "emails sent"),
        _c("complaints", "bigint", "complaints opened"),
        _c("cost_to_serve", MONEY, "IDR: sms_sent x SMS price + emails_sent x email price + complaints x "
                                   "handling cost (PROFIT_* settings)"),
        _c("profit", MONEY, "IDR: revenue - discounts - cogs - cost_to_serve (may be negative)"),
        _c("lines", "bigint", "order lines"),
        _c("lines_costed", "bigint", "of them with a cost price"),
        _c("cost_coverage", "double", "lines_costed / lines, or null without lines"),
    ),
    "basket_rules": (
        _c("scope", "string", "all, or a branch"),
        _c("level", "string", "category, or sku (scopes with 2,000 orders or more)"),
        _c("rank", "bigint", "1.. by lift (then support)"),
        _c("baskets", "bigint", "revenue orders of the last 180 days in the scope"),
        _c("antecedent", "array<string>", "bought these (1 or 2 items)"),
        _c("consequent", "string", "... also bought this"),
        _c("orders", "bigint", "orders holding all of them"),
        _c("support", "double", "orders / baskets"),
        _c("confidence", "double", "orders / orders holding the antecedent"),
        _c("lift", "double", "confidence / share of baskets holding the consequent"),
    ),
    "transaction_flags": (
        ORDER_KEY,
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch that placed the order"),
        _c("placed_on", "string", "local date (YYYY-MM-DD), the 30 days up to dt"),
        _c("placed_at", "string", "ISO 8601 UTC"),
        _c("reason", "string", "amount_unusual, velocity, shared_phone, discount_over_limit, price_below_cost, "
                               "quick_return, changed_after_delivery, staff_phone"),
        _c("value", "double", "what made it: robust z, orders in 24 h, customers on the phone, discount share, "
                              "lines below cost, days kept; null for the last two"),
        _c("limit", "double", "what the value was compared with, or null"),
        _c("net_total", MONEY, "IDR: the order's total"),
    ),
    "revenue_forecast": (
        _c("branch_id", "string", "branch"),
        _c("month", "string", "YYYY-MM: the 3 months after the last complete one"),
        _c("method", "string", "the one shown: seasonal_naive or moving_average (the lower backtest MAPE)"),
        _c("forecast", MONEY, "IDR: net revenue (after discounts, before tax) by that method"),
        _c("seasonal_naive", MONEY, "IDR: the same month a year before, or null without one"),
        _c("moving_average", MONEY, "IDR: the mean of the 3 months before"),
        _c("mape_seasonal_naive", "double", "its mean absolute percentage error over the 6 months backtested"),
        _c("mape_moving_average", "double", "the moving average's"),
        _c("backtest_months", "bigint", "months with an actual and a forecast"),
    ),
}

# ------------------------------------------------------------------ facts, exported once by the day they happened

# Facts never change once written. Each is exported once, by the run of the day
# the change log (chalicelib/persistence/change_log.py) recorded it, into the
# partition of the local day it happened (dt): a date range reads each fact
# once, whatever day it was exported. A run's parts are named after the day it
# exports (c<YYYY-MM-DD>-NNNNN), so a re-run of that day replaces its own parts
# and nothing else. The snapshot datasets above are the compacted state.
_HISTORY_EVENT = (
    _c("changed_at", "string", "ISO 8601 UTC"),
    _c("changed_on", "string", "local date (YYYY-MM-DD)"),
    _c("change", "string", "what changed"),
    _c("from_value", "string", "before (enumerations only; null for free-text changes)"),
    _c("to_value", "string", "after (enumerations only; null for free-text changes)"),
    _c("staff_key", "string", "keyed pseudonym of who changed it (a staff member, or the CRM's own jobs)"),
)
FACT_DATASETS: dict[str, tuple[Column, ...]] = {
    "interaction_events": (
        CUSTOMER_KEY,
        _c("branch_id", "string", "branch of the customer when it happened (null for older records)"),
        _c("channel", "string", "phone, email, web, visit, sms, chat, social"),
        _c("direction", "string", "inbound or outbound"),
        _c("kind", "string", "inquiry, feedback, sales_talk, service_talk, complaint_followup, order_update, service_update, survey, other"),
        _c("staff_key", "string", "keyed pseudonym of the staff member"),
        OCCURRED_AT,
        OCCURRED_ON,
    ),
    "notification_events": tuple(
        _c("delivery", "string", "sent, skipped or failed: how it ended") if c.name == "delivery" else c
        for c in DATASETS["notifications"]),
    "complaint_events": (_c("complaint_key", "string", "keyed pseudonym of the complaint id"), *_HISTORY_EVENT),
    "order_events": (ORDER_KEY, *_HISTORY_EVENT),
    "delivered_order_lines": (
        *DATASETS["order_lines"],
        _c("delivered_at", "string", "ISO 8601 UTC: when the order became delivered"),
        _c("delivered_on", "string", "local date (YYYY-MM-DD): the partition"),
    ),
    "shipment_events": (
        _c("shipment_key", "string", "keyed pseudonym of the shipment id"),
        ORDER_KEY,
        _c("status", "string", "the carrier's status: label_created ... delivered, delayed, failed, returning"),
        _c("applied", "boolean", "it moved the shipment (false: older than what the shipment already had)"),
        OCCURRED_AT,
        OCCURRED_ON,
        _c("received_at", "string", "ISO 8601 UTC the CRM received it"),
    ),
    # Satisfaction surveys' answers (chalicelib/domain/surveys.py): the scores, never the comment (free text).
    "survey_answers": (
        CUSTOMER_KEY,
        _c("subject", "string", "what it asked about: complaint, work_order, order"),
        _c("subject_key", "string", "keyed pseudonym of the complaint, work order or order id"),
        _c("branch_id", "string", "where the subject was handled"),
        _c("department", "string", "the subject's department: a complaint's; service (work orders); sales (orders)"),
        _c("staff_key", "string", "keyed pseudonym of the staff member whose work it asked about (null: none on record)"),
        _c("asks_nps", "boolean", "the 0-10 recommendation question was asked (once a quarter per customer)"),
        _c("csat", "bigint", "1-5"),
        _c("nps", "bigint", "0-10; null when not asked or skipped"),
        _c("low", "boolean", "a CSAT of 1-2: it opened a follow-up complaint"),
        _c("sent_at", "string", "ISO 8601 UTC: when the survey was sent"),
        _c("answered_at", "string", "ISO 8601 UTC"),
        _c("answered_on", "string", "local date (YYYY-MM-DD): the partition"),
    ),
}
FINAL_DELIVERIES = frozenset({"sent", "skipped", "failed"})  # a notification is a fact once it ends so

# ------------------------------------------------------------------ dimensions: what changed that day

# The entities that change (customers, complaints, orders, vehicles, campaigns) get, besides the snapshot (their
# compacted state), a row per entity changed on dt, as it stood when exported (complaints: at the end of dt),
# or deleted: the change log names them. "As of day D" is the latest row per key up to D.
DELETED = _c("deleted", "boolean", "gone that day (an erased customer, a complaint erased with its customer): the "
                                   "key only")
CHANGED_DATASETS = {  # delta dataset -> the snapshot dataset whose columns it has (and `deleted`)
    "customers_changed": "customers",
    "complaints_changed": "complaints",
    "orders_changed": "orders",
    "vehicles_changed": "vehicles",
    "campaigns_changed": "campaigns",
}
DATASETS.update({name: (*DATASETS[of], DELETED) for name, of in CHANGED_DATASETS.items()})
# Written by a full run only: the compaction (the schedule's run of each SNAPSHOT_WEEKDAY's day), any run asked for
# (POST /analytics/exports) and any day older than the engagement items cover. A nightly run of another day reads
# customers, complaints and orders through their indexes (no Scan: its cost follows customers and orders, not
# contacts and messages) and leaves these as the last full run wrote them; "as of day D" lays the *_changed rows
# since over them (complaints, vehicles, campaigns), the facts tell what happened since to notifications and
# shipments, and products, appointments, work orders and campaign recipients are as the last full run wrote them.
COMPACTED_DATASETS = frozenset({"notifications", "complaints", "shipments", "products", "campaigns",
                                "campaign_recipients", "vehicles", "appointments", "work_orders"})
SNAPSHOT_WEEKDAY = 6  # Sunday: the night to Monday writes the week's compacted snapshot


def full_run(day: date, *, trigger: str, engagement_covers: bool) -> bool:
    """Whether the export of `day` writes the compacted snapshot datasets (a Scan of the table): a run asked for
    through the API, the compaction day's, a day the engagement items do not cover (its contacts are read)."""
    return trigger == "api" or day.weekday() == SNAPSHOT_WEEKDAY or not engagement_covers
# (pk prefix, sk) of the item each delta dataset follows; the item types, and the key column of a deleted one
_DIMENSIONS = {
    ("C#", "PROFILE"): ("customers_changed", ("customer", "customer_erasure"), "customer_key", "customer"),
    ("X#", "COMPLAINT"): ("complaints_changed", ("complaint",), "complaint_key", "complaint"),
    ("O#", "ORDER"): ("orders_changed", ("order",), "order_key", "order"),
    ("VEH#", "VEHICLE"): ("vehicles_changed", ("vehicle",), "vehicle_key", "vehicle"),
    ("CAMP#", "CAMPAIGN"): ("campaigns_changed", ("campaign",), "campaign_id", ""),
}
DIMENSION_TYPES = frozenset(t for _, types, _, _ in _DIMENSIONS.values() for t in types)


def _dimension(pk: str, sk: str) -> tuple[str, str, tuple[str, ...], str, str] | None:
    """(pk prefix, delta dataset, item types, key column, pseudonym kind) of the item at (pk, sk), or None."""
    for (prefix, kind_sk), (dataset, types, column, kind) in _DIMENSIONS.items():
        if sk == kind_sk and pk.startswith(prefix):
            return prefix, dataset, types, column, kind
    return None


def dimension_of(pk: str, sk: str) -> str | None:
    """The delta dataset that follows the item at (pk, sk), or None."""
    found = _dimension(pk, sk)
    return found[1] if found else None


def deleted_row(pk: str, sk: str, key: Pseudonymizer) -> tuple[str, dict[str, Any]] | None:
    """(delta dataset, row) saying the entity at (pk, sk) is gone: its key, `deleted`, nothing else."""
    found = _dimension(pk, sk)
    if found is None:
        return None
    prefix, dataset, _, column, kind = found
    entity_id = pk.removeprefix(prefix)
    row: dict[str, Any] = {c.name: None for c in DATASETS[dataset]}
    return dataset, {**row, column: key(kind, entity_id) if kind else entity_id, "deleted": True}


def column_sets() -> dict[str, tuple[Column, ...]]:
    """Every dataset's columns: the snapshot's and the facts' (what the Glue tables are made of)."""
    return {**DATASETS, **FACT_DATASETS}


def file_extension(dataset: str) -> str:
    """How the dataset's parts are written: the facts as Parquet, the rest as gzipped JSON Lines."""
    return FACT_FILE_EXTENSION if dataset in FACT_DATASETS else FILE_EXTENSION


# History changes whose values are enumerations; other changes (assignee,
# resolution note) keep only that they happened.
_HISTORY_VALUES_KEPT = frozenset({"created", "status", "escalation", "factory_defect"})


def exportable(day: date, today: date) -> bool:
    """A snapshot can be taken of EXPORT_EARLIEST_DATE (where the Glue tables' dt projection starts) up to today
    (local): not of a day still to come, whose numbers would also stand in the API as the latest."""
    return date.fromisoformat(EXPORT_EARLIEST_DATE) <= day <= today


class Pseudonymizer:
    """HMAC-SHA256 of "<kind>:<id>": the same id gives the same key on every day's export."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the pseudonym secret must be at least 16 bytes")
        self._key = secret
        # A customer's rows come together and staff are few: most ids repeat. Bounded.
        self._known: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, value: str | None) -> str | None:
        if value is None:
            return None
        known = self._known.get((kind, value))
        if known is None:
            if len(self._known) >= MEMO_MAX_ENTRIES:
                self._known.clear()
            known = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]
            self._known[(kind, value)] = known
        return known


@dataclass(frozen=True)
class Snapshot:
    """The export of `day`: what the CRM held at the end of that local day."""

    day: date
    timezone: str

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _prefix_chars(self) -> int:
        """How much of a UTC time decides its local date: the hour ("YYYY-MM-DDTHH") where offsets are whole hours
        (and daylight saving time switches on the hour), else the minute."""
        offset = datetime.combine(self.day, datetime.min.time(), tzinfo=self._zone).utcoffset()
        return 13 if offset is not None and offset.total_seconds() % 3600 == 0 else 16

    @cached_property
    def _dates(self) -> dict[str, str]:
        return {}

    @cached_property
    def ends_at(self) -> str:
        """First instant after the day, ISO 8601 UTC: records from then on are left out."""
        return iso(datetime.combine(self.day + timedelta(days=1), datetime.min.time(), tzinfo=self._zone))

    def local_date(self, stamp: str | None) -> str | None:
        if not stamp:
            return None
        prefix = stamp[:self._prefix_chars]
        known = self._dates.get(prefix)
        if known is None:
            if len(self._dates) >= MEMO_MAX_ENTRIES:
                self._dates.clear()
            known = self._dates[prefix] = parse_iso(stamp).astimezone(self._zone).date().isoformat()
        return known

    def local_day(self, stamp: str) -> date:
        return date.fromisoformat(str(self.local_date(stamp)))

    def includes(self, stamp: str | None) -> bool:
        return bool(stamp) and str(stamp) < self.ends_at


# City and tags are typed by staff. A city is exported only when it reads like a place name (letters, up to
# EXPORT_CITY_MAX_WORDS words; an address, a phone or a note typed into it has digits, punctuation or more words);
# a tag only without a run of digits (a phone, an id number, a date put into a label).
OTHER_CITY = "other"
_PLACE_NAME = re.compile(r"[^\W\d_]+(?:[ '.-][^\W\d_]+)*\.?")
_DIGIT_RUN = re.compile(r"\d{4}")


def export_city(value: str | None) -> str | None:
    """The city as exported: whitespace collapsed, or `other` when it does not read like a place name."""
    if value is None or not value.strip():
        return None
    city = " ".join(value.split())
    if len(city) > EXPORT_CITY_MAX_CHARS or len(city.split()) > EXPORT_CITY_MAX_WORDS or not _PLACE_NAME.fullmatch(city):
        return OTHER_CITY
    return city


def export_tags(tags: Sequence[str] | None) -> list[str]:
    """The tags as exported: those without 4 digits in a row."""
    return [t for t in tags or () if not _DIGIT_RUN.search(t)]


def _consent(consent: Mapping[str, Any] | None, topic: str) -> bool:
    entry = (consent or {}).get(topic) or {}
    return bool(entry.get("value"))


def customer_row(item: Mapping[str, Any], key: Pseudonymizer, snap: Snapshot, *, sms_opted_out: bool,
                 marketing_consent_withdrawn: bool) -> dict[str, Any]:
    return {
        "customer_key": key("customer", item["id"]),
        "branch_id": item["branch_id"],
        "lifecycle_stage": item["lifecycle_stage"],
        "gender": item.get("gender"),
        "age_band": age_band(item.get("birthday"), snap.day),
        "city": export_city(item.get("city")),
        "preferred_channel": item["preferred_channel"],
        "language": item["language"],
        "tags": export_tags(item.get("tags")),
        "has_email": bool(item.get("email")),
        "sms_marketing_consent": _consent(item.get("consent"), "sms_marketing"),
        "email_marketing_consent": _consent(item.get("consent"), "email_marketing"),
        "sms_opted_out": sms_opted_out,
        "marketing_consent_withdrawn": marketing_consent_withdrawn,
        "created_at": item["created_at"],
        "created_on": snap.local_date(item["created_at"]),
        "updated_at": item["updated_at"],
    }


def is_notification(item: Mapping[str, Any]) -> bool:
    """A message the CRM sent (or decided not to send) by itself, rather than a contact by staff."""
    return item.get("delivery") is not None


def interaction_row(item: Mapping[str, Any], key: Pseudonymizer, snap: Snapshot) -> dict[str, Any]:
    return {
        "customer_key": key("customer", item["customer_id"]),
        "branch_id": item.get("branch_id"),
        "channel": item["channel"],
        "direction": item["direction"],
        "kind": item["kind"],
        "staff_key": key("staff", item.get("staff_id")),
        "occurred_at": item["occurred_at"],
        "occurred_on": snap.local_date(item["occurred_at"]),
    }


NOTIFICATION_TOPICS = {"complaint_followup": "complaint", "order_update": "order", "service_update": "service",
                       "survey": "survey"}


def notification_topic(item: Mapping[str, Any]) -> str:
    """What a message the CRM sent by itself was about (campaign messages are the campaign datasets')."""
    topic = NOTIFICATION_TOPICS.get(str(item.get("kind")))
    if topic:
        return topic
    return "birthday" if item.get("ref") == "birthday" else "due_date"


def notification_row(item: Mapping[str, Any], key: Pseudonymizer, snap: Snapshot) -> dict[str, Any]:
    return {
        "customer_key": key("customer", item["customer_id"]),
        "branch_id": item.get("branch_id"),
        "topic": notification_topic(item),
        "channel": item["channel"],
        "delivery": item["delivery"],
        "reason": item.get("reason"),
        "occurred_at": item["occurred_at"],
        "occurred_on": snap.local_date(item["occurred_at"]),
    }


def hours_between(start: str, end: str | None) -> float | None:
    if not end:
        return None
    return round((parse_iso(end) - parse_iso(start)).total_seconds() / 3600, 4)


@dataclass(frozen=True)
class ComplaintState:
    """Where a complaint stood at the end of the snapshot's day."""

    status: str
    acknowledged_at: str | None
    resolved_at: str | None
    closed_at: str | None
    breached: bool  # a deadline had been missed by then: acknowledged or resolved late, or not at all in time


def changed_since(item: Mapping[str, Any], ends_at: str) -> bool:
    """The complaint changed after the snapshot's end (its state then needs its history)."""
    return str(item.get("updated_at") or "") >= ends_at


def complaint_state(item: Mapping[str, Any], history: Sequence[Mapping[str, Any]], ends_at: str) -> ComplaintState:
    """The complaint as it was at `ends_at` (ISO 8601 UTC): its item if it has not changed since, else replayed
    from its status history (a reopening clears resolved_at on the item, the history keeps every move).
    `history` is needed only when `changed_since`; entries from `ends_at` on are ignored."""
    from chalicelib.domain.complaints import Status

    if not changed_since(item, ends_at):
        status, acknowledged, resolved, closed = (item["status"], item.get("acknowledged_at"),
                                                  item.get("resolved_at"), item.get("closed_at"))
    else:
        moves = sorted((h for h in history if h.get("change") == "status" and str(h.get("at")) < ends_at),
                       key=lambda h: str(h["at"]))
        status = str(moves[-1]["to_value"]) if moves else Status.OPEN.value
        acknowledged = item.get("acknowledged_at") if str(item.get("acknowledged_at") or "~") < ends_at else None

        def last_move_to(to: str) -> str | None:
            return next((str(h["at"]) for h in reversed(moves) if h.get("to_value") == to), None)

        done = status in (Status.RESOLVED.value, Status.CLOSED.value)
        resolved = last_move_to(Status.RESOLVED.value) if done else None
        closed = last_move_to(Status.CLOSED.value) if status == Status.CLOSED.value else None
    # as chalicelib.domain.complaints.Complaint.breached, with the snapshot's end for now
    breached = (acknowledged or ends_at) > str(item["ack_due_at"]) or (resolved or ends_at) > str(item["resolve_due_at"])
    return ComplaintState(status, acknowledged, resolved, closed, breached)


def complaint_row(item: Mapping[str, Any], history: Sequence[Mapping[str, Any]], state: ComplaintState,
                  key: Pseudonymizer, snap: Snapshot) -> dict[str, Any]:
    resolved_at = state.resolved_at
    return {
        "complaint_key": key("complaint", item["id"]),
        "customer_key": key("customer", item["customer_id"]),
        "branch_id": item["branch_id"],
        "category": item["category"],
        "department": item["department"],
        "severity": item["severity"],
        "status": state.status,
        "escalation_level": int(item.get("escalation_level") or 0),
        "breached": state.breached,
        "created_at": item["created_at"],
        "created_on": snap.local_date(item["created_at"]),
        "acknowledged_at": state.acknowledged_at,
        "resolved_at": resolved_at,
        "closed_at": state.closed_at,
        "ack_due_at": item["ack_due_at"],
        "resolve_due_at": item["resolve_due_at"],
        "hours_to_resolve": hours_between(item["created_at"], resolved_at),
        "resolved_within_sla": (str(resolved_at) <= str(item["resolve_due_at"])) if resolved_at else None,
        "vehicle_key": key("vehicle", item.get("vin")),
        "part_no": item.get("part_no"),
        "batch_no": item.get("batch_no"),
        "defect_code": item.get("defect_code"),
        "factory_defect": item.get("factory_defect"),
        "history": [
            {
                "at": h["at"],
                "change": h["change"],
                "from_value": h.get("from_value") if h["change"] in _HISTORY_VALUES_KEPT else None,
                "to_value": h.get("to_value") if h["change"] in _HISTORY_VALUES_KEPT else None,
                "staff_key": key("staff", h.get("by")),
            }
            for h in sorted(history, key=lambda h: str(h["at"]))
            if snap.includes(h.get("at"))
        ],
    }


# ------------------------------------------------------------------ orders, their lines, shipments, the catalog


def money(value: Any) -> float | None:
    """A stored money text as a JSON number (Athena reads it into decimal(18,2)); None stays None."""
    return None if value is None else float(Decimal(str(value)))


def order_rows(item: Mapping[str, Any], key: Pseudonymizer, snap: Snapshot) -> tuple[dict[str, Any],
                                                                                    list[dict[str, Any]]]:
    """The order's row and its lines' rows. No personal data: the customer as its pseudonym (an erased customer's
    orders carry their detached id, so they stay one customer_key), no `ref`, no names."""
    import json

    order_key, customer_key = key("order", item["id"]), key("customer", item["customer_id"])
    placed_on = snap.local_date(item["placed_at"])
    revenue = item["status"] in REVENUE_STATUSES
    lines = json.loads(item["lines"])
    row = {
        "order_key": order_key, "customer_key": customer_key, "branch_id": item["branch_id"],
        "channel": item["channel"], "status": item["status"], "payment_status": item["payment_status"],
        "lines": len(lines), "subtotal": money(item["subtotal"]), "discount_total": money(item["discount_total"]),
        "tax_total": money(item["tax_total"]), "net_total": money(item["net_total"]), "is_revenue": revenue,
        "placed_at": item["placed_at"], "placed_on": placed_on, "promised_date": item.get("promised_date"),
        "delivered_at": item.get("delivered_at") if snap.includes(item.get("delivered_at")) else None,
        "returned_at": item.get("returned_at") if snap.includes(item.get("returned_at")) else None,
        "return_reason": item.get("return_reason"), "late": item.get("late_since") is not None,
        "customer_erased": str(item["customer_id"]).startswith("erased:"),
        "staff_key": key("staff", item.get("created_by")), "phone_key": key("phone", item.get("contact_phone")),
        "placed_with_staff_phone": bool(item.get("placed_with_staff_phone")),
        "changed_after_delivery": snap.includes(item.get("changed_after_delivery_at")),
    }
    line_rows = [{
        "order_key": order_key, "customer_key": customer_key, "branch_id": item["branch_id"],
        "placed_on": placed_on, "is_revenue": revenue, "line_no": int(x["line_no"]), "sku": x["sku"],
        "category": x.get("category", "other"), "qty": float(Decimal(x["qty"])),
        "list_price": money(x["list_price"]) if x.get("list_price") is not None else None,
        "cost_price": money(x["cost_price"]) if x.get("cost_price") is not None else None,
        "unit_price": money(x["unit_price"]),
        "discount_amount": money(x["discount_amount"]), "tax_rate": float(Decimal(x["tax_rate"])),
        "total": money(x["total"]),
    } for x in lines]
    return row, line_rows


def shipment_row(item: Mapping[str, Any], events: Sequence[Mapping[str, Any]], key: Pseudonymizer,
                 snap: Snapshot) -> dict[str, Any]:
    """A shipment without its tracking number (the carrier's systems tie it to an address)."""
    import json

    seen = [e for e in events if snap.includes(e.get("received_at"))]
    delivered = [e["occurred_at"] for e in seen if e.get("applied") and e["status"] == "delivered"]
    return {
        "shipment_key": key("shipment", item["id"]), "order_key": key("order", item["order_id"]),
        "branch_id": item["branch_id"], "carrier": item["carrier"], "status": item["status"],
        "lines": len(json.loads(item["lines"])), "created_at": item["created_at"],
        "created_on": snap.local_date(item["created_at"]), "expected_delivery_date": item.get("expected_delivery_date"),
        "delivered_at": min(delivered) if delivered else None, "events": len(seen),
        "delays": sum(1 for e in seen if e.get("applied") and e["status"] == "delayed"),
    }


def product_row(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"sku": item["sku"], "name": item["name"], "category": item["category"], "unit": item["unit"],
            "list_price": money(item["list_price"]), "cost_price": money(item.get("cost_price")),
            "active": bool(item["active"]), "updated_at": item["updated_at"]}


# ------------------------------------------------------------------ campaigns and their recipients


def campaign_row(item: Mapping[str, Any], snap: Snapshot) -> dict[str, Any]:
    """A campaign: what it was and when, no texts (they are marketing's copy, not customer data, but large)."""
    import json

    started = item.get("started_at") if snap.includes(item.get("started_at")) else None
    return {"campaign_id": item["id"], "number": int(item["number"]), "name": item["name"],
            "channel": item["channel"], "purpose": item["purpose"], "status": item["status"],
            "holdout_pct": int(item["holdout_pct"]), "variants": [v["id"] for v in json.loads(item["variants"])],
            "created_at": item["created_at"], "started_at": started, "started_on": snap.local_date(started),
            "finished_at": item.get("finished_at") if snap.includes(item.get("finished_at")) else None,
            "recipients": int(item["recipients"]) if started and item.get("recipients") is not None else None}


def campaign_recipient_row(item: Mapping[str, Any], key: Pseudonymizer, snap: Snapshot) -> dict[str, Any]:
    """A recipient row with the customer as its pseudonym (an erased customer's row carries its detached id).
    A send after the day is exported as still queued."""
    sent = snap.includes(item.get("sent_at"))
    status = item["status"] if sent or item["arm"] != "send" or item["status"] in ("capped", "withdrawn") \
        else "queued"
    return {"campaign_id": item["campaign_id"], "customer_key": key("customer", item["customer_id"]),
            "branch_id": item["branch_id"], "arm": item["arm"], "reason": item.get("reason"),
            "variant": item.get("variant"), "status": status,
            "error_code": item.get("error_code") if sent else None,
            "parts": int(item["parts"]) if sent and item.get("parts") is not None else None,
            "sent_at": item.get("sent_at") if sent else None,
            "sent_on": snap.local_date(item.get("sent_at")) if sent else None,
            "opted_out": snap.includes(item.get("opted_out_at"))}


# ------------------------------------------------------------------ the workshop: vehicles, appointments, work orders


def vehicle_row(item: Mapping[str, Any], key: Pseudonymizer) -> dict[str, Any]:
    """A vehicle without its plate, engine number or the owner's copy (name, phone): the VIN and the owner as
    pseudonyms; model and year stay (what QC clusters by)."""
    odometer = item.get("last_odometer_km")
    return {"vehicle_key": key("vehicle", item["vin"]), "customer_key": key("customer", item.get("owner_id")),
            "branch_id": item["branch_id"], "make": item["make"], "model": item["model"], "year": int(item["year"]),
            "purchase_on": item.get("purchase_date"), "warranty_end": item.get("warranty_end"),
            "last_service_on": item.get("last_service_date"),
            "last_odometer_km": int(odometer) if odometer is not None else None, "created_at": item["created_at"]}


def appointment_row(item: Mapping[str, Any], key: Pseudonymizer, snap: Snapshot) -> dict[str, Any]:
    """An appointment without its notes (free text)."""
    return {"appointment_key": key("appointment", item["id"]), "vehicle_key": key("vehicle", item["vin"]),
            "customer_key": key("customer", item["customer_id"]), "branch_id": item["branch_id"],
            "service_type": item["service_type"], "slot_start": item["slot_start"],
            "slot_on": snap.local_date(item["slot_start"]), "status": item["status"],
            "created_at": item["created_at"]}


def work_order_row(item: Mapping[str, Any], history: Sequence[Mapping[str, Any]], key: Pseudonymizer,
                   snap: Snapshot) -> dict[str, Any]:
    """A work order without its jobs' descriptions (free text): their count and the estimate."""
    import json

    jobs = json.loads(item["jobs"])
    completed = [h["at"] for h in history if h.get("change") == "status" and h.get("to_value") == "completed"]
    return {"work_order_key": key("work_order", item["id"]), "vehicle_key": key("vehicle", item["vin"]),
            "customer_key": key("customer", item["customer_id"]), "branch_id": item["branch_id"],
            "status": item["status"], "stage": item.get("stage"), "jobs": len(jobs),
            "estimate_total": money(sum((Decimal(j["estimate_amount"]) for j in jobs), Decimal("0.00"))),
            "approved": item.get("approved_at") is not None, "eta": item["eta"],
            "late": item.get("late_complaint_id") is not None, "created_at": item["created_at"],
            "created_on": snap.local_date(item["created_at"]),
            "completed_at": min(completed) if completed else None}


# ------------------------------------------------------------------ facts' rows

_ORDER_VALUES_KEPT = frozenset({"created", "status", "payment_status", "promised_date"})  # not `late`: an id


def _history_event(entry: Mapping[str, Any], kept: frozenset[str], key: Pseudonymizer,
                   snap: Snapshot) -> dict[str, Any]:
    shown = entry["change"] in kept
    return {"changed_at": entry["at"], "changed_on": snap.local_date(entry["at"]), "change": entry["change"],
            "from_value": entry.get("from_value") if shown else None,
            "to_value": entry.get("to_value") if shown else None, "staff_key": key("staff", entry.get("by"))}


def delivered_at(item: Mapping[str, Any]) -> str | None:
    """When an order history entry says the order became delivered (its lines are then facts), else None."""
    if item.get("type") == "order_history" and item.get("change") == "status" and item.get("to_value") == "delivered":
        return str(item["at"])
    return None


def delivered_line_rows(order: Mapping[str, Any], at: str, key: Pseudonymizer, snap: Snapshot) -> list[dict[str, Any]]:
    """The lines of an order delivered at `at`: the `delivered_order_lines` facts."""
    return [{**line, "delivered_at": at, "delivered_on": snap.local_date(at)} for line in order_rows(order, key, snap)[1]]


def fact_row(item: Mapping[str, Any], key: Pseudonymizer, snap: Snapshot) -> tuple[str, str, dict[str, Any]] | None:
    """(fact dataset, when it happened (ISO 8601 UTC), row) of a stored fact item, or None for any other item
    (and for a notification not yet sent, skipped or failed)."""
    kind, pk = item.get("type"), str(item.get("pk", ""))
    if kind == "interaction":
        if not is_notification(item):
            return "interaction_events", str(item["occurred_at"]), interaction_row(item, key, snap)
        if item["delivery"] not in FINAL_DELIVERIES:
            return None
        return "notification_events", str(item["occurred_at"]), notification_row(item, key, snap)
    if kind == "complaint_history":
        row = {"complaint_key": key("complaint", pk.removeprefix("X#")),
               **_history_event(item, _HISTORY_VALUES_KEPT, key, snap)}
        return "complaint_events", str(item["at"]), row
    if kind == "order_history":
        return "order_events", str(item["at"]), {"order_key": key("order", pk.removeprefix("O#")),
                                                 **_history_event(item, _ORDER_VALUES_KEPT, key, snap)}
    if kind == "survey":
        if item.get("status") != "answered":
            return None
        return "survey_answers", str(item["answered_at"]), survey_answer_row(item, key, snap)
    if kind == "shipment_event":
        shipment_id = str(item["sk"]).split("#")[1]
        return "shipment_events", str(item["occurred_at"]), {
            "shipment_key": key("shipment", shipment_id), "order_key": key("order", pk.removeprefix("O#")),
            "status": item["status"], "applied": bool(item["applied"]), "occurred_at": item["occurred_at"],
            "occurred_on": snap.local_date(item["occurred_at"]), "received_at": item["received_at"]}
    return None


def survey_answer_row(item: Mapping[str, Any], key: Pseudonymizer, snap: Snapshot) -> dict[str, Any]:
    """An answered survey's scores, pseudonymised; its comment is free text and stays out."""
    csat = int(item["csat"])
    return {"customer_key": key("customer", item["customer_id"]), "subject": item["subject"],
            "subject_key": key(str(item["subject"]), item["subject_id"]), "branch_id": item["branch_id"],
            "department": item["department"], "staff_key": key("staff", item.get("staff_id")),
            "asks_nps": bool(item.get("asks_nps")), "csat": csat,
            "nps": int(item["nps"]) if item.get("nps") is not None else None, "low": csat <= LOW_CSAT,
            "sent_at": item["sent_at"], "answered_at": item["answered_at"],
            "answered_on": snap.local_date(item["answered_at"])}


FACT_TYPES = frozenset({"interaction", "complaint_history", "order_history", "shipment_event", "survey"})
_RECORDED = {"interaction": "created_at", "complaint_history": "at", "order_history": "at",
             "shipment_event": "received_at", "survey": "answered_at"}


def recorded_at(item: Mapping[str, Any], happened: str) -> str:
    """When a fact item was stored (ISO 8601 UTC), as the item says: an interaction's created_at (not when the
    contact happened), a history entry's time, a carrier event's arrival; `happened` for an item without it
    (imported from elsewhere). History imported under `clock.at()` carries the time it is about."""
    return str(item.get(_RECORDED[str(item["type"])]) or happened)


def is_logged(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Does the nightly export need this change (the item's `type` and `delivery` before and after)? A new fact,
    or any change of an entity the delta datasets follow (created, changed, deleted)."""
    if (new or old or {}).get("type") in DIMENSION_TYPES:
        return True
    return is_new_fact(old, new)


def is_new_fact(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Does this change bring a fact to export? A new fact item; a notification when it ends (sent, skipped or
    failed): once, whatever changes after."""
    if new is None or new.get("type") not in FACT_TYPES:
        return False
    if new.get("type") == "survey":  # a fact once answered: once, whatever changes after
        return new.get("status") == "answered" and (old is None or old.get("status") != "answered")
    if new.get("type") == "interaction" and new.get("delivery") is not None:
        return new["delivery"] in FINAL_DELIVERIES and (old is None or old.get("delivery") not in FINAL_DELIVERIES)
    return old is None


Fact = tuple[str, str, dict[str, Any]]  # (fact dataset, when it happened (ISO 8601 UTC), row)


def facts_stored_before(items: list[dict[str, Any]], key: Pseudonymizer, snap: Snapshot,
                        begins: str) -> list[tuple[tuple[str, str], Fact]]:
    """(the item's key, fact) of each fact among one partition key's items (a customer's, a complaint's, an
    order's) stored before `begins`: what the facts backfill of the day starting at `begins` may own; the lines
    of a delivered order come with the history entry that says so, under its key."""
    order = next((i for i in items if i.get("type") == "order"), None)
    found: list[tuple[tuple[str, str], Fact]] = []
    for item in items:
        if item.get("type") not in FACT_TYPES:
            continue
        fact = fact_row(item, key, snap)
        if fact is None or recorded_at(item, fact[1]) >= begins:
            continue
        item_key = (str(item["pk"]), str(item["sk"]))
        found.append((item_key, fact))
        when = delivered_at(item)
        if when is not None and order is not None:
            found.extend((item_key, ("delivered_order_lines", when, line))
                         for line in delivered_line_rows(order, when, key, snap))
    return found

