"""Package boundaries: who may import whom, checked by parsing every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"gateway", "registry", "converters", "benchmarks", "tests"}

# package -> (packages of ours it may import, third-party roots it must not import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "registry": (set(), {"grpc", "onnxruntime", "onnx", "skl2onnx", "onnxmltools"}),
    "converters": (set(), {"grpc", "sqlalchemy", "aiosqlite", "asyncpg"}),
    "gateway": ({"registry", "converters"}, set()),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def _modules(package: str) -> list[Path]:
    return [p for p in (ROOT / package).rglob("*.py") if "_pb" not in p.parts]


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    allowed_ours, banned = RULES[package]
    violations = []
    for path in _modules(package):
        for root in _imports(path):
            if root in OURS and root not in allowed_ours | {package}:
                violations.append(f"{path.relative_to(ROOT)} imports {root}")
            if root in banned:
                violations.append(f"{path.relative_to(ROOT)} imports {root} (banned in {package})")
    assert not violations, "\n".join(violations)


def test_only_gateway_imports_grpc() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("registry", "converters")
        for path in _modules(package)
        if "grpc" in _imports(path)
    ]
    assert offenders == []


# Inside the registry: pure rules import no SQL; SQL run in a transaction imports no store.
_REGISTRY_LAYERS = {
    "rules": {"registry.entities", "registry.errors", "registry.rules"},
    "sql": {"registry.entities", "registry.errors", "registry.rules", "registry.schema",
            "registry.db", "registry.sql"},
}  # fmt: skip


def _registry_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("registry")
        ):
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", sorted(_REGISTRY_LAYERS))
def test_registry_layers_import_only_below_them(layer: str) -> None:
    allowed = _REGISTRY_LAYERS[layer]
    violations = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "registry" / layer).rglob("*.py")
        for module in _registry_imports(path)
        if not any(module == a or module.startswith(a + ".") for a in allowed)
    ]
    assert not violations, "\n".join(violations)


# Inside the gateway: the import table of docs/architecture.md is the rule.
_ARCHITECTURE = ROOT / "docs" / "architecture.md"
_LEAVES = {"gateway.errors", "gateway.brief"}


def _documented_rules() -> dict[str, set[str]]:
    """unit -> units it may import, from the table under '## Import rules'."""
    text = _ARCHITECTURE.read_text().split("## Import rules", 1)[1].split("\n## ", 1)[0]
    rules = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("gateway."):
            rules[cells[0]] = {c.strip() for c in cells[1].split(",") if c.strip()}
    return rules


def _unit_of(module: str) -> str | None:
    """gateway.a.b -> gateway.a (a module or a package, whatever it is); None outside."""
    parts = module.split(".")
    if parts[0] in ("registry", "converters"):
        return parts[0]
    if parts[0] != "gateway" or len(parts) < 2 or parts[1] == "_pb":
        return None
    return ".".join(parts[:2])


def _gateway_imports(path: Path) -> set[str]:
    """Every unit ``path`` imports, TYPE_CHECKING and function-level imports included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from gateway import x`` imports the unit gateway.x
            names = (
                [f"gateway.{a.name}" for a in node.names]
                if node.module == "gateway"
                else [node.module]
            )
            found.update(u for n in names if (u := _unit_of(n)))
        elif isinstance(node, ast.Import):
            found.update(u for a in node.names if (u := _unit_of(a.name)))
    return found


def test_architecture_table_names_every_gateway_unit() -> None:
    rules = _documented_rules()
    units = {
        _unit_of(".".join(p.relative_to(ROOT).with_suffix("").parts))
        for p in _modules("gateway")
        if p.name != "__init__.py" or p.parent != ROOT / "gateway"
    }
    units -= _LEAVES | {None}
    assert units == set(rules), (
        f"docs/architecture.md's import table is missing {sorted(units - set(rules))} "
        f"and names units that do not exist: {sorted(set(rules) - units)}"
    )


def test_gateway_units_import_only_what_docs_architecture_allows() -> None:
    rules = _documented_rules()
    violations = []
    for path in _modules("gateway"):
        unit = _unit_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if unit is None or unit in _LEAVES:
            continue
        allowed = rules.get(unit, set()) | _LEAVES | {unit, "registry"}
        for imported in sorted(_gateway_imports(path) - allowed):
            violations.append(f"{path.relative_to(ROOT)} ({unit}) imports {imported}")
    assert not violations, (
        "imports docs/architecture.md does not allow (fix the code, or the table with "
        "the reason):\n" + "\n".join(violations)
    )


def test_leaves_import_no_other_gateway_unit() -> None:
    violations = [
        f"{path.relative_to(ROOT)} imports {imported}"
        for leaf in _LEAVES
        for path in [ROOT / (leaf.replace(".", "/") + ".py")]
        for imported in _gateway_imports(path) - _LEAVES - {leaf, "registry"}
    ]
    assert not violations, "\n".join(violations)
