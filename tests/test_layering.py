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
