"""DynamoDB's low-level attribute values ({"S": ...}, {"N": ...}) as plain Python, for the raw boto3 adapters.

Numbers become int when integral, else float (not Decimal): what is read here
is written out as JSON or compared, never written back as a number.
"""

from __future__ import annotations

from typing import Any


def plain(value: dict[str, Any]) -> Any:
    """One DynamoDB attribute value as plain Python (numbers: int when integral, else float)."""
    (kind, inner), = value.items()
    if kind == "S":
        return inner
    if kind == "N":
        return int(inner) if inner.lstrip("-").isdigit() else float(inner)
    if kind == "BOOL":
        return inner
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: plain(v) for k, v in inner.items()}
    if kind == "L":
        return [plain(v) for v in inner]
    if kind == "SS":
        return list(inner)
    if kind == "NS":
        return [int(v) if v.lstrip("-").isdigit() else float(v) for v in inner]
    return inner  # B / BS: not used by the CRM


def plain_item(raw: dict[str, Any]) -> dict[str, Any]:
    return {name: plain(value) for name, value in raw.items()}
