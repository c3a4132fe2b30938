"""Campaign repository: the campaign (`CAMP#<id>`, `CAMPAIGN`), its counters (`STATS`) and its recipients
(`R#<customer_id>`) in one partition; the short number's guard (`CAMPNO#<n>`); each customer's marketing days
(`C#<customer_id>`, `V#MCAP`: the frequency cap, in the customer's partition so an erasure takes it); the
per-second sending slots (`RATE#<channel>#<epoch second>`); the month's spend (`SPEND#<channel>#<YYYY-MM>`).

Counters are added a page at a time, each page once: the update that adds them also adds the page's key to
the `pages` set, on condition that it is not there yet (a retried page adds nothing twice).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.campaigns import Audience, AudienceFacts, Campaign, Recipient, Variant
from chalicelib.domain.errors import PreconditionFailed, StaleRead
from chalicelib.persistence.errors import translated
from chalicelib.persistence.orders import DETACHED_PREFIX
from chalicelib.persistence.paging import RawKey, query_page
from chalicelib.persistence.tables import (
    GUARD_SK,
    PROFILE_SK,
    AudienceFactsItem,
    CampaignItem,
    CampaignNoItem,
    CustomerItem,
    Item,
    MarketingCapItem,
    RecipientItem,
    customer_pk,
)
from chalicelib.persistence.tx import connection, failed_codes

CAMPAIGN_SK = "CAMPAIGN"
STATS_SK = "STATS"
PREVIEW_SK = "PREVIEW"
RECIPIENT_PREFIX = "R#"
ERASED_PREFIX = "ERASED#"  # an erased customer's row, detached (outside R#: never paged by the sender)
CAP_SK = "V#MCAP"
ROW_ATTEMPTS = 5  # a row's transaction with the counters, tried again after a conflict
FACTS_SK = "V#FACTS"
# Facts expire (TTL) this many days after their export's day: a customer every export sees keeps them; those of a
# customer erased while an export was computing them, or of days with no export, go by themselves.
FACTS_KEEP_DAYS = 3
ALL_CAMPAIGNS_PK = "CAMP"


def campaign_pk(campaign_id: str) -> str:
    return f"CAMP#{campaign_id}"


def _number_pk(number: int) -> str:
    return f"CAMPNO#{number}"


def _table() -> str:
    from chalicelib.config import settings

    return settings().table_name


def _ddb() -> Any:
    from chalicelib.aws import client

    return client("dynamodb")


# --------------------------------------------------------------------------------------------- the campaign


def to_item(c: Campaign) -> CampaignItem:
    return CampaignItem(
        pk=campaign_pk(c.id), sk=CAMPAIGN_SK, id=c.id, number=c.number, name=c.name, channel=c.channel,
        purpose=c.purpose, audience=json.dumps(c.audience.to_dict(), sort_keys=True),
        variants=json.dumps([v.to_dict() for v in c.variants]), holdout_pct=c.holdout_pct, max_parts=c.max_parts,
        status=c.status, created_by=c.created_by, created_at=c.created_at, updated_at=c.updated_at,
        version=c.version, send_at=c.send_at, sender_id=c.sender_id, approved_by=c.approved_by,
        recipients=c.recipients, started_at=c.started_at, finished_at=c.finished_at,
        paused_reason=c.paused_reason, estimated_recipients=c.estimated_recipients, snapshot_done=c.audience_fixed,
        cmp_pk=ALL_CAMPAIGNS_PK, cmp_sk=f"{c.created_at}#{c.id}")


def from_item(item: CampaignItem) -> Campaign:
    return Campaign(
        id=item.id, number=int(item.number), name=item.name, channel=item.channel, purpose=item.purpose,
        audience=Audience(json.loads(item.audience)),
        variants=[Variant(id=v["id"], share=int(v["share"]), messages=v["messages"], subjects=v.get("subjects", {}))
                  for v in json.loads(item.variants)],
        holdout_pct=int(item.holdout_pct), send_at=item.send_at, sender_id=item.sender_id,
        max_parts=int(item.max_parts), status=item.status, created_by=item.created_by, created_at=item.created_at,
        updated_at=item.updated_at, version=int(item.version), approved_by=item.approved_by,
        recipients=int(item.recipients) if item.recipients is not None else None, started_at=item.started_at,
        finished_at=item.finished_at, paused_reason=item.paused_reason,
        estimated_recipients=int(item.estimated_recipients) if item.estimated_recipients is not None else None,
        audience_fixed=bool(item.snapshot_done))


def next_number() -> int:
    with translated():
        answer = _ddb().update_item(
            TableName=_table(), Key={"pk": {"S": "SEQ#CAMPAIGN"}, "sk": {"S": "SEQ"}},
            UpdateExpression="ADD #n :one SET #t = :type", ExpressionAttributeNames={"#n": "n", "#t": "type"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":type": {"S": "sequence"}}, ReturnValues="UPDATED_NEW")
    return int(answer["Attributes"]["n"]["N"])


def create(c: Campaign) -> None:
    with translated(), TransactWrite(connection=connection()) as tx:
        tx.save(to_item(c), condition=CampaignItem.pk.does_not_exist())
        tx.save(CampaignNoItem(pk=_number_pk(c.number), sk=GUARD_SK, campaign_id=c.id),
                condition=CampaignNoItem.pk.does_not_exist())


def get(campaign_id: str, *, consistent: bool = False) -> Campaign | None:
    with translated():
        try:
            item = Item.get(campaign_pk(campaign_id), CAMPAIGN_SK, consistent_read=consistent)
        except Item.DoesNotExist:
            return None
    return from_item(item) if isinstance(item, CampaignItem) else None


def id_of_number(number: int) -> str | None:
    with translated():
        try:
            item = Item.get(_number_pk(number), GUARD_SK)
        except Item.DoesNotExist:
            return None
    return item.campaign_id if isinstance(item, CampaignNoItem) else None


def save(new: Campaign, *, expected_version: int) -> None:
    """Replace the campaign if it is still at `expected_version`; PreconditionFailed otherwise."""
    item = to_item(new)
    try:
        with translated():
            item.save(condition=CampaignItem.version == expected_version)
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise PreconditionFailed("The campaign changed since it was read.") from exc
        raise


def mark_audience_fixed(campaign_id: str, recipients: int) -> None:
    """Every row is written: a new version (a change read before this one cannot undo it)."""
    with translated():
        _ddb().update_item(
            TableName=_table(), Key={"pk": {"S": campaign_pk(campaign_id)}, "sk": {"S": CAMPAIGN_SK}},
            UpdateExpression="SET snapshot_done = :t, recipients = :n ADD version :one",
            ExpressionAttributeValues={":t": {"BOOL": True}, ":n": {"N": str(recipients)}, ":one": {"N": "1"}})


def list_page(limit: int, start_key: RawKey | None) -> tuple[list[Campaign], RawKey | None]:
    page = query_page(ALL_CAMPAIGNS_PK, index_name="campaigns", limit=limit, start_key=start_key)
    return [from_item(i) for i in page.items if isinstance(i, CampaignItem)], page.next_key


# --------------------------------------------------------------------------------------------- counters


def add_counts(campaign_id: str, page: str, counts: Mapping[str, int], *, recent: str | None = None,
               spend: tuple[str, int] | None = None) -> bool:
    """Add a page's counts to the campaign's counters once (False: that page was counted before). `recent` (the
    last outcomes, '1' a failure) replaces the stored one; `spend` (the month's item key, amount) is added in the
    same transaction."""
    names: dict[str, str] = {"#pages": "pages"}
    values: dict[str, Any] = {":page": {"SS": [page]}, ":p": {"S": page}, ":type": {"S": "campaign_stats"}}
    adds = ["#pages :page"]
    for n, (name, value) in enumerate(sorted(counts.items())):
        if value:
            names[f"#c{n}"] = name
            values[f":c{n}"] = {"N": str(value)}
            adds.append(f"#c{n} :c{n}")
    expression = "ADD " + ", ".join(adds) + " SET #type = :type"
    names["#type"] = "type"
    if recent is not None:
        names["#recent"] = "recent"
        values[":recent"] = {"S": recent}
        expression += ", #recent = :recent"
    update = {"TableName": _table(), "Key": {"pk": {"S": campaign_pk(campaign_id)}, "sk": {"S": STATS_SK}},
              "UpdateExpression": expression, "ConditionExpression": "NOT contains(#pages, :p)",
              "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
    try:
        with translated():
            if spend is None or spend[1] == 0:
                _ddb().update_item(**update)
            else:
                month_key, amount = spend
                _ddb().transact_write_items(TransactItems=[
                    {"Update": update},
                    {"Update": {"TableName": _table(), "Key": {"pk": {"S": month_key}, "sk": {"S": "SPEND"}},
                                "UpdateExpression": "ADD amount :a SET #type = :t",
                                "ExpressionAttributeNames": {"#type": "type"},
                                "ExpressionAttributeValues": {":a": {"N": str(amount)}, ":t": {"S": "spend"}}}}])
    except Exception as exc:
        from chalicelib.aws import cancellation_codes, error_code

        if error_code(exc) == "ConditionalCheckFailedException" or \
                "ConditionalCheckFailed" in cancellation_codes(exc):
            return False
        raise
    return True


def record_receipt(r: Recipient, status: str, code: str | None, final_at: str, counts: Mapping[str, int]) -> bool:
    """A receipt's outcome, once: the row goes accepted -> `status` (with `code`) and `counts` are added to the
    counters in one transaction (False: the row was not accepted any more, a receipt redelivered or late)."""
    fields: dict[str, Any] = {"status": status, "final_at": final_at}
    if code:
        fields["error_code"] = code
    return _row_with_counters(r, fields, "#status = :accepted", {"#status": "status"},
                              {":accepted": {"S": "accepted"}}, counts)


def mark_opted_out(r: Recipient, at: str, counts: Mapping[str, int]) -> bool:
    """The row's customer opted out through its link, once (whatever its status meanwhile), with `counts` in the
    same transaction (False: marked before)."""
    return _row_with_counters(r, {"opted_out_at": at}, "attribute_exists(#status) AND attribute_not_exists(#out)",
                              {"#status": "status", "#out": "opted_out_at"}, {}, counts)


def _row_with_counters(r: Recipient, fields: Mapping[str, Any], condition: str, condition_names: dict[str, str],
                       condition_values: dict[str, Any], counts: Mapping[str, int]) -> bool:
    """SET `fields` on the row if `condition` holds, and ADD `counts` to the counters, in one transaction (False:
    the condition failed). A conflict with a page's counters being added at that instant is tried again."""
    from chalicelib.aws import cancellation_codes

    row_update = {
        "TableName": _table(), "Key": {"pk": {"S": campaign_pk(r.campaign_id)},
                                       "sk": {"S": f"{RECIPIENT_PREFIX}{r.customer_id}"}},
        "UpdateExpression": "SET " + ", ".join(f"#f{n} = :f{n}" for n in range(len(fields))),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {f"#f{n}": k for n, k in enumerate(fields)} | condition_names,
        "ExpressionAttributeValues": {f":f{n}": _attr(v) for n, v in enumerate(fields.values())}
        | condition_values}
    items: list[dict[str, Any]] = [{"Update": row_update}]
    names = sorted(n for n in counts if counts[n])
    if names:
        items.append({"Update": {
            "TableName": _table(), "Key": {"pk": {"S": campaign_pk(r.campaign_id)}, "sk": {"S": STATS_SK}},
            "UpdateExpression": "ADD " + ", ".join(f"#c{n} :c{n}" for n in range(len(names))),
            "ExpressionAttributeNames": {f"#c{n}": name for n, name in enumerate(names)},
            "ExpressionAttributeValues": {f":c{n}": {"N": str(counts[name])} for n, name in enumerate(names)}}})
    for attempt in range(ROW_ATTEMPTS):
        try:
            with translated():
                _ddb().transact_write_items(TransactItems=items)
        except Exception as exc:
            codes = cancellation_codes(exc)
            if "ConditionalCheckFailed" in codes:
                return False
            if "TransactionConflict" in codes and attempt + 1 < ROW_ATTEMPTS:
                time.sleep(0.05 * (attempt + 1))
                continue
            raise
        return True
    raise AssertionError("unreachable: the last attempt returns or raises")


def counts(campaign_id: str, *, consistent: bool = False) -> tuple[dict[str, int], str]:
    """The campaign's counters, and its recent outcomes."""
    from chalicelib.persistence.raw import plain_item

    with translated():
        answer = _ddb().get_item(TableName=_table(), Key={"pk": {"S": campaign_pk(campaign_id)},
                                                          "sk": {"S": STATS_SK}}, ConsistentRead=consistent)
    item = plain_item(answer.get("Item") or {})
    recent = str(item.pop("recent", ""))
    return {k: int(v) for k, v in item.items() if k not in ("pk", "sk", "type", "pages")}, recent


def forget_recent(campaign_id: str) -> None:
    """A resumed campaign is judged by its sends from now on (the failures that paused it are in the counters)."""
    with translated():
        _ddb().update_item(TableName=_table(), Key={"pk": {"S": campaign_pk(campaign_id)}, "sk": {"S": STATS_SK}},
                           UpdateExpression="REMOVE #recent", ExpressionAttributeNames={"#recent": "recent"})


def month_spend(month_key: str) -> int:
    with translated():
        answer = _ddb().get_item(TableName=_table(), Key={"pk": {"S": month_key}, "sk": {"S": "SPEND"}},
                                 ConsistentRead=True)
    return int(answer.get("Item", {}).get("amount", {}).get("N", "0"))


# --------------------------------------------------------------------------------------------- recipients


def _recipient_item(r: Recipient) -> RecipientItem:
    item = RecipientItem(pk=campaign_pk(r.campaign_id), sk=f"{RECIPIENT_PREFIX}{r.customer_id}",
                         campaign_id=r.campaign_id, customer_id=r.customer_id, branch_id=r.branch_id, arm=r.arm,
                         status=r.status, snapshot_at=r.snapshot_at, reason=r.reason, variant=r.variant,
                         parts=r.parts, sent_at=r.sent_at, final_at=r.final_at, error_code=r.error_code,
                         opted_out_at=r.opted_out_at)
    if not r.customer_id.startswith(DETACHED_PREFIX):  # (orders' prefix: one pseudonym per erased customer)  # on the customer's timeline (and found by an erasure)
        item.tl_pk, item.tl_sk = customer_pk(r.customer_id), f"{r.snapshot_at}#campaign#{r.campaign_id}"
    return item


def recipient_from_item(item: RecipientItem) -> Recipient:
    return Recipient(campaign_id=item.campaign_id, customer_id=item.customer_id, branch_id=item.branch_id,
                     arm=item.arm, status=item.status, snapshot_at=item.snapshot_at, reason=item.reason,
                     variant=item.variant, parts=int(item.parts) if item.parts is not None else None,
                     sent_at=item.sent_at, final_at=item.final_at, error_code=item.error_code,
                     opted_out_at=item.opted_out_at)


def put_recipients(rows: list[Recipient]) -> None:
    """The audience's rows (BatchWriteItem, 25 a request). Written before anything is sent; a retried page
    writes the same rows again."""
    with translated(), RecipientItem.batch_write() as batch:
        for r in rows:
            batch.save(_recipient_item(r))


def recipients_page(campaign_id: str, start_key: RawKey | None, limit: int) -> tuple[list[Recipient], RawKey | None]:
    page = query_page(campaign_pk(campaign_id), limit=limit, start_key=start_key, newest_first=False,
                      range_key_condition=Item.sk.startswith(RECIPIENT_PREFIX), consistent=True)
    return [recipient_from_item(i) for i in page.items if isinstance(i, RecipientItem)], page.next_key


def recipients_of(campaign_id: str, customer_ids: Iterable[str]) -> dict[str, Recipient]:
    found: dict[str, Recipient] = {}
    wanted = sorted(set(customer_ids))
    for start in range(0, len(wanted), 100):
        with translated():
            for item in Item.batch_get([(campaign_pk(campaign_id), f"{RECIPIENT_PREFIX}{c}")
                                        for c in wanted[start:start + 100]]):
                if isinstance(item, RecipientItem):
                    found[item.customer_id] = recipient_from_item(item)
    return found


def get_recipient(campaign_id: str, customer_id: str) -> Recipient | None:
    return recipients_of(campaign_id, [customer_id]).get(customer_id)


def set_status(r: Recipient, *, expected: str, **fields: Any) -> bool:
    """Move a row on from status `expected` (False: it had moved already)."""
    names = {f"#f{n}": k for n, k in enumerate(fields)}
    values: dict[str, Any] = {f":f{n}": _attr(v) for n, v in enumerate(fields.values())}
    values[":expected"] = {"S": expected}
    try:
        with translated():
            _ddb().update_item(
                TableName=_table(), Key={"pk": {"S": campaign_pk(r.campaign_id)},
                                         "sk": {"S": f"{RECIPIENT_PREFIX}{r.customer_id}"}},
                UpdateExpression="SET " + ", ".join(f"#f{n} = :f{n}" for n in range(len(fields))),
                ConditionExpression="#status = :expected", ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues=values)
    except Exception as exc:
        from chalicelib.aws import error_code

        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": str(value)}


def detach_recipient(found: RecipientItem, pseudonym: str) -> int:
    """An erased customer's campaign row keeps what it counted, without the person: it moves to
    `ERASED#<pseudonym>` (`erased:<hash>`; off the timeline, and outside the `R#` rows the sender pages through,
    so it is neither sent nor counted again) in one transaction, from the row as it is now (read consistently;
    a claim landing meanwhile makes it read again). Returns rows moved (0: gone already)."""
    from pynamodb.exceptions import DoesNotExist

    for _ in range(5):
        try:
            with translated():
                item = RecipientItem.get(found.pk, found.sk, consistent_read=True)
        except DoesNotExist:
            return 0
        r = recipient_from_item(item)
        r.customer_id = pseudonym
        moved = _recipient_item(r)
        moved.sk = f"{ERASED_PREFIX}{pseudonym}"
        try:
            with translated(), TransactWrite(connection=connection()) as tx:
                tx.delete(item, condition=RecipientItem.status == item.status)
                tx.save(moved)
        except TransactWriteError:
            continue
        return 1
    raise StaleRead("A campaign row kept changing during the erasure; retry.")


# --------------------------------------------------------------------------------------------- previews


@dataclass(frozen=True)
class StoredPreview:
    """A background preview (`CAMP#<id>`, `PREVIEW`): of which campaign version, asked when, and its result
    once done (None: still running)."""

    version: int
    request_id: str
    requested_at: str
    result: dict[str, Any] | None


def preview_requested(campaign_id: str, version: int, request_id: str, requested_at: str, ttl: int) -> None:
    """A new background preview replaces any earlier one (its result, or its run: that run's answer is dropped)."""
    with translated():
        _ddb().put_item(TableName=_table(), Item={
            "pk": {"S": campaign_pk(campaign_id)}, "sk": {"S": PREVIEW_SK}, "type": {"S": "campaign_preview"},
            "version": {"N": str(version)}, "request_id": {"S": request_id}, "requested_at": {"S": requested_at},
            "expires_at": {"N": str(ttl)}})


def preview_done(campaign_id: str, request_id: str, result: Mapping[str, Any]) -> bool:
    """The run's result, if its request is still the latest (False: a newer one replaced it)."""
    try:
        with translated():
            _ddb().update_item(
                TableName=_table(), Key={"pk": {"S": campaign_pk(campaign_id)}, "sk": {"S": PREVIEW_SK}},
                UpdateExpression="SET #result = :result", ConditionExpression="request_id = :request",
                ExpressionAttributeNames={"#result": "result"},
                ExpressionAttributeValues={":result": {"S": json.dumps(result)}, ":request": {"S": request_id}})
    except Exception as exc:
        from chalicelib.aws import error_code

        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def stored_preview(campaign_id: str) -> StoredPreview | None:
    with translated():
        item = _ddb().get_item(TableName=_table(), Key={"pk": {"S": campaign_pk(campaign_id)},
                                                        "sk": {"S": PREVIEW_SK}}, ConsistentRead=True).get("Item")
    if not item:
        return None
    return StoredPreview(version=int(item["version"]["N"]), request_id=item["request_id"]["S"],
                         requested_at=item["requested_at"]["S"],
                         result=json.loads(item["result"]["S"]) if "result" in item else None)


# --------------------------------------------------------------------------------------------- audience facts


def put_audience_facts(facts: Mapping[str, AudienceFacts]) -> None:
    """The export's facts per customer id (BatchWriteItem, 25 a request; a re-run writes the same again)."""
    from datetime import UTC, date, datetime, timedelta

    with translated(), AudienceFactsItem.batch_write() as batch:
        for customer_id, f in facts.items():
            day = date.fromisoformat(f.as_of) + timedelta(days=FACTS_KEEP_DAYS)
            ends = datetime(day.year, day.month, day.day, tzinfo=UTC)
            batch.save(AudienceFactsItem(pk=customer_pk(customer_id), sk=FACTS_SK, as_of=f.as_of,
                                         expires_at=int(ends.timestamp()),
                                         rfm_segment=f.rfm_segment, churn_band=f.churn_band,
                                         last_interaction_on=f.last_interaction_on, last_order_on=f.last_order_on,
                                         categories=json.dumps(list(f.categories)) if f.categories else None))


def audience_facts_of(customer_ids: list[str]) -> dict[str, AudienceFacts]:
    """The facts of those customers the export has seen (BatchGetItem, 100 a request)."""
    found: dict[str, AudienceFacts] = {}
    for start in range(0, len(customer_ids), 100):
        with translated():
            for item in Item.batch_get([(customer_pk(c), FACTS_SK) for c in customer_ids[start:start + 100]]):
                if isinstance(item, AudienceFactsItem):
                    found[item.pk[2:]] = AudienceFacts(
                        as_of=item.as_of, rfm_segment=item.rfm_segment, churn_band=item.churn_band,
                        last_interaction_on=item.last_interaction_on, last_order_on=item.last_order_on,
                        categories=tuple(json.loads(item.categories)) if item.categories else ())
    return found


# --------------------------------------------------------------------------------------------- sending


def caps_of(customer_ids: list[str]) -> dict[str, tuple[list[str], int]]:
    """Each customer's marketing days and the cap item's version (absent: no days, version 0)."""
    found: dict[str, tuple[list[str], int]] = {}
    for start in range(0, len(customer_ids), 100):
        with translated():
            for item in Item.batch_get([(customer_pk(c), CAP_SK) for c in customer_ids[start:start + 100]]):
                if isinstance(item, MarketingCapItem):
                    found[item.pk[2:]] = (json.loads(item.days), int(item.version))
    return found


def claim_send(r: Recipient, *, profile_version: int, cap: tuple[list[str], int] | None, sent_at: str,
               parts: int, variant: str) -> str:
    """One transaction: the campaign is still sending (a pause or a cancel stops the very next claim, and fences
    off an execution that outlived its campaign's resume); the profile is still the live customer at the version
    the decision read; the cap item is still at the version read (now with one more day, if `cap` is given:
    marketing); the row goes queued -> accepted. Returns "claimed", "stopped" (the campaign is not sending),
    "taken" (the row was claimed before: nothing to do) or "stale" (the profile or the cap changed: read
    again)."""
    row = _recipient_item(r)
    row.status, row.sent_at, row.parts, row.variant = "accepted", sent_at, parts, variant
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(Item, customer_pk(r.customer_id), PROFILE_SK,
                               condition=(Item.type == CustomerItem) & (CustomerItem.version == profile_version))
            tx.condition_check(CampaignItem, campaign_pk(r.campaign_id), CAMPAIGN_SK,
                               condition=CampaignItem.status == "sending")
            if cap is not None:
                days, version = cap
                condition = MarketingCapItem.pk.does_not_exist() if version == 0 \
                    else MarketingCapItem.version == version
                tx.save(MarketingCapItem(pk=customer_pk(r.customer_id), sk=CAP_SK, days=json.dumps(days),
                                         version=version + 1), condition=condition)
            tx.save(row, condition=RecipientItem.status == "queued")
    except TransactWriteError as exc:
        codes = failed_codes(exc)  # the checks first, in their order, then the writes (the row last)
        if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
            return "stopped"
        if codes and codes[-1] == "ConditionalCheckFailed":
            return "taken"
        if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
            return "stale"
        raise
    return "claimed"


def reserve_rate(channel: str, second: int, parts: int, rate: int) -> bool:
    """Take `parts` of the channel's sending second `second` (epoch) if it has room under `rate`."""
    try:
        with translated():
            _ddb().update_item(
                TableName=_table(), Key={"pk": {"S": f"RATE#{channel}#{second}"}, "sk": {"S": "RATE"}},
                UpdateExpression="ADD n :parts SET #type = :type, expires_at = :ttl",
                ConditionExpression="attribute_not_exists(n) OR n <= :room",
                ExpressionAttributeNames={"#type": "type"},
                ExpressionAttributeValues={":parts": {"N": str(parts)}, ":room": {"N": str(rate - parts)},
                                           ":type": {"S": "rate_slot"}, ":ttl": {"N": str(second + 3600)}})
    except Exception as exc:
        from chalicelib.aws import error_code

        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True

