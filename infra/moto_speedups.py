"""Speed-ups of the simulator only: what the app sends and what moto answers are untouched.

moto's transact_write_items backs up the whole table with copy.deepcopy once
per item of the transaction before writing anything, and every copy of a
moto model registers itself in its class's `instances_tracked` list (kept
only for moto's dashboard), so no backup is ever freed: writes slow down with
the table size and the history of writes, and seeding 200 customers took
minutes; and a cancelled transaction restores that copy, undoing what other
threads wrote meanwhile, and leaving every stream reader on the stream shard
of the table object it replaced. Here transactions run one at a time, no
table is copied: the items a transaction names are saved (copies of those
items only) and put back if it is cancelled, together with the stream as it
was (the records of the writes it made before it failed are taken out), in
the same table and shard objects; and copies made by moto.dynamodb.models are
left out of `instances_tracked`. If moto's internals differ from what this
expects, nothing is changed.

Also for faithfulness rather than speed: a DynamoDB request on one item is
atomic, moto's are not. moto's UpdateItem of a new item first puts an item of
its key alone into the table, then applies the update to it; a GetItem from
another thread in between answers that bare item (a run record without its
status, a counter without its count). So every item-level request (and each
item of a batch, which DynamoDB does not make atomic either) and every Query
and Scan page holds one lock, as transactions do: none sees another half done.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_installed = False
_ITEM_REQUESTS = ("get_item", "put_item", "update_item", "delete_item", "query", "scan")


def install() -> bool:
    """Patch moto in this process (idempotent); returns whether the patch applies."""
    global _installed
    if _installed:
        return True
    try:
        from moto.core.model_instances import model_data
        from moto.dynamodb import models
        from moto.dynamodb.models.table import Table
    except ImportError:
        return False
    backend = getattr(models, "DynamoDBBackend", None)
    real_copy = getattr(models, "copy", None)
    if backend is None or real_copy is None or not hasattr(backend, "transact_write_items"):
        return False
    original = backend.transact_write_items
    local = threading.local()

    def untracked_deepcopy(obj: Any, memo: Any = None) -> Any:
        tracked = [m for m in model_data.get("dynamodb", {}).values() if hasattr(m, "instances_tracked")]
        sizes = [len(m.instances_tracked) for m in tracked]
        result = real_copy.deepcopy(obj, memo)
        for model, size in zip(tracked, sizes, strict=True):
            del model.instances_tracked[size:]
        return result

    class CopyModule:
        """Stands in for the `copy` module inside moto.dynamodb.models."""

        def deepcopy(self, obj: Any, memo: Any = None) -> Any:
            if getattr(local, "in_transaction", False) and memo is None and isinstance(obj, Table):
                return obj  # moto's whole-table backup: the transaction's own items are saved instead
            return untracked_deepcopy(obj, memo)

        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

    serial = threading.RLock()  # re-entered: moto's transaction calls the backend's put_item, update_item...

    def transact_write_items(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto restores a whole-table copy when a transaction is cancelled, which
        # would undo writes made meanwhile by other threads: one at a time.
        with serial:
            transact_items = args[0] if args else kwargs.get("transact_items")
            saved = _saved_items(self, transact_items, untracked_deepcopy)
            shards = _stream_shards(self)
            local.in_transaction = True
            try:
                return original(self, *args, **kwargs)
            except Exception:
                _put_back(saved, shards)
                raise
            finally:
                local.in_transaction = False

    def one_at_a_time(original: Any) -> Any:
        @functools.wraps(original)
        def request(self: Any, *args: Any, **kwargs: Any) -> Any:
            with serial:
                return original(self, *args, **kwargs)

        return request

    item_requests = {name: getattr(backend, name, None) for name in _ITEM_REQUESTS}
    if None in item_requests.values():
        return False
    models.copy = CopyModule()  # type: ignore[assignment]
    backend.transact_write_items = transact_write_items
    for name, original_request in item_requests.items():
        setattr(backend, name, one_at_a_time(original_request))
    _installed = True
    return True



# --- Reads of many items: Scan pages and the JSON of items ------------------------------------------------
#
# Two costs of moto that grow with the table, which the export's Scan of a
# million items hits and DynamoDB does not have:
#
# 1. moto's Table.scan asks Table.all_items() for every item of the table,
#    sorted by (hash key, range key) -- DynamoType objects compared in Python --
#    on every page, then walks from the first item to the ExclusiveStartKey: a
#    page costs the whole table, a Scan is quadratic in pages (10 s a page at
#    140,000 items). Here moto's unchanged scan loop (segments, Limit, the 1 MB
#    page limit, filters, projections, copies, LastEvaluatedKey) gets the same
#    items in the same order, produced lazily: the partitions sorted by key,
#    the first one found by bisection, each partition's items sorted when
#    reached, partitions of other segments (a function of the hash key) left
#    out. The order is moto's: DynamoType compares by value and a table's key
#    attributes have one type (PutItem checks it); keys that are not all
#    strings are compared as moto compares them. all_items() itself, which
#    Queries use, sorts by the keys' values when they are all strings (the
#    same order, without Python-level comparisons of DynamoType objects). A
#    Scan of an index is left to moto. Unlike moto's full sort up front, a page
#    sees writes made meanwhile to partitions it has not reached, as a
#    DynamoDB Scan (not a snapshot) may.
# 2. moto's JSON answers are built by walking botocore's output shape, asking
#    each of an AttributeValue's ten members of every attribute of every item
#    through its alias providers: about 1 ms an item. An AttributeValue that is
#    a plain {type: value} of S, N, BOOL, NULL, SS, NS, M or L is written here
#    as that same JSON directly (B and BS, and anything unexpected, still go
#    the long way); DynamoResult's conversion of the items to plain dicts
#    (dynamo_to_dict) does the same for the values it is given. The bytes of
#    the answer are the same.
# 3. Per item of a page, moto sums the item's size twice (the 1 MB limit) by
#    asking each attribute through DynamoType.size, and deep-copies the item
#    before turning it into JSON. Item.size here adds the UTF-8 length of
#    string values and the digits of numbers directly (any other type asks
#    DynamoType.size, as before): the same number. A Scan of a table returns
#    its items without the copy: the answer is built from them at once and
#    nothing changes them on the way (projections make new items; in-place
#    updates by another thread at that moment could show, as in any read
#    that races a write).
# 4. A Query too asks all_items() for every item of the table and keeps those
#    of its partition (or index key): each page of a Query costs the table
#    (0.5 s at a million items). Here moto's unchanged query loop gets only
#    the items it would keep: the partition's, in all_items' order, for a
#    Query of the table; for an index, the items whose first hash key
#    attribute has the query's value, from a map of the table built once
#    after it last changed (every write to it through moto's backend, a
#    transaction's, and the bench's bulk load, `table_changed`, make it build
#    the map again); in any order, as moto sorts an index's items by all
#    their keys. moto still checks every condition on them.

_reads_installed: list[tuple[Any, str, Any]] | None = None  # (class, attribute, original)
_SCAN_ARGS = ("self", "filters", "limit", "exclusive_start_key", "filter_expression", "index_name",
              "consistent_read", "projection_expression", "segments")
_QUERY_ARGS = ("self", "hash_key", "range_comparison", "range_objs", "limit", "exclusive_start_key",
               "scan_index_forward", "projection_expressions", "index_name", "consistent_read", "filter_expression",
               "hash_key_conditions", "range_key_conditions")
_READS = ("Scan pages walk the table from their ExclusiveStartKey instead of sorting all of it, without "
          "copying the items; Query pages walk their partition or index key's items only; items become JSON "
          "without botocore's shape walk; item sizes summed directly")
# writes seen while the fast reads are installed, per table name ("": to every table), under _generation_lock: an
# index map (4. above) built at other counts is built again
_generations: dict[str, int] = {}
_generation_lock = threading.Lock()
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def table_changed(table_name: str = "") -> None:
    """Items were written into a table (default: any) around moto's write methods (the bench's bulk load): the
    index maps of the Query speed-up are built again."""
    with _generation_lock:  # a read and a write: two threads' counts must not come to one
        _generations[table_name] = _generations.get(table_name, 0) + 1


def _generation_of(table_name: str) -> tuple[int, int]:
    return _generations.get(table_name, 0), _generations.get("", 0)
_SIMPLE_TYPES = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def _string_keys(keys: list[Any]) -> bool:
    return all(k.type == "S" and isinstance(k.value, str) for k in keys)


def _partition_order(by_range: dict[Any, Any]) -> list[Any]:
    """A partition's items in moto's order (by range key)."""
    ranges = list(by_range)
    if _string_keys(ranges):
        ranges.sort(key=lambda r: r.value)
    else:
        ranges.sort()  # DynamoType.__lt__, as moto's sort compares them
    return [by_range[r] for r in ranges]


def _sorted_items(table: Any) -> list[Any] | None:
    """Every item of a table with a range key in all_items' order (sorted by the keys' values, when they are all
    strings); None: leave it to moto."""
    if table.range_key_attr is None:
        return None
    found = [item for by_range in table.items.values() for item in by_range.values()]
    if not all(item.range_key is not None for item in found) \
            or not _string_keys([item.hash_key for item in found]) \
            or not _string_keys([item.range_key for item in found]):
        return None
    found.sort(key=lambda x: (x.hash_key.value, x.range_key.value))
    return found


def _query_items(table: Any, hash_key: Any, index_name: Any, conditions: Any, maps: dict[Any, Any]) -> Any:
    """The items moto's query would keep (a superset; it checks them all), in an order its answer does not depend
    on; None: leave it to moto."""
    if table.range_key_attr is None:
        return None
    if not index_name:
        by_range = table.items.get(hash_key) if hash_key is not None else None
        if not by_range:
            return [] if hash_key is not None and getattr(hash_key, "type", None) == "S" else None
        ranges = list(by_range)
        return _partition_order(by_range) if _string_keys(ranges) else None
    if not conditions:
        return None
    attr, expected = conditions[0]
    if getattr(expected, "type", None) != "S":
        return None
    generation = _generation_of(table.name)
    cached = maps.get((id(table), attr))
    if cached is None or cached[0] != generation or cached[1] is not table:
        by_value: dict[str, list[Any]] = {}  # in any order: moto sorts an index's items by all their keys
        for by_range in table.items.values():
            for item in by_range.values():
                value = item.attrs.get(attr)
                if value is not None and value.type == "S":
                    by_value.setdefault(value.value, []).append(item)
        cached = maps[(id(table), attr)] = (generation, table, by_value)
    return list(cached[2].get(expected.value, ()))


def _scan_items(table: Any, exclusive_start_key: dict[str, Any] | None, segments: Any) -> Any:
    """The items moto's scan would walk, in its order, from the ExclusiveStartKey; None: leave it to moto."""
    from bisect import bisect_left

    if table.range_key_attr is None:
        return None
    start_hash = None
    if exclusive_start_key is not None:
        try:
            start_hash = exclusive_start_key[table.hash_key_attr]["S"]
            start_range = exclusive_start_key[table.range_key_attr]["S"]
        except (KeyError, TypeError):
            return None
        if not isinstance(start_hash, str) or not isinstance(start_range, str):
            return None
    keys = list(table.items)
    if not _string_keys(keys):
        return None
    keys.sort(key=lambda k: k.value)
    values = [k.value for k in keys]
    first = 0 if start_hash is None else bisect_left(values, start_hash)
    everything = segments == (None, None)

    def items() -> Any:
        for at in range(first, len(keys)):
            by_range = table.items.get(keys[at])
            if not by_range:
                continue
            ordered = _partition_order(by_range)
            if not everything and not ordered[0].is_within_segment(segments):
                continue  # moto skips each of its items; the segment depends on the hash key only
            if values[at] == start_hash:  # the page before ended in this partition: moto's own test
                ordered = [item for item in ordered if not table._item_comes_before_dct(
                    item, exclusive_start_key, [table.hash_key_attr], [table.range_key_attr], True)]
            yield from ordered

    return items()


def _attribute_json(value: Any) -> Any:
    """An AttributeValue's JSON as moto's serializer writes it, or None to leave it to the serializer."""
    if type(value) is not dict or len(value) != 1:
        return None
    (kind, inner), = value.items()
    simple = _SIMPLE_TYPES.get(kind)
    if simple is not None:
        return value if type(inner) is simple else None
    if kind in ("SS", "NS"):
        if type(inner) is not list or not all(type(v) is str for v in inner):
            return None
        return {kind: list(inner)}
    if kind == "M" and type(inner) in (dict, _Written):
        members = {}
        for name, member in inner.items():
            written = _attribute_json(member)
            if written is None:
                return None
            members[name] = written
        return {"M": members}
    if kind == "L" and type(inner) is list:
        elements = []
        for member in inner:
            written = _attribute_json(member)
            if written is None:
                return None
            elements.append(written)
        return {"L": elements}
    return None  # B, BS: base64 on the way out, left to the serializer


def _item_size(original: Any, local: Any) -> Any:
    def size(self: Any) -> int:
        sizes = getattr(local, "sizes", None)  # a Scan asks each item's size twice: once is enough
        if sizes is not None:
            known = sizes.get(id(self))
            if known is None:
                known = sizes[id(self)] = measured(self)
            return int(known)
        return measured(self)

    def measured(self: Any) -> int:
        total = 0
        for name, value in self.attrs.items():
            total += len(name.encode("utf-8")) if type(name) is str else original_bytesize(name)
            kind, inner = value.type, value.value
            if kind == "S" and type(inner) is str:
                total += len(inner.encode("utf-8"))
            elif kind == "N" and type(inner) is str:
                total += len(inner)  # DynamoType.size: len(str(value))
            elif kind in ("BOOL", "NULL") and type(inner) is bool:
                total += 1
            else:
                total += value.size()
        return total

    from moto.dynamodb.models.utilities import bytesize as original_bytesize

    return size


class _Written(dict[str, Any]):
    """A map of attribute names to {S|N|BOOL|NULL: value}: already the JSON moto's serializer would write."""


def _plain_values(original: Any, dynamo_type: Any) -> Any:
    """dynamo_to_dict, with DynamoType S/N/BOOL/NULL, dicts and lists done here; the rest by moto's."""
    def to_dict(obj: Any) -> Any:
        kind = type(obj)
        if kind is dynamo_type:
            value = obj.value
            if obj.type in _SIMPLE_TYPES and type(value) is _SIMPLE_TYPES[obj.type]:
                return {obj.type: value}
            if obj.type in ("M", "L"):
                return {obj.type: to_dict(value)}
            return original(obj)
        if kind is dict or (isinstance(obj, dict) and not hasattr(obj, "to_json")):  # an item's LimitedSizeDict
            plain: dict[str, Any] = {}
            simple = True
            for name, member in obj.items():
                if type(member) is dynamo_type and member.type in _SIMPLE_TYPES \
                        and type(member.value) is _SIMPLE_TYPES[member.type]:
                    plain[name] = {member.type: member.value}
                else:
                    simple = False
                    plain[name] = to_dict(member)
            return _Written(plain) if simple and plain and kind is not _Written else plain
        if kind is list:
            return [to_dict(v) for v in obj]
        return original(obj)

    return to_dict


def install_fast_reads(*, copy_scanned: bool = False) -> str | None:
    """Patch moto's Table.scan, Table.all_items and its JSON serializer in this process (idempotent).

    `copy_scanned`: a Scan still copies its items, as moto does (under the lock of `install`), so that the
    answer, built after the lock is let go, never shows an item half updated by another thread: the local stack,
    whose threads read and write at once, asks for it; the bench's export, alone on its table, does not.

    Returns what was patched, or None if moto's internals differ from what this
    expects (then nothing is changed). uninstall_fast_reads() puts moto's back.
    """
    global _reads_installed
    if _reads_installed is not None:
        return _READS
    try:
        from moto.core.serialize import BaseJSONSerializer
        from moto.dynamodb import responses
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models import table as table_module
        from moto.dynamodb.models.dynamo_type import DynamoType, Item
        from moto.dynamodb.models.table import Table
    except ImportError:
        return None
    original_scan = getattr(Table, "scan", None)
    original_all_items = getattr(Table, "all_items", None)
    original_query = getattr(Table, "query", None)
    original_structure = getattr(BaseJSONSerializer, "_serialize_type_structure", None)
    original_map = getattr(BaseJSONSerializer, "_serialize_type_map", None)
    if original_scan is None or original_all_items is None or original_structure is None or original_map is None \
            or original_scan.__code__.co_varnames[:len(_SCAN_ARGS)] != _SCAN_ARGS \
            or not hasattr(Table, "_item_comes_before_dct") or not hasattr(BaseJSONSerializer, "get_serialized_name") \
            or not hasattr(responses, "dynamo_to_dict") or getattr(table_module, "copy", None) is None \
            or not hasattr(Item, "size") or original_query is None \
            or original_query.__code__.co_varnames[:len(_QUERY_ARGS)] != _QUERY_ARGS \
            or not all(hasattr(DynamoDBBackend, name) for name in _WRITES):
        return None
    local = threading.local()
    original_copy = table_module.copy
    original_to_dict = responses.dynamo_to_dict

    class CopyModule:
        """Stands in for `copy` in moto.dynamodb.models.table: a Scan's items are not copied."""

        def deepcopy(self, obj: Any, memo: Any = None) -> Any:
            if not copy_scanned and memo is None and getattr(local, "scanning", False) and type(obj) is Item:
                return obj
            return original_copy.deepcopy(obj, memo)

        def __getattr__(self, name: str) -> Any:
            return getattr(original_copy, name)

    def all_items(self: Any) -> Any:
        pending = getattr(local, "items", None)
        if pending is not None:  # this thread's scan, below, asks for its items
            local.items = None
            return pending
        found = _sorted_items(self)
        return original_all_items(self) if found is None else found

    maps: dict[Any, Any] = {}

    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
              exclusive_start_key: Any, scan_index_forward: Any, projection_expressions: Any, index_name: Any = None,
              consistent_read: bool = False, filter_expression: Any = None, hash_key_conditions: Any = None,
              range_key_conditions: Any = None, **filter_kwargs: Any) -> Any:
        local.items = _query_items(self, hash_key, index_name, hash_key_conditions, maps)
        try:
            return original_query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                                  scan_index_forward, projection_expressions, index_name, consistent_read,
                                  filter_expression, hash_key_conditions=hash_key_conditions,
                                  range_key_conditions=range_key_conditions, **filter_kwargs)
        finally:
            local.items = None

    def changing(original: Any) -> Any:
        @functools.wraps(original)
        def write(*args: Any, **kwargs: Any) -> Any:
            # put_item, update_item, delete_item name their table; a transaction may write to several
            name = args[1] if len(args) > 1 and isinstance(args[1], str) else kwargs.get("table_name", "")
            table_changed(name)
            try:
                return original(*args, **kwargs)
            finally:
                table_changed(name)
        return write

    def scan(self: Any, filters: Any, limit: Any, exclusive_start_key: Any, filter_expression: Any = None,
             index_name: Any = None, consistent_read: bool = False, projection_expression: Any = None,
             segments: Any = (None, None)) -> Any:
        local.items = None if index_name else _scan_items(self, exclusive_start_key, segments)
        local.scanning = not index_name
        local.sizes = {}
        try:
            return original_scan(self, filters, limit, exclusive_start_key, filter_expression, index_name,
                                 consistent_read, projection_expression, segments=segments)
        finally:
            local.items = None
            local.scanning = False
            local.sizes = None

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and self.operation_model.service_model.service_name == "dynamodb":
            written = _attribute_json(value)
            if written is not None:
                if key:
                    serialized[self.get_serialized_name(shape, key)] = written
                else:
                    serialized.update(written)
                return
        original_structure(self, serialized, value, shape, key)

    def serialize_map(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        """A map of AttributeValues (an item, a key): each value as serialize_structure writes it."""
        member = shape.value
        if member.name != "AttributeValue" or self.operation_model.service_model.service_name != "dynamodb":
            original_map(self, serialized, value, shape, key)
            return
        if type(value) is _Written and "name" not in member.serialization:  # see _plain_values
            self._default_serialize(serialized, value, shape, key)
            return
        if type(value) is dict:
            written: dict[str, Any] = {}
            for name, attribute in value.items():
                one = _attribute_json(attribute)
                if one is None:
                    break
                written[self.get_serialized_name(member, name)] = one
            else:
                self._default_serialize(serialized, written, shape, key)
                return
        original_map(self, serialized, value, shape, key)

    _reads_installed = [(Table, "scan", original_scan), (Table, "all_items", original_all_items),
                        (Table, "query", original_query),
                        *((DynamoDBBackend, name, getattr(DynamoDBBackend, name)) for name in _WRITES),
                        (BaseJSONSerializer, "_serialize_type_structure", original_structure),
                        (BaseJSONSerializer, "_serialize_type_map", original_map),
                        (Item, "size", Item.size), (table_module, "copy", original_copy),
                        (responses, "dynamo_to_dict", original_to_dict)]
    Table.scan = scan  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    for name in _WRITES:
        setattr(DynamoDBBackend, name, changing(getattr(DynamoDBBackend, name)))
    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_map = serialize_map  # type: ignore[method-assign]
    Item.size = _item_size(Item.size, local)  # type: ignore[method-assign]
    table_module.copy = CopyModule()  # type: ignore[assignment]
    responses.dynamo_to_dict = _plain_values(original_to_dict, DynamoType)
    return _READS


def uninstall_fast_reads() -> None:
    global _reads_installed
    if _reads_installed is None:
        return
    for owner, name, original in _reads_installed:
        setattr(owner, name, original)
    _reads_installed = None



def _saved_items(backend: Any, transact_items: Any, copy: Any) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item or None) for each item a transaction names."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    saved = []
    for entry in transact_items if isinstance(transact_items, list) else []:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        (kind, op), = entry.items()
        table = getattr(backend, "tables", {}).get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        attrs = op.get("Item") if kind == "Put" else op.get("Key")
        if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
            continue  # moto refuses it before writing anything
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attrs:
                continue
            range_key = DynamoType(attrs[table.range_key_attr])
        current = table.get_item(hash_key, range_key)
        saved.append((table, hash_key, range_key, copy(current) if current is not None else None))
    return saved


def _put_back(saved: list[tuple[Any, Any, Any, Any]], shards: dict[str, tuple[Any, int]]) -> None:
    """After a cancelled transaction: its items as they were, and its stream records gone."""
    for table, hash_key, range_key, before in reversed(saved):
        if range_key is None:
            if before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
        elif before is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = before
    for shard, count in shards.values():
        del shard.items[count:]


def _stream_shards(backend: Any) -> dict[str, tuple[Any, int]]:
    """Each table's stream shard and how many records it holds, before a transaction."""
    found: dict[str, tuple[Any, int]] = {}
    for name, table in list(getattr(backend, "tables", {}).items()):
        shard = getattr(table, "stream_shard", None)
        if shard is not None and isinstance(getattr(shard, "items", None), list):
            found[name] = (shard, len(shard.items))
    return found
