"""PynamoDB models of the single CRM table (see docs/data-model.md).

One table, items told apart by the `type` discriminator:

    customer     pk=C#<customer_id>  sk=PROFILE
    customer_erasure  pk=C#<customer_id>  sk=PROFILE  (the profile while it is erased: refuses every write)
    interaction  pk=C#<customer_id>  sk=I#<occurred_at>#<interaction_id>
    due_item     pk=C#<customer_id>  sk=D#<item_id>     (reminders; outside I#..PROFILE on purpose)
    complaint_link  pk=C#<customer_id>  sk=X#<complaint_id>  (finds a customer's complaints consistently)
    message_claim   pk=C#<customer_id>  sk=Z#<key>  (exactly-once for customer messages)
    guard        pk=PHONE#<e164> | EMAIL#<address>  sk=GUARD
    complaint    pk=X#<complaint_id>  sk=COMPLAINT       (on the timeline of its customer)
    complaint_history  pk=X#<complaint_id>  sk=H#<at>#<n>
    sms_opt_out  pk=OPTOUT#<e164>  sk=SMS
    erasure_record  pk=ERASED#<YYYY-MM-DD>  sk=<customer_id>  (the sweeper re-checks the day's erasures; TTL)
    product      pk=P#<sku>  sk=PRODUCT   (the catalog index: cat_pk=CATALOG, cat_sk=<category>#<name key>#<sku>)
    price_change pk=P#<sku>  sk=H#<at>#<n>
    order        pk=O#<order_id>  sk=ORDER   (orders_all, orders_by_branch, orders_by_customer: o_sk=<placed_at>#<id>)
    order_history  pk=O#<order_id>  sk=H#<at>#<n>
    order_no     pk=ORDERNO#<branch>#<order_no>  sk=GUARD   (an order number is unique per branch)
    sequence     pk=SEQ#ORDER#<branch>#<year>  sk=SEQ   (the next generated order number)
    campaign     pk=CAMP#<campaign_id>  sk=CAMPAIGN  (campaigns: cmp_pk=CAMP, cmp_sk=<created_at>#<id>)
    campaign_stats  pk=CAMP#<campaign_id>  sk=STATS  (the report's counters, each page counted once)
    campaign_recipient  pk=CAMP#<campaign_id>  sk=R#<customer_id>  (the fixed audience; on the customer's timeline)
    campaign_no  pk=CAMPNO#<number>  sk=GUARD   (the short number in opt-out links -> the campaign)
    marketing_cap  pk=C#<customer_id>  sk=V#MCAP  (the days of the customer's marketing messages: the frequency cap)
    survey       pk=C#<customer_id>  sk=S#<subject>#<subject_id>  (one per subject; on the customer's timeline)
    survey_cap   pk=C#<customer_id>  sk=V#SCAP  (when the customer was last surveyed, and asked the NPS question)
    engagement   pk=C#<customer_id>  sk=V#ENG   (the customer's contacts of 400 days and messages, for the analyses)

Sort-key prefixes of items under a customer are chosen so that
`sk BETWEEN 'I#' AND 'PROFILE'` returns the profile first and then the
interactions newest first, in one Query; due items sort before it, the
customer's bookkeeping (complaint links, message claims) after it. Everything
a customer owns is in their partition or reached from it (a complaint through
its link), so one consistent Query finds all of it (the erasure).
"""

from __future__ import annotations

import os
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection.table import TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.config import settings

PROFILE_SK = "PROFILE"
GUARD_SK = "GUARD"
INTERACTION_PREFIX = "I#"
TIMELINE_PROFILE_SK = "~"  # sorts after every timestamp: first in a newest-first Query


COMPLAINT_SK = "COMPLAINT"
HISTORY_PREFIX = "H#"
ALL_COMPLAINTS_PK = "CX"


DUE_ITEM_PREFIX = "D#"
COMPLAINT_LINK_PREFIX = "X#"
MESSAGE_CLAIM_PREFIX = "Z#"


def complaint_link_sk(complaint_id: str) -> str:
    return f"{COMPLAINT_LINK_PREFIX}{complaint_id}"


def message_claim_sk(key: str) -> str:
    return f"{MESSAGE_CLAIM_PREFIX}{key}"


def erasure_record_pk(day: str) -> str:
    """The erasures begun on a UTC day (YYYY-MM-DD), one item each."""
    return f"ERASED#{day}"


def due_item_sk(item_id: str) -> str:
    return f"{DUE_ITEM_PREFIX}{item_id}"


def due_date_pk(due_date: str) -> str:
    """Hash key of the `due_by_date` index: every due item falling due on that date (YYYY-MM-DD)."""
    return f"DUE#{due_date}"


def birthday_pk(month_day: str) -> str:
    """Hash key of the `birthdays` index: every profile born on that month-day (MM-DD)."""
    return f"BDAY#{month_day}"


def complaint_pk(complaint_id: str) -> str:
    return f"X#{complaint_id}"


def customer_pk(customer_id: str) -> str:
    return f"C#{customer_id}"


def interaction_sk(occurred_at: str, interaction_id: str) -> str:
    return f"{INTERACTION_PREFIX}{occurred_at}#{interaction_id}"


def phone_guard_pk(phone: str) -> str:
    return f"PHONE#{phone}"


def email_guard_pk(email: str) -> str:
    return f"EMAIL#{email}"


ALL_CUSTOMERS_PK = "CUST"


def branch_pk(branch_id: str) -> str:
    return f"CUST#{branch_id}"


def stage_pk(stage: str) -> str:
    return f"STAGE#{stage}"


def branch_stage_pk(branch_id: str, stage: str) -> str:
    return f"CUST#{branch_id}#{stage}"


def name_pk(key: str) -> str:
    return f"NAME#{key[:1]}"


def _index(name: str, hash_attr: str, range_attr: str | None) -> type[GlobalSecondaryIndex[Any]]:
    attrs: dict[str, Any] = {
        "Meta": type("Meta", (), {"index_name": name, "projection": AllProjection()}),
        hash_attr: UnicodeAttribute(hash_key=True),
    }
    if range_attr:
        attrs[range_attr] = UnicodeAttribute(range_key=True)
    return type(f"Index_{name}", (GlobalSecondaryIndex,), attrs)


# index name -> (hash attribute, range attribute). The infra template declares the same.
INDEXES: dict[str, tuple[str, str | None]] = {
    "customers_all": ("all_pk", "all_sk"),
    "customers_by_branch": ("branch_pk", "branch_sk"),
    "customers_by_stage": ("stage_pk", "stage_sk"),
    "customers_by_branch_stage": ("branch_stage_pk", "branch_stage_sk"),
    "customers_by_name": ("name_pk", "name_sk"),
    "customers_by_phone": ("phone", None),
    "customers_by_email": ("email", None),
    "timeline": ("tl_pk", "tl_sk"),
    "complaints_all": ("ca_pk", "ca_sk"),
    "complaints_by_branch": ("cb_pk", "cb_sk"),
    "complaints_by_department": ("cd_pk", "cd_sk"),
    "birthdays": ("bday_pk", "bday_sk"),
    "due_by_date": ("due_pk", "due_sk"),
    "catalog": ("cat_pk", "cat_sk"),
    "orders_all": ("oa_pk", "o_sk"),
    "orders_by_branch": ("ob_pk", "o_sk"),
    "orders_by_customer": ("oc_pk", "o_sk"),
    "orders_late": ("late_pk", "late_sk"),
    "campaigns": ("cmp_pk", "cmp_sk"),
}


class Item(Model):
    """Every item of the CRM table. Its connection is the one place that binds the models to the
    configured table (`_get_connection`, which every PynamoDB operation goes through)."""

    class Meta:
        table_name = "relasi"  # replaced from settings() on first use (_bind)

    @classmethod
    def _get_connection(cls) -> TableConnection:
        _bind()  # PynamoDB makes a new connection when the table name changed
        return super()._get_connection()

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    type = DiscriminatorAttribute()
    tl_pk = UnicodeAttribute(null=True)
    tl_sk = UnicodeAttribute(null=True)

    customers_all = _index("customers_all", *INDEXES["customers_all"])()
    customers_by_branch = _index("customers_by_branch", *INDEXES["customers_by_branch"])()
    customers_by_stage = _index("customers_by_stage", *INDEXES["customers_by_stage"])()
    customers_by_branch_stage = _index("customers_by_branch_stage", *INDEXES["customers_by_branch_stage"])()
    customers_by_name = _index("customers_by_name", *INDEXES["customers_by_name"])()
    customers_by_phone = _index("customers_by_phone", *INDEXES["customers_by_phone"])()
    customers_by_email = _index("customers_by_email", *INDEXES["customers_by_email"])()
    timeline = _index("timeline", *INDEXES["timeline"])()
    complaints_all = _index("complaints_all", *INDEXES["complaints_all"])()
    complaints_by_branch = _index("complaints_by_branch", *INDEXES["complaints_by_branch"])()
    complaints_by_department = _index("complaints_by_department", *INDEXES["complaints_by_department"])()
    birthdays = _index("birthdays", *INDEXES["birthdays"])()
    due_by_date = _index("due_by_date", *INDEXES["due_by_date"])()
    catalog = _index("catalog", *INDEXES["catalog"])()
    orders_all = _index("orders_all", *INDEXES["orders_all"])()
    orders_by_branch = _index("orders_by_branch", *INDEXES["orders_by_branch"])()
    orders_by_customer = _index("orders_by_customer", *INDEXES["orders_by_customer"])()
    orders_late = _index("orders_late", *INDEXES["orders_late"])()
    campaigns = _index("campaigns", *INDEXES["campaigns"])()


class CustomerItem(Item, discriminator="customer"):
    id = UnicodeAttribute()
    name = UnicodeAttribute()
    phone = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    birthday = UnicodeAttribute(null=True)
    gender = UnicodeAttribute(null=True)
    address = UnicodeAttribute(null=True)
    city = UnicodeAttribute(null=True)
    branch_id = UnicodeAttribute()
    lifecycle_stage = UnicodeAttribute()
    tags = ListAttribute(of=UnicodeAttribute, null=True)
    preferred_channel = UnicodeAttribute()
    language = UnicodeAttribute()
    consent = MapAttribute(null=True)  # type: ignore[var-annotated,no-untyped-call]
    attributes = MapAttribute(null=True)  # type: ignore[var-annotated,no-untyped-call]
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = NumberAttribute()
    # index keys
    all_pk = UnicodeAttribute()
    all_sk = UnicodeAttribute()
    branch_pk = UnicodeAttribute()
    branch_sk = UnicodeAttribute()
    stage_pk = UnicodeAttribute()
    stage_sk = UnicodeAttribute()
    branch_stage_pk = UnicodeAttribute()
    branch_stage_sk = UnicodeAttribute()
    name_pk = UnicodeAttribute()
    name_sk = UnicodeAttribute()
    bday_pk = UnicodeAttribute(null=True)  # BDAY#MM-DD, only with a birthday
    bday_sk = UnicodeAttribute(null=True)


class InteractionItem(Item, discriminator="interaction"):
    id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    direction = UnicodeAttribute()
    kind = UnicodeAttribute()
    summary = UnicodeAttribute()
    staff_id = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    created_at = UnicodeAttribute()
    ref = UnicodeAttribute(null=True)
    delivery = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    # The customer's branch when it was recorded (real-time aggregates count per branch);
    # entries written before it existed have none.
    branch_id = UnicodeAttribute(null=True)
    # Only while a reminder waits to be sent (delivery "pending"/"sending"): what the
    # reminders state machine sends with; it removes them once the message is handled.
    address = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    sms_type = UnicodeAttribute(null=True)


class MessageClaimItem(Item, discriminator="message_claim"):
    """One per message the CRM decided about: makes sending exactly-once per key (in the customer's partition)."""

    customer_id = UnicodeAttribute()
    interaction_sk = UnicodeAttribute()


class CustomerErasureItem(Item, discriminator="customer_erasure"):
    """The profile while the customer is erased: no personal data, and every dependent write's
    condition (the profile is a `customer`) fails against it. Deleted last."""

    id = UnicodeAttribute()
    branch_id = UnicodeAttribute()  # who may resume it: the erased customer's branch
    started_at = UnicodeAttribute()
    version = NumberAttribute()


class ComplaintLinkItem(Item, discriminator="complaint_link"):
    """In the customer's partition, written with the complaint: a consistent Query finds every complaint. The
    same in a work order's partition (`WO#<id>`, `X#<complaint id>`) for a complaint about that work order."""

    complaint_id = UnicodeAttribute()


class ErasureRecordItem(Item, discriminator="erasure_record"):
    """That an erasure began (the id and the time, nothing else), for the sweeper; expires by TTL."""

    customer_id = UnicodeAttribute()
    started_at = UnicodeAttribute()
    expires_at = NumberAttribute()  # epoch seconds: the table's TTL attribute


class OptOutItem(Item, discriminator="sms_opt_out"):
    """A number that replied STOP: no SMS at all until START."""

    at = UnicodeAttribute()
    source = UnicodeAttribute()


class DueItemItem(Item, discriminator="due_item"):
    """Something of the customer's falling due (service, installment...): reminded at T-7, T-1, T-0.

    `contact_*` is a copy of the profile's contact data (refreshed from the table's
    stream when the profile changes, guarded by `contact_version`), so the daily
    job decides a due-date reminder from the index item alone.
    """

    id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    title = UnicodeAttribute()
    due_date = UnicodeAttribute()
    amount = NumberAttribute(null=True)
    ref = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    due_pk = UnicodeAttribute()
    due_sk = UnicodeAttribute()
    contact_phone = UnicodeAttribute()
    contact_email = UnicodeAttribute(null=True)
    contact_channel = UnicodeAttribute()
    contact_language = UnicodeAttribute()
    contact_version = NumberAttribute()
    contact_branch = UnicodeAttribute(null=True)  # the reminder's timeline entry is counted in this branch


class ComplaintItem(Item, discriminator="complaint"):
    id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    branch_id = UnicodeAttribute()
    category = UnicodeAttribute()
    department = UnicodeAttribute()
    severity = UnicodeAttribute()
    subject = UnicodeAttribute()
    description = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    ack_due_at = UnicodeAttribute()
    resolve_due_at = UnicodeAttribute()
    version = NumberAttribute()
    ref = UnicodeAttribute(null=True)
    assignee = UnicodeAttribute(null=True)
    resolution_note = UnicodeAttribute(null=True)
    acknowledged_at = UnicodeAttribute(null=True)
    resolved_at = UnicodeAttribute(null=True)
    resolved_by = UnicodeAttribute(null=True)
    resolved_branch = UnicodeAttribute(null=True)
    closed_at = UnicodeAttribute(null=True)
    reopened_at = UnicodeAttribute(null=True)
    reopens = NumberAttribute(default=0)
    escalation_level = NumberAttribute()
    breached = BooleanAttribute()  # set by the escalation workflow
    escalated_at = UnicodeAttribute(null=True)
    vin = UnicodeAttribute(null=True)  # quality_control: what QC traces the defect by
    part_no = UnicodeAttribute(null=True)
    batch_no = UnicodeAttribute(null=True)
    defect_code = UnicodeAttribute(null=True)
    factory_defect = BooleanAttribute(null=True)
    work_order_id = UnicodeAttribute(null=True)  # service: linked in the work order's partition too
    ca_pk = UnicodeAttribute()
    ca_sk = UnicodeAttribute()
    cb_pk = UnicodeAttribute()
    cb_sk = UnicodeAttribute()
    cd_pk = UnicodeAttribute()
    cd_sk = UnicodeAttribute()


class ComplaintHistoryItem(Item, discriminator="complaint_history"):
    at = UnicodeAttribute()
    by = UnicodeAttribute()
    change = UnicodeAttribute()
    from_value = UnicodeAttribute(null=True)
    to_value = UnicodeAttribute(null=True)


class ProductItem(Item, discriminator="product"):
    """Money as text ("1250000.00"): exact, never a float."""

    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    category = UnicodeAttribute()
    unit = UnicodeAttribute()
    list_price = UnicodeAttribute()
    cost_price = UnicodeAttribute(null=True)
    active = BooleanAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    version = NumberAttribute()
    cat_pk = UnicodeAttribute()
    cat_sk = UnicodeAttribute()


class PriceChangeItem(Item, discriminator="price_change"):
    at = UnicodeAttribute()
    by = UnicodeAttribute()
    field = UnicodeAttribute()
    old = UnicodeAttribute(null=True)
    new = UnicodeAttribute(null=True)


class OrderItem(Item, discriminator="order"):
    """Money as text; the lines (at most 100) as one JSON text attribute, so the order is one item."""

    id = UnicodeAttribute()
    order_no = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    branch_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    status = UnicodeAttribute()
    payment_status = UnicodeAttribute()
    lines = UnicodeAttribute()
    subtotal = UnicodeAttribute()
    discount_total = UnicodeAttribute()
    tax_total = UnicodeAttribute()
    net_total = UnicodeAttribute()
    placed_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    notify_customer = BooleanAttribute()
    promised_date = UnicodeAttribute(null=True)
    ref = UnicodeAttribute(null=True)
    return_reason = UnicodeAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)
    returned_at = UnicodeAttribute(null=True)
    late_since = UnicodeAttribute(null=True)
    late_complaint_id = UnicodeAttribute(null=True)
    tracking = UnicodeAttribute(null=True)
    contact_phone = UnicodeAttribute(null=True)  # personal data: removed when the order is detached
    placed_with_staff_phone = BooleanAttribute(null=True)
    changed_after_delivery_at = UnicodeAttribute(null=True)
    version = NumberAttribute()
    oa_pk = UnicodeAttribute()
    ob_pk = UnicodeAttribute()
    oc_pk = UnicodeAttribute(null=True)  # none once its customer is erased (the order is kept, detached)
    o_sk = UnicodeAttribute()
    late_pk = UnicodeAttribute(null=True)  # sparse: only while the order awaits delivery (orders_late)
    late_sk = UnicodeAttribute(null=True)


class OrderHistoryItem(Item, discriminator="order_history"):
    at = UnicodeAttribute()
    by = UnicodeAttribute()
    change = UnicodeAttribute()
    from_value = UnicodeAttribute(null=True)
    to_value = UnicodeAttribute(null=True)


class ShipmentItem(Item, discriminator="shipment"):
    """In its order's partition (`O#<order id>`, `SHIP#<id>`): one Query reads the order with its shipments."""

    id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    order_no = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    branch_id = UnicodeAttribute()
    notify_customer = BooleanAttribute()
    carrier = UnicodeAttribute()
    tracking_number = UnicodeAttribute()
    lines = UnicodeAttribute()  # JSON text: [{"line_no", "qty"}]
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    expected_delivery_date = UnicodeAttribute(null=True)
    last_event_at = UnicodeAttribute(null=True)
    version = NumberAttribute()


class ShipmentEventItem(Item, discriminator="shipment_event"):
    """`O#<order id>`, `SHEV#<shipment id>#<event id>`: the same carrier event twice is one item."""

    event_id = UnicodeAttribute()
    status = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    received_at = UnicodeAttribute()
    by = UnicodeAttribute()
    applied = BooleanAttribute()
    expected_delivery_date = UnicodeAttribute(null=True)


class ShipmentRefItem(Item, discriminator="shipment_ref"):
    """Where a shipment lives: `SHIP#<id>` -> its order (and, at `TRACK#<carrier>#<number>`, the carrier's
    tracking number -> the shipment: unique per carrier)."""

    order_id = UnicodeAttribute()
    shipment_id = UnicodeAttribute()


class OrderNoGuardItem(Item, discriminator="order_no"):
    """An order number is unique per branch: written in the order's transaction."""

    order_id = UnicodeAttribute()


class CampaignItem(Item, discriminator="campaign"):
    """The audience and the variants as JSON text; the counters live beside it (`STATS`)."""

    id = UnicodeAttribute()
    number = NumberAttribute()
    name = UnicodeAttribute()
    channel = UnicodeAttribute()
    purpose = UnicodeAttribute()
    audience = UnicodeAttribute()
    variants = UnicodeAttribute()
    holdout_pct = NumberAttribute()
    max_parts = NumberAttribute()
    status = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = NumberAttribute()
    send_at = UnicodeAttribute(null=True)
    sender_id = UnicodeAttribute(null=True)
    approved_by = UnicodeAttribute(null=True)
    recipients = NumberAttribute(null=True)
    started_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    paused_reason = UnicodeAttribute(null=True)
    estimated_recipients = NumberAttribute(null=True)
    snapshot_done = BooleanAttribute(null=True)
    cmp_pk = UnicodeAttribute()
    cmp_sk = UnicodeAttribute()


class CampaignNoItem(Item, discriminator="campaign_no"):
    campaign_id = UnicodeAttribute()


class RecipientItem(Item, discriminator="campaign_recipient"):
    """One person the audience matched, fixed when sending starts: their arm and what became of the message."""

    campaign_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    branch_id = UnicodeAttribute()
    arm = UnicodeAttribute()  # send | control | holdout | excluded
    status = UnicodeAttribute()  # queued, accepted, failed, delivered, undelivered, capped, withdrawn; or the arm
    snapshot_at = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    variant = UnicodeAttribute(null=True)
    parts = NumberAttribute(null=True)
    sent_at = UnicodeAttribute(null=True)
    final_at = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    opted_out_at = UnicodeAttribute(null=True)


class MarketingCapItem(Item, discriminator="marketing_cap"):
    days = UnicodeAttribute()  # JSON list of local days, one per marketing message, the last 7 days
    version = NumberAttribute()


class SurveyItem(Item, discriminator="survey"):
    """A satisfaction survey sent to the customer, and their answer (chalicelib/domain/surveys.py)."""

    customer_id = UnicodeAttribute()
    subject = UnicodeAttribute()  # complaint | work_order | order
    subject_id = UnicodeAttribute()
    subject_ref = UnicodeAttribute()
    branch_id = UnicodeAttribute()
    department = UnicodeAttribute()
    staff_id = UnicodeAttribute(null=True)
    language = UnicodeAttribute()
    asks_nps = BooleanAttribute()
    sent_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()
    status = UnicodeAttribute()  # sent | answered
    csat = NumberAttribute(null=True)
    nps = NumberAttribute(null=True)
    comment = UnicodeAttribute(null=True)  # personal data: never logged, counted or exported
    answered_at = UnicodeAttribute(null=True)
    version = NumberAttribute()


class SurveyCapItem(Item, discriminator="survey_cap"):
    last_sent_at = UnicodeAttribute()
    nps_quarter = UnicodeAttribute(null=True)  # the quarter the NPS question was last asked in (2026Q4)
    version = NumberAttribute()


class AudienceFactsItem(Item, discriminator="audience_facts"):
    """`C#<id>`, `V#FACTS`: what the latest analytics export found about the customer (campaign audiences)."""

    as_of = UnicodeAttribute()  # the export's day
    rfm_segment = UnicodeAttribute(null=True)
    churn_band = UnicodeAttribute(null=True)
    last_interaction_on = UnicodeAttribute(null=True)
    last_order_on = UnicodeAttribute(null=True)
    categories = UnicodeAttribute(null=True)  # JSON list
    expires_at = NumberAttribute()  # TTL: FACTS_KEEP_DAYS after the export's day (facts no export refreshes go)


class EngagementItem(Item, discriminator="engagement"):
    """`C#<id>`, `V#ENG`: the customer's contacts of the last ENGAGEMENT_DAYS (chalicelib/domain/engagement.py),
    kept by the stream consumer and the facts backfill, pruned by the nightly export."""

    contacts = UnicodeSetAttribute(null=True)  # <occurred_at>|<branch>|<channel>|<interaction id>
    older_last = UnicodeAttribute(null=True)  # occurred_at of the newest contact pruned from `contacts`
    messages = UnicodeSetAttribute(null=True)  # <sent_at>|<branch>|<channel>|<parts>|<ref>: the last MESSAGE_DAYS


class VehicleItem(Item, discriminator="vehicle"):
    """`VEH#<vin>`, `VEHICLE`: the vehicle; its history entries (`H#...`) share its partition."""

    vin = UnicodeAttribute()
    plate_key = UnicodeAttribute()
    plate_no = UnicodeAttribute()
    make = UnicodeAttribute()
    model = UnicodeAttribute()
    year = NumberAttribute()
    color = UnicodeAttribute()
    owner_id = UnicodeAttribute(null=True)  # none once the owner was erased
    owner_name = UnicodeAttribute(null=True)  # the owner's copy for the desk's lookup (personal: goes with them)
    owner_phone = UnicodeAttribute(null=True)
    owner_language = UnicodeAttribute(null=True)
    branch_id = UnicodeAttribute()
    engine_no = UnicodeAttribute(null=True)
    purchase_date = UnicodeAttribute(null=True)
    warranty_end = UnicodeAttribute(null=True)
    last_service_date = UnicodeAttribute(null=True)
    last_odometer_km = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    version = NumberAttribute()


class VehicleHistoryItem(Item, discriminator="vehicle_history"):
    at = UnicodeAttribute()
    by = UnicodeAttribute()
    change = UnicodeAttribute()
    from_value = UnicodeAttribute(null=True)
    to_value = UnicodeAttribute(null=True)


class VehicleLinkItem(Item, discriminator="vehicle_link"):
    """`C#<owner>`, `VEH#<vin>`: in the owner's partition, written in every transaction that writes the vehicle,
    with what the owner's vehicle list shows (one Query lists them; an erasure finds them)."""

    vin = UnicodeAttribute()
    plate_no = UnicodeAttribute()
    make = UnicodeAttribute()
    model = UnicodeAttribute()
    year = NumberAttribute()
    color = UnicodeAttribute()


class PlateGuardItem(Item, discriminator="plate"):
    """`PLATE#<plate key>`, `GUARD`: a plate is one vehicle's; with its branch, so the service desk's lookup checks
    access before it reads the vehicle's partition."""

    vin = UnicodeAttribute()
    branch_id = UnicodeAttribute()


class AppointmentItem(Item, discriminator="appointment"):
    """`APPT#<id>`, `APPOINTMENT`; its history entries (`H#...`) share its partition."""

    id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    branch_id = UnicodeAttribute()
    vin = UnicodeAttribute()
    service_type = UnicodeAttribute()
    slot_start = UnicodeAttribute()
    slot_end = UnicodeAttribute()
    status = UnicodeAttribute()
    notes = UnicodeAttribute(null=True)  # free text: personal, erased with the customer
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    version = NumberAttribute()


class AppointmentHistoryItem(Item, discriminator="appointment_history"):
    at = UnicodeAttribute()
    by = UnicodeAttribute()
    change = UnicodeAttribute()
    from_value = UnicodeAttribute(null=True)
    to_value = UnicodeAttribute(null=True)


class AppointmentRefItem(Item, discriminator="appointment_ref"):
    """An appointment seen from elsewhere, kept in the appointment's transactions: `C#<customer>`, `APPT#<id>` (the
    customer's list; how an erasure finds it) and `VEH#<vin>`, `A#<slot_start>#<id>` (the desk's lookup)."""

    appointment_id = UnicodeAttribute()
    branch_id = UnicodeAttribute(null=True)
    vin = UnicodeAttribute()
    service_type = UnicodeAttribute()
    slot_start = UnicodeAttribute()
    status = UnicodeAttribute()


class SlotItem(Item, discriminator="slot"):
    """`SLOT#<branch>#<local day>`, `<HH>`: places booked in that hour (`n`, never above the bays)."""

    n = NumberAttribute()


class WorkOrderItem(Item, discriminator="work_order"):
    """`WO#<id>`, `WORKORDER`: the jobs as JSON text (money as text); its history entries share its partition."""

    id = UnicodeAttribute()
    vin = UnicodeAttribute()
    customer_id = UnicodeAttribute()  # `erased:<hash>` once the customer was erased (the service history stays)
    branch_id = UnicodeAttribute()
    jobs = UnicodeAttribute()
    eta = UnicodeAttribute()
    status = UnicodeAttribute()
    stage = UnicodeAttribute(null=True)
    language = UnicodeAttribute()
    appointment_id = UnicodeAttribute(null=True)
    approved_at = UnicodeAttribute(null=True)
    approved_by = UnicodeAttribute(null=True)
    late_complaint_id = UnicodeAttribute(null=True)
    invoice_order_id = UnicodeAttribute(null=True)
    eta_told = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    version = NumberAttribute()


class WorkOrderHistoryItem(Item, discriminator="work_order_history"):
    at = UnicodeAttribute()
    by = UnicodeAttribute()
    change = UnicodeAttribute()
    from_value = UnicodeAttribute(null=True)
    to_value = UnicodeAttribute(null=True)


class WorkOrderRefItem(Item, discriminator="work_order_ref"):
    """A work order seen from elsewhere, kept in its transactions: `VEH#<vin>`, `W#<id>` (the vehicle's lookup),
    `C#<customer>`, `WO#<id>` (how an erasure finds it) and, while open, `WOB#<branch>`, `<status>#<eta>#<id>` (the
    branch's board by status, soonest ETA first)."""

    work_order_id = UnicodeAttribute()
    vin = UnicodeAttribute()
    branch_id = UnicodeAttribute()
    status = UnicodeAttribute()
    stage = UnicodeAttribute(null=True)
    eta = UnicodeAttribute()


class GuardItem(Item, discriminator="guard"):
    """Uniqueness guard: one per phone and per email, written in the customer's transaction."""

    customer_id = UnicodeAttribute()


_bound_to: tuple[str, str | None] | None = None


def _bind() -> None:
    """Point the models at the configured table and endpoint (settings() is read once per process;
    tests and the bench start other stacks: a new table name or endpoint drops the cached connections)."""
    global _bound_to
    s = settings()
    target = (s.table_name, os.environ.get("AWS_ENDPOINT_URL"))
    if _bound_to != target:
        Item.Meta.table_name = s.table_name
        Item.Meta.region = s.region  # type: ignore[attr-defined]
        models: list[type[Item]] = [Item]
        while models:
            model = models.pop()
            model._connection = None
            models.extend(model.__subclasses__())
        _bound_to = target
