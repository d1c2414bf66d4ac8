"""Every public function and method of the queue and the services says what it does: these are
the only door to the database, so a front end's author reads them first."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def documented_modules() -> list[Path]:
    return [ROOT / "worker" / "queue.py", *sorted((ROOT / "worker" / "services").glob("*.py"))]


def public_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module-level functions and the methods of module-level classes, without a leading _."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found += [n for n in node.body
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return [f for f in found if not f.name.startswith("_")]


def test_public_functions_of_the_queue_and_services_have_docstrings() -> None:
    modules = documented_modules()
    assert len(modules) > 10
    missing = []
    checked = 0
    for path in modules:
        for function in public_functions(ast.parse(path.read_text(encoding="utf-8"))):
            checked += 1
            if not (ast.get_docstring(function) or "").strip():
                missing.append(f"{path.relative_to(ROOT)}:{function.lineno} {function.name}")
    assert checked > 50, "the walk found too few functions: did the layout change?"
    assert not missing, "public functions without a docstring:\n" + "\n".join(missing)
