"""Generate gateway/_pb from protos/: the only writer of generated protobuf code.

Usage: python scripts/gen_protos.py [OUT_DIR]   (default: gateway/_pb)

Imports between generated modules are rewritten as relative imports so the
package needs nothing on sys.path but itself; `.pyi` stubs are written too.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
DEFAULT_OUT = ROOT / "gateway" / "_pb"
_OWN_PACKAGES = ("galgate", "inference")


def _relative(module_dir: Path, out: Path, text: str) -> str:
    """Rewrite `from galgate.v1 import x_pb2` style imports to relative ones."""
    depth = len(module_dir.relative_to(out).parts)

    def repl(match: re.Match[str]) -> str:
        package, names = match.group(1), match.group(2)
        return f"from {'.' * (depth + 1)}{package} import {names}"

    pattern = rf"^from ((?:{'|'.join(_OWN_PACKAGES)})(?:\.\w+)*) import (\w+)"
    return re.sub(pattern, repl, text, flags=re.MULTILINE)


def generate(out: Path) -> list[Path]:
    """Write the generated modules under `out` and return their paths."""
    from grpc_tools import protoc  # test/dev dependency only

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    sources = sorted(p.relative_to(PROTOS).as_posix() for p in PROTOS.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {sources}")
    written = []
    for path in sorted(out.rglob("*.py*")):
        text = _relative(path.parent, out, path.read_text())
        path.write_text(text)
        written.append(path)
    for directory in [out, *(d for d in out.rglob("*") if d.is_dir())]:
        init = directory / "__init__.py"
        if not init.exists():
            init.write_text('"""Generated protobuf code; do not edit (scripts/gen_protos.py)."""\n')
            written.append(init)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    for written_path in generate(target):
        print(written_path.relative_to(target))
