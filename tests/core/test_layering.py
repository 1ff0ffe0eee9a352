"""The core knows nothing above it: no module under scgrad/core imports estimators, baselines or more."""

from __future__ import annotations

import ast
from pathlib import Path

import scgrad

CORE = Path(scgrad.__file__).parent / "core"
ALLOWED = ("scgrad.core", "scgrad.errors")


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module if node.level == 0 else f"scgrad.core.{node.module}")
            if node.module == "scgrad":
                names.update(f"scgrad.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name == "scgrad" or name.startswith("scgrad.")}


def test_the_core_imports_only_the_core():
    offending = {
        path.name: sorted(name for name in imported(path) if not name.startswith(ALLOWED))
        for path in sorted(CORE.glob("*.py"))
    }
    assert not {name: found for name, found in offending.items() if found}


def test_no_file_of_the_package_is_long():
    lengths = {str(path.relative_to(CORE.parent)): len(path.read_text().splitlines()) for path in CORE.parent.rglob("*.py")}
    assert max(lengths.values()) <= 260, sorted(lengths.items(), key=lambda item: -item[1])[:3]
