"""One page of a DynamoDB Query, with a resumable position.

PynamoDB's iterators hide how many requests a page costs; here each page is
built from explicit Query calls so a request never reads more than
FILTERED_LIST_MAX_QUERIES pages of the index, and the position handed back is
the key of the last item returned (not DynamoDB's LastEvaluatedKey), so no item
is skipped when a page is cut short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib.config import FILTER_WINDOW_FACTOR, FILTER_WINDOW_MAX_ITEMS, FILTERED_LIST_MAX_QUERIES
from chalicelib.domain.history import HistoryEntry
from chalicelib.persistence.errors import translated
from chalicelib.persistence.tables import INDEXES, Item

RawKey = dict[str, dict[str, Any]]


@dataclass
class Page:
    items: list[Item]
    next_key: RawKey | None


def _key_names(index_name: str | None) -> list[str]:
    names = ["pk", "sk"]
    if index_name:
        names += [n for n in INDEXES[index_name] if n]
    return names


def query_page(
    hash_key: str,
    *,
    limit: int,
    start_key: RawKey | None,
    index_name: str | None = None,
    range_key_condition: Condition | None = None,
    filter_condition: Condition | None = None,
    newest_first: bool = True,
    max_queries: int = FILTERED_LIST_MAX_QUERIES,
    consistent: bool = False,
) -> Page:
    key_names = _key_names(index_name)
    conn = Item._get_connection()
    items: list[dict[str, Any]] = []
    esk = start_key
    # With a filter, DynamoDB's Limit counts items before filtering: read a
    # wider window per request so a page fills in fewer round trips.
    window = limit + 1 if filter_condition is None else min(FILTER_WINDOW_MAX_ITEMS, (limit + 1) * FILTER_WINDOW_FACTOR)
    for _ in range(max_queries if filter_condition is not None else 1):
        with translated():
            resp = conn.query(
                hash_key,
                range_key_condition=range_key_condition,
                filter_condition=filter_condition,
                index_name=index_name,
                exclusive_start_key=esk,
                scan_index_forward=not newest_first,
                limit=window,
                consistent_read=consistent,
            )
        items.extend(resp.get("Items", []))
        esk = resp.get("LastEvaluatedKey")
        if len(items) > limit or not esk:
            break
    if len(items) > limit:
        items = items[:limit]
        next_key: RawKey | None = {k: items[-1][k] for k in key_names if k in items[-1]}
    else:
        next_key = esk
    return Page([Item.from_raw_data(raw) for raw in items], next_key)


def query_all(hash_key: str, *, consistent: bool = False) -> list[Any]:
    """Every item under `hash_key`, oldest (lowest sort key) first: a record and its history in one Query,
    more only when they pass a page (DynamoDB's 1 MB)."""
    items: list[Any] = []
    start: RawKey | None = None
    while True:
        page = query_page(hash_key, limit=1000, start_key=start, newest_first=False, consistent=consistent)
        items += page.items
        start = page.next_key
        if start is None:
            return items


def record_with_history(hash_key: str, record_type: type[Any], history_type: type[Any], *,
                        consistent: bool = False) -> tuple[Any, list[HistoryEntry], list[Any]]:
    """A record and its history entries from its partition (one Query): the record's item (None if there is
    none), its history (oldest first) and every item read (for the refs a partition may hold too)."""
    items = query_all(hash_key, consistent=consistent)
    record = next((i for i in items if isinstance(i, record_type)), None)
    history = [HistoryEntry(h.at, h.by, h.change, h.from_value, h.to_value) for h in items
               if isinstance(h, history_type)]
    return record, history, items


def history_items(item_type: type[Any], hash_key: str, entries: list[HistoryEntry], first_seq: int) -> list[Any]:
    """The items of history entries in their record's partition (`H#<at>#<seq>`: in order, never two alike)."""
    from chalicelib.persistence.tables import HISTORY_PREFIX

    return [item_type(pk=hash_key, sk=f"{HISTORY_PREFIX}{e.at}#{first_seq + n:04d}", at=e.at, by=e.by,
                      change=e.change, from_value=e.from_value, to_value=e.to_value)
            for n, e in enumerate(entries)]
