"""The layering of docs/architecture.md, checked on the source: imports only point down, no circles,
no private names across modules, no AWS SDK in the domain, one name per capability through the layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chalicelib"

# Top to bottom; a module may import its own layer and the ones below it.
LAYERS = ["console", "api", "services", "workflows", "persistence", "domain"]
# Importable from every layer but the domain: settings, logging/metrics, and the thin AWS adapters.
SHARED = {"config", "observability", "aws", "messaging", "idempotency"}
AWS_LIBRARIES = ("boto3", "botocore", "pynamodb", "chalice", "aws_lambda_powertools")


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, *, top_level_only: bool) -> list[tuple[str, list[str]]]:
    """(module imported, names imported from it) for each import of the file."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: list[tuple[str, list[str]]] = []
    for node in nodes:
        if top_level_only and isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports are not run
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "chalicelib" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else "shared" if parts[1] in SHARED else None


def _target(module: str, names: list[str], known: dict[str, Path]) -> list[str]:
    """The chalicelib modules an import names (`from chalicelib.persistence import customers` names the module)."""
    submodules = [f"{module}.{n}" for n in names if f"{module}.{n}" in known]
    return submodules or ([module] if module in known else [])


def test_imports_only_point_down() -> None:
    known = _modules()
    upward = []
    for module, path in known.items():
        here = _layer(module)
        if here is None:
            continue
        for imported, names in _imports(path, top_level_only=False):
            for target in _target(imported, names, known):
                there = _layer(target)
                if there is None or there == "shared" or here == "shared":
                    if here == "domain" and there == "shared" and not target.endswith(".config"):
                        upward.append((module, target))
                    continue
                if LAYERS.index(there) < LAYERS.index(here):
                    upward.append((module, target))
    assert upward == []


def test_the_console_and_the_api_read_and_write_only_through_the_use_cases() -> None:
    """A page makes the requests its API route makes: both call the services, never a repository."""
    known = _modules()
    direct = [(module, target) for module, path in known.items() if _layer(module) in ("console", "api")
              for imported, names in _imports(path, top_level_only=False)
              for target in _target(imported, names, known) if _layer(target) == "persistence"]
    assert direct == []


def test_the_domain_imports_no_aws_sdk() -> None:
    offenders = [(module, imported) for module, path in _modules().items() if _layer(module) == "domain"
                 for imported, _ in _imports(path, top_level_only=False) if imported.split(".")[0] in AWS_LIBRARIES]
    assert offenders == []


def test_duckdb_is_imported_by_the_parquet_writer_only_and_only_when_it_writes() -> None:
    """DuckDB is the Lambda bundle's heaviest library: one module imports it, inside the function that writes a
    Parquet file, so no cold start (the API's, the stream's) loads it."""
    def importers(top_level_only: bool) -> set[str]:
        return {module for module, path in _modules().items()
                for imported, _ in _imports(path, top_level_only=top_level_only) if imported.split(".")[0] == "duckdb"}

    assert importers(top_level_only=False) == {"chalicelib.persistence.parquet"}
    assert importers(top_level_only=True) == set()
    app = ast.parse((ROOT / "app.py").read_text())
    assert not [n for n in ast.walk(app) if isinstance(n, ast.Import | ast.ImportFrom)
                and "duckdb" in ((n.module or "") if isinstance(n, ast.ImportFrom) else n.names[0].name)]


def test_no_import_circles() -> None:
    known = _modules()
    graph = {module: {t for imported, names in _imports(path, top_level_only=True)
                      for t in _target(imported, names, known) if t != module}
             for module, path in known.items()}
    seen: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            circles.append(trail[trail.index(module):] + [module])
            return
        if module in seen:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*trail, module])
        seen.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert circles == []


def test_no_module_imports_another_ones_private_names() -> None:
    private = [(module, imported, name) for module, path in _modules().items()
               for imported, names in _imports(path, top_level_only=False) if imported.startswith("chalicelib")
               for name in names if name.startswith("_")]
    assert private == []


@pytest.mark.parametrize("capability", ["customers", "interactions", "complaints", "reminders", "consent", "analytics",
                                        "products", "orders"])
def test_a_capability_has_one_name_through_the_layers(capability: str) -> None:
    for layer in ("api", "services", "domain"):
        assert (PACKAGE / layer / f"{capability}.py").exists(), f"chalicelib/{layer}/{capability}.py"
    assert (PACKAGE / "api" / f"{capability}_models.py").exists(), "its models beside its routes"
