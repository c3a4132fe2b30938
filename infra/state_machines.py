"""The state machines of infra/template.yaml and their one definition each.

A state machine resource names its Amazon States Language file, relative to
the project root, in `Metadata.DefinitionFile` (e.g.
chalicelib/workflows/escalation.asl.json) instead of carrying a copy of it:
infra/package.py writes the file into `DefinitionString` of the template it
hands to `chalice package`, and the local stack (infra/provision.py) creates
the state machine from the same file through the Step Functions API.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
STATE_MACHINE = "AWS::StepFunctions::StateMachine"


def state_machines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every state machine of the template."""
    return {
        name: r
        for name, r in template.get("Resources", {}).items()
        if isinstance(r, dict) and r.get("Type") == STATE_MACHINE
    }


def definition(resource: dict[str, Any]) -> str:
    """The ASL text of a state machine resource (checked to be JSON)."""
    path = PROJECT_DIR / resource["Metadata"]["DefinitionFile"]
    text = path.read_text()
    json.loads(text)
    return text


def with_definitions(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of the template whose state machines carry their definition in DefinitionString."""
    result = copy.deepcopy(template)
    for name, resource in state_machines(result).items():
        properties = resource.setdefault("Properties", {})
        if {"Definition", "DefinitionString", "DefinitionS3Location"} & set(properties):
            raise ValueError(f"{name}: the definition belongs in its Metadata.DefinitionFile only")
        properties["DefinitionString"] = definition(resource)
    return result
