"""Generated protobuf code is exactly what scripts/gen_protos.py makes from protos/."""

from __future__ import annotations

import filecmp
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(directory: Path) -> set[str]:
    return {
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    fresh = tmp_path / "_pb"
    _load_generator().generate(fresh)
    committed = ROOT / "gateway" / "_pb"
    assert _tree(fresh) == _tree(committed), "run: python scripts/gen_protos.py"
    stale = [
        name
        for name in sorted(_tree(fresh))
        if not filecmp.cmp(fresh / name, committed / name, shallow=False)
    ]
    assert stale == [], f"stale generated files {stale}; run: python scripts/gen_protos.py"
