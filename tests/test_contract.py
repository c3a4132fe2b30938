"""The API's contract: /openapi.json as a client generator or a validator reads it.

It must pass openapi-spec-validator (and `redocly lint`, recommended rules, when
the pinned CLI is installed: `make test` installs it), name every operation
once, say the bounds of every number a client may send, say where the API lives
(`servers`: the stage's path in the cloud), and group operations by capability.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.meta import stage_prefix

ROOT = Path(__file__).resolve().parent.parent
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"


@pytest.fixture(scope="module")
def document(api: Any) -> dict[str, Any]:
    r = api.get("/openapi.json")
    assert r.status_code == 200
    return dict(json.loads(r.body))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_passes_openapi_spec_validator(document: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(document)


def test_every_operation_has_its_own_id_and_a_capability_tag(document: dict[str, Any]) -> None:
    ids = Counter(op["operationId"] for _, _, op in _operations(document))
    assert [i for i, n in ids.items() if n > 1] == []
    declared = {t["name"] for t in document["tags"]}
    assert {"customers", "interactions", "consent", "complaints", "reminders", "analytics", "meta"} <= declared
    for method, path, op in _operations(document):
        assert len(op["tags"]) == 1 and op["tags"][0] in declared, (method, path)
    assert all(t.get("description") for t in document["tags"])


def test_every_page_size_has_its_bounds(document: dict[str, Any]) -> None:
    limits = [(path, p["schema"]) for _, path, op in _operations(document)
              for p in op["parameters"] if p["name"] == "limit"]
    assert len(limits) >= 6
    for path, schema in limits:
        assert schema["type"] == "integer" and schema["minimum"] == 1 and schema["maximum"] >= 1, (path, schema)
        assert "ge" not in schema and "le" not in schema, (path, schema)


def test_no_default_that_its_own_schema_refuses(document: dict[str, Any]) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("default", ...) is None and "type" in node:
                assert "null" in node["type"], node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document["components"]["schemas"])


def test_every_operation_documents_throttling_and_server_errors(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        assert {"429", "500"} <= set(op["responses"]), (method, path)
        if op["security"]:
            assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_servers_name_where_the_api_lives(document: dict[str, Any]) -> None:
    assert document["servers"] == [{"url": "/", "description": "This stage of the API"}]  # locally at the root
    # In the cloud the stage comes first (or a custom domain's base path).
    assert stage_prefix({"path": "/dev/openapi.json", "resourcePath": "/openapi.json"}) == "/dev"
    assert stage_prefix({"path": "/crm/api/openapi.json", "resourcePath": "/openapi.json"}) == "/crm/api"
    assert stage_prefix({"path": "/openapi.json", "resourcePath": "/openapi.json"}) == ""
    assert stage_prefix({}) == ""


def test_passes_redocly_lint_recommended(document: dict[str, Any], tmp_path: Path) -> None:
    if not REDOCLY.exists():
        if shutil.which("npm") is None:
            pytest.skip("no npm on this machine: `make test` installs the pinned @redocly/cli with it")
        raise AssertionError(f"{REDOCLY} is missing: run `make test` (it installs package.json's pinned tools)")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    quiet = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}  # nothing leaves
    run = subprocess.run([str(REDOCLY), "lint", "--extends=recommended", "--format=stylish", str(spec)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env=quiet)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
