"""Reading the whole CRM table for the export: a paged, optionally parallel Scan.

The export must not hold the table in memory, so items come out as *groups*:
all items of one partition key (a customer's profile, interactions and due
items; a complaint and its history) together. DynamoDB stores an item
collection together, sorted by sort key, and a Scan returns it contiguously
(possibly across pages); each partition key belongs to exactly one parallel
scan segment. Each segment is read by its own thread into a bounded queue, so
DynamoDB's latency overlaps the export's CPU work while at most
EXPORT_PREFETCH_GROUP_BATCHES batches of groups wait in memory.

Items are plain Python (str, int/float, bool, None, list, dict): the export
writes JSON and does not need Decimal or PynamoDB models on this hot path.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.aws import client
from chalicelib.config import EXPORT_PREFETCH_GROUP_BATCHES, settings
from chalicelib.persistence.appointments import appointment_pk
from chalicelib.persistence.campaigns import campaign_pk
from chalicelib.persistence.orders import ALL_ORDERS_PK, order_pk
from chalicelib.persistence.products import product_pk
from chalicelib.persistence.raw import plain_item
from chalicelib.persistence.tables import (
    ALL_COMPLAINTS_PK,
    ALL_CUSTOMERS_PK,
    HISTORY_PREFIX,
    complaint_pk,
    customer_pk,
)
from chalicelib.persistence.vehicles import VEHICLE_SK, vehicle_pk
from chalicelib.persistence.work_orders import work_order_pk

Group = tuple[str, list[dict[str, Any]]]
_DONE = object()
_CUSTOMER_PREFIX, _COMPLAINT_PREFIX = customer_pk(""), complaint_pk("")
_ORDER_PREFIX, _PRODUCT_PREFIX, _CAMPAIGN_PREFIX = order_pk(""), product_pk(""), campaign_pk("")
_VEHICLE_PREFIX, _APPOINTMENT_PREFIX, _WORK_ORDER_PREFIX = vehicle_pk(""), appointment_pk(""), work_order_pk("")


@dataclass
class CustomerRecords:
    """A customer's profile (None: erased or being erased), interactions and engagement item, as plain items."""

    profile: dict[str, Any] | None
    interactions: list[dict[str, Any]]
    engagement: dict[str, Any] | None


@dataclass
class OrderRecords:
    """An order (None: only its other items were read) and its shipments with their events, as plain items."""

    order: dict[str, Any] | None
    shipments: list[dict[str, Any]]
    events: dict[str, list[dict[str, Any]]]  # shipment id -> its events


@dataclass
class ProductRecords:
    product: dict[str, Any] | None


@dataclass
class CampaignRecords:
    """A campaign (None: only its other items were read) and its recipients' rows, as plain items."""

    campaign: dict[str, Any] | None
    recipients: list[dict[str, Any]]


@dataclass
class VehicleRecords:
    """A vehicle (None: only its refs were read), as a plain item."""

    vehicle: dict[str, Any] | None


@dataclass
class AppointmentRecords:
    appointment: dict[str, Any] | None


@dataclass
class WorkOrderRecords:
    """A work order (None: erased meanwhile) and its history entries, as plain items."""

    work_order: dict[str, Any] | None
    history: list[dict[str, Any]]


@dataclass
class ComplaintRecords:
    """A complaint's case (None: erased meanwhile) and history entries, as plain items."""

    case: dict[str, Any] | None
    history: list[dict[str, Any]]


def item_count() -> int:
    """The CRM table's item count as DescribeTable gives it (DynamoDB refreshes it every six hours or so)."""
    return int(client("dynamodb").describe_table(TableName=settings().table_name)["Table"].get("ItemCount") or 0)


def scan_pages(segment: int, total_segments: int, page_items: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """The raw items of one scan segment, a page at a time (a page is at most 1 MB)."""
    params: dict[str, Any] = {"TableName": settings().table_name}
    if total_segments > 1:
        params.update(Segment=segment, TotalSegments=total_segments)
    if page_items:
        params["Limit"] = page_items
    dynamodb = client("dynamodb")
    while True:
        page = dynamodb.scan(**params)
        yield page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return
        params["ExclusiveStartKey"] = start


def segment_groups(segment: int, total_segments: int, page_items: int | None = None) -> Iterator[list[Group]]:
    """Complete groups of one scan segment, a batch per page; a group split across pages is held back (the
    facts backfill reads one segment per invocation)."""
    current_pk: str | None = None
    current: list[dict[str, Any]] = []
    for page in scan_pages(segment, total_segments, page_items):
        done: list[Group] = []
        for raw in page:
            pk = raw["pk"]["S"]
            if pk != current_pk:
                if current_pk is not None:
                    done.append((current_pk, current))
                current_pk, current = pk, []
            current.append(plain_item(raw))
        if done:
            yield done
    if current_pk is not None:
        yield [(current_pk, current)]


def groups(total_segments: int = 1, page_items: int | None = None) -> Iterator[Group]:
    """Every item of the table, grouped by partition key; segments are read in parallel threads."""
    batches: queue.Queue[Any] = queue.Queue(maxsize=EXPORT_PREFETCH_GROUP_BATCHES * total_segments)
    stop = threading.Event()

    def read(segment: int) -> None:
        try:
            for batch in segment_groups(segment, total_segments, page_items):
                while not stop.is_set():
                    try:
                        batches.put(batch, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            batches.put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which re-raises it
            batches.put(error)

    threads = [threading.Thread(target=read, args=(s,), daemon=True, name=f"export-scan-{s}")
               for s in range(total_segments)]
    for thread in threads:
        thread.start()
    running = total_segments
    try:
        while running:
            batch = batches.get()
            if batch is _DONE:
                running -= 1
            elif isinstance(batch, BaseException):
                raise batch
            else:
                yield from batch
    finally:
        stop.set()
        while any(t.is_alive() for t in threads):  # unblock producers waiting on a full queue
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.1)


Records = (CustomerRecords | ComplaintRecords | OrderRecords | ProductRecords | CampaignRecords | VehicleRecords
           | AppointmentRecords | WorkOrderRecords)


def records(total_segments: int = 1, page_items: int | None = None) -> Iterator[Records]:
    """`groups` as what the export reads: each customer's, complaint's, order's, product's, campaign's, vehicle's,
    appointment's and work order's items; the rest is left out."""
    for pk, items in groups(total_segments, page_items):
        if pk.startswith(_CUSTOMER_PREFIX):  # the most groups by far: asked first
            yield CustomerRecords(next((i for i in items if i.get("type") == "customer"), None),
                                  [i for i in items if i.get("type") == "interaction"],
                                  next((i for i in items if i.get("type") == "engagement"), None))
        elif pk.startswith(_COMPLAINT_PREFIX):
            yield ComplaintRecords(next((i for i in items if i.get("type") == "complaint"), None),
                                   [i for i in items if i.get("type") == "complaint_history"])
        elif pk.startswith(_ORDER_PREFIX):
            events: dict[str, list[dict[str, Any]]] = {}
            for i in items:
                if i.get("type") == "shipment_event":
                    events.setdefault(str(i["sk"]).split("#")[1], []).append(i)
            yield OrderRecords(next((i for i in items if i.get("type") == "order"), None),
                               [i for i in items if i.get("type") == "shipment"], events)
        elif pk.startswith(_PRODUCT_PREFIX):
            yield ProductRecords(next((i for i in items if i.get("type") == "product"), None))
        elif pk.startswith(_CAMPAIGN_PREFIX):
            yield CampaignRecords(next((i for i in items if i.get("type") == "campaign"), None),
                                  [i for i in items if i.get("type") == "campaign_recipient"])
        elif pk.startswith(_VEHICLE_PREFIX):
            yield VehicleRecords(next((i for i in items if i.get("type") == "vehicle"), None))
        elif pk.startswith(_APPOINTMENT_PREFIX):
            yield AppointmentRecords(next((i for i in items if i.get("type") == "appointment"), None))
        elif pk.startswith(_WORK_ORDER_PREFIX):
            yield WorkOrderRecords(next((i for i in items if i.get("type") == "work_order"), None),
                                   [i for i in items if i.get("type") == "work_order_history"])


def _query(params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item a Query finds, as plain Python, a page at a time."""
    dynamodb = client("dynamodb")
    while True:
        page = dynamodb.query(**params)
        for raw in page.get("Items", []):
            yield plain_item(raw)
        start = page.get("LastEvaluatedKey")
        if not start:
            return
        params = {**params, "ExclusiveStartKey": start}


def customer_profiles() -> Iterator[dict[str, Any]]:
    """Every customer's profile (an erased one has none), through the `customers_all` index: what a nightly run
    reads of customers instead of their partitions (whose contacts and messages it does not need)."""
    for item in _query({
        "TableName": settings().table_name,
        "IndexName": "customers_all",
        "KeyConditionExpression": "all_pk = :all",
        "ExpressionAttributeValues": {":all": {"S": ALL_CUSTOMERS_PK}},
    }):
        if item.get("type") == "customer":
            yield item


def vehicle_models(vins: Iterable[str]) -> dict[str, dict[str, Any]]:
    """These vehicles (VIN -> item, as plain Python; a VIN not found is left out): a BatchGetItem per 100."""
    wanted = sorted(set(vins))
    found: dict[str, dict[str, Any]] = {}
    dynamodb = client("dynamodb")
    for start in range(0, len(wanted), 100):
        keys = [{"pk": {"S": vehicle_pk(v)}, "sk": {"S": VEHICLE_SK}} for v in wanted[start:start + 100]]
        request: dict[str, Any] = {settings().table_name: {"Keys": keys}}
        while request:
            answer = dynamodb.batch_get_item(RequestItems=request)
            for raw in answer.get("Responses", {}).get(settings().table_name, []):
                item = plain_item(raw)
                found[str(item["vin"])] = item
            request = answer.get("UnprocessedKeys") or {}
    return found


def complaints() -> Iterator[dict[str, Any]]:
    """Every complaint (not its history), through the `complaints_all` index."""
    return _query({
        "TableName": settings().table_name,
        "IndexName": "complaints_all",
        "KeyConditionExpression": "ca_pk = :all",
        "ExpressionAttributeValues": {":all": {"S": ALL_COMPLAINTS_PK}},
    })


def orders() -> Iterator[dict[str, Any]]:
    """Every order (its lines inside), through the `orders_all` index."""
    return _query({
        "TableName": settings().table_name,
        "IndexName": "orders_all",
        "KeyConditionExpression": "oa_pk = :all",
        "ExpressionAttributeValues": {":all": {"S": ALL_ORDERS_PK}},
    })


def complaint_history(complaint_id: str, before: str) -> list[dict[str, Any]]:
    """A complaint's history entries from before `before` (ISO 8601 UTC), oldest first: one Query (a page each MB)."""
    return list(_query({
        "TableName": settings().table_name,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
        "ExpressionAttributeValues": {":pk": {"S": complaint_pk(complaint_id)}, ":first": {"S": HISTORY_PREFIX},
                                      ":last": {"S": HISTORY_PREFIX + before}},
    }))
