"""Speed-ups of the simulator only: what the app sends and what moto answers are untouched.

moto's transact_write_items backs up the whole table with copy.deepcopy once
per item of the transaction before writing anything, and every copy of a
moto model registers itself in its class's `instances_tracked` list (kept
only for moto's dashboard), so no backup is ever freed: writes slow down with
the table size and the history of writes, and seeding 200 customers took
minutes; and a cancelled transaction restores that copy, undoing what other
threads wrote meanwhile. Here transactions run one at a time, within one call
each table is copied once (the copies of one
call are identical), and copies made by moto.dynamodb.models are left out of
`instances_tracked`. If moto's internals differ from what this expects,
nothing is changed.
"""

from __future__ import annotations

import threading
from typing import Any

_installed = False


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
            backups = getattr(local, "backups", None)
            if backups is None or memo is not None or not isinstance(obj, Table):
                return untracked_deepcopy(obj, memo)
            if id(obj) not in backups:
                backups[id(obj)] = untracked_deepcopy(obj)
            return backups[id(obj)]

        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

    serial = threading.Lock()

    def transact_write_items(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto restores a whole-table copy when a transaction is cancelled, which
        # would undo writes made meanwhile by other threads: one at a time.
        with serial:
            local.backups = {}
            try:
                return original(self, *args, **kwargs)
            finally:
                local.backups = None

    models.copy = CopyModule()  # type: ignore[assignment]
    backend.transact_write_items = transact_write_items
    _installed = True
    return True
