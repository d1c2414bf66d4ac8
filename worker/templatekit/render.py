"""Rendered source trees: a folder copied with its ``*.j2`` files (and ``{{ }}`` in path
names) rendered by Jinja2; an undefined variable or a syntax error is a ``RenderError`` that names
the file and line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from worker.errors import RenderError


def render_tree(source: Path, dest: Path, context: dict[str, Any]) -> list[Path]:
    """Copy ``source`` to ``dest``; ``*.j2`` files are rendered with Jinja2 (suffix dropped).

    Path parts may hold ``{{ variables }}`` too (``src/{{ package }}/cli.py.j2``). Undefined
    variables are errors, so a typo in a template fails the check instead of writing blanks.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

    env = Environment(loader=FileSystemLoader(source), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    written = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if "__pycache__" in relative:
            continue
        try:
            target_rel = env.from_string(relative).render(context) if "{{" in relative \
                else relative
            target = dest / target_rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".j2":
                target = target.with_suffix("")
                target.write_text(env.get_template(relative).render(context), encoding="utf-8")
            else:
                shutil.copy2(path, target)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None) or _template_line(exc, path)
            where = f"{relative} line {line}" if line else relative
            raise RenderError(f"{where}: {type(exc).__name__}: {exc}") from None
        written.append(target)
    return written


def _template_line(exc: BaseException, path: Path) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    import traceback

    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == str(path):
            return frame.lineno
    return None
