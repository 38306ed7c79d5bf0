"""The verifier imports only the standard library, the counting engine, canonical JSON, the pure
ballot rules and ``cryptography`` (for the signature): an auditor runs it without the app, the
database or the web stack. import-linter forbids the app's modules by name (pyproject.toml); this
test closes the rest, for the verifier and the pure modules it relies on (the export format it
shares with the server, canonical JSON, the ballot rules).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import burgerbegroting

SRC = Path(burgerbegroting.__file__).parent
CHECKED = (
    "audit/verify.py",
    "audit/exportformat.py",
    "voting/canonical.py",
    "voting/ballots.py",
)
ALLOWED_OWN = (
    "burgerbegroting.audit.exportformat",
    "burgerbegroting.voting.tally",
    "burgerbegroting.voting.canonical",
    "burgerbegroting.voting.ballots",
)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            assert node.module is not None
            names.add(node.module)
            if node.module == "burgerbegroting":
                names.update(f"burgerbegroting.{alias.name}" for alias in node.names)
    return names


def allowed(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names or top == "cryptography":
        return True
    # The package root holds only ``__version__`` (voting.ballots reads it for the engine version).
    if module in {"burgerbegroting", "burgerbegroting.__version__"}:
        return True
    return module.startswith(ALLOWED_OWN)


def test_verifier_and_its_pure_modules_import_nothing_of_the_app() -> None:
    offenders = {
        name: sorted(m for m in imported_modules(SRC / name) if not allowed(m)) for name in CHECKED
    }
    assert offenders == {name: [] for name in CHECKED}


def test_the_check_would_catch_an_app_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import json\nfrom burgerbegroting.db import Base\n"
        "def f():\n    from sqlalchemy import select\n"
    )
    assert sorted(m for m in imported_modules(bad) if not allowed(m)) == [
        "burgerbegroting.db",
        "sqlalchemy",
    ]


def test_running_the_verifier_loads_no_web_or_database_module() -> None:
    code = (
        "import sys, burgerbegroting.audit.verify as v\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'litestar', 'sqlalchemy', 'advanced_alchemy', 'msgspec', 'jinja2', 'jwt', 'babel'} "
        "or m in {'burgerbegroting.db', 'burgerbegroting.settings', 'burgerbegroting.app'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
