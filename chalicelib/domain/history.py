"""One entry of a record's history, as the vehicles, appointments and work orders keep it: who changed what, when,
from and to (values that are enumerations or dates; free text is recorded as changed, never copied)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HistoryEntry:
    at: str
    by: str
    change: str
    from_value: str | None = None
    to_value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "by": self.by, "change": self.change, "from": self.from_value, "to": self.to_value}
