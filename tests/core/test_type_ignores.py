"""Every ``# type: ignore`` in the shipped code names its error code and says why.

mypy (``[tool.mypy]`` in pyproject.toml, run by .ci/run) has ``warn_unused_ignores``, so a stale
ignore fails there; this test keeps the ones that remain narrow (a code, not a blanket ignore)
and explained (a reason comment after it, on the same line).
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("worker", "titan_desktop")
IGNORE = re.compile(r"type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)")
NOQA = re.compile(r"#\s*noqa(:\s*[A-Z0-9, ]+)?")


def unexplained_ignores(root: Path) -> list[str]:
    """``path:line: comment`` for each ``type: ignore`` without an error code or a reason."""
    bad = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            tokens = tokenize.generate_tokens(io.StringIO(source).readline)
            for tok in tokens:
                if tok.type != tokenize.COMMENT:
                    continue
                match = IGNORE.search(tok.string)
                if match is None:
                    continue
                codes = (match["codes"] or "").strip("[]")
                reason = NOQA.sub("", match["rest"]).strip().lstrip("#").strip()
                if not re.fullmatch(r"[a-z-]+(\s*,\s*[a-z-]+)*", codes) or len(reason) < 8:
                    where = path.relative_to(root)
                    bad.append(f"{where}:{tok.start[0]}: {tok.string}")
    return bad


def test_every_type_ignore_names_a_code_and_a_reason() -> None:
    bad = unexplained_ignores(ROOT)
    assert not bad, "type: ignore needs [code]  # reason:\n" + "\n".join(bad)


@pytest.mark.parametrize("comment, ok", [
    ("# type: ignore", False),  # blanket
    ("# type: ignore[attr-defined]", False),  # no reason
    ("# type: ignore[attr-defined]  # noqa: B008", False),  # a lint pragma is no reason
    ("# type: ignore[attr-defined]  # PySide6 stubs lack it", True),
    ("# type: ignore[override]  # noqa: B008  # QObject.parent() overload", True),
    ("# type: ignore[union-attr,attr-defined]  # pgserver ships no types", True),
])
def test_the_rule_itself(tmp_path: Path, comment: str, ok: bool) -> None:
    (tmp_path / "worker").mkdir()
    (tmp_path / "titan_desktop").mkdir()
    (tmp_path / "worker" / "m.py").write_text(f"x = f()  {comment}\ns = '# type: ignore'\n")
    assert (unexplained_ignores(tmp_path) == []) is ok
