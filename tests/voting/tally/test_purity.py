"""The counting engine imports nothing but the standard library and itself.

import-linter (see pyproject.toml) forbids the web stack by name; this test closes the rest: any
third-party import at all would stop an auditor from recounting with a bare Python.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import burgerbegroting.voting.tally as tally

PACKAGE_DIR = Path(tally.__file__).parent


def _imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_tally_imports_only_the_standard_library_and_itself() -> None:
    offenders: dict[str, set[str]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for module in _imported_top_level_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or module.startswith("burgerbegroting.voting.tally"):
                continue
            offenders.setdefault(path.name, set()).add(module)
    assert offenders == {}


def test_the_purity_check_would_catch_a_third_party_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom burgerbegroting.db import Base\nimport fractions\n")
    assert _imported_top_level_modules(bad) == {"numpy", "burgerbegroting.db", "fractions"}
