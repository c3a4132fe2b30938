"""The Glue tables of infra/template.yaml and their one column list each.

The export's datasets and their columns (name, Glue type, comment) are
declared once, in `chalicelib.domain.exports.DATASETS`, next to the code that
writes the rows. A Glue table resource of the template names its dataset in
`Metadata.RelasiDataset` instead of carrying a copy of the columns:
infra/package.py writes them into `TableInput.StorageDescriptor.Columns` of
the template it hands to `chalice package` (like infra/state_machines.py does
for the state machines' ASL), so the tables Athena reads always have the
columns the export writes. The local stack creates no Glue tables (moto's
CloudFormation skips the type; nothing local queries them).
"""

from __future__ import annotations

import copy
from typing import Any

GLUE_TABLE = "AWS::Glue::Table"
DATASET_KEY = "RelasiDataset"


def glue_tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every Glue table of the template."""
    return {
        name: r
        for name, r in template.get("Resources", {}).items()
        if isinstance(r, dict) and r.get("Type") == GLUE_TABLE
    }


def dataset_of(name: str, resource: dict[str, Any]) -> str:
    """The export dataset a Glue table resource is for (its Metadata.RelasiDataset, checked to exist)."""
    from chalicelib.domain.exports import column_sets

    dataset = (resource.get("Metadata") or {}).get(DATASET_KEY)
    if dataset not in column_sets():
        raise ValueError(f"{name}: Metadata.{DATASET_KEY} must name a dataset of chalicelib.domain.exports.DATASETS "
                         f"or FACT_DATASETS ({', '.join(column_sets())}), not {dataset!r}")
    return str(dataset)


def columns(dataset: str) -> list[dict[str, str]]:
    """The Glue columns of a dataset, in the order the export writes them."""
    from chalicelib.domain.exports import column_sets

    return [{"Name": c.name, "Type": c.glue_type, "Comment": c.comment} for c in column_sets()[dataset]]


def with_columns(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of the template whose Glue tables carry their dataset's columns."""
    result = copy.deepcopy(template)
    for name, resource in glue_tables(result).items():
        dataset = dataset_of(name, resource)
        descriptor = resource.setdefault("Properties", {}).setdefault("TableInput", {}).setdefault(
            "StorageDescriptor", {})
        if "Columns" in descriptor:
            raise ValueError(f"{name}: the columns belong in chalicelib.domain.exports.DATASETS only")
        descriptor["Columns"] = columns(dataset)
    return result
