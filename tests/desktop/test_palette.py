"""Colours have one home: titan_desktop/palette.py names them, the code uses the names, and the
stylesheet (plain CSS colours, resources/titan.qss) uses only colours the palette names."""

from __future__ import annotations

import io
import re
import token
import tokenize
from pathlib import Path

from titan_desktop import palette

ROOT = Path(__file__).resolve().parents[2]
HEX = re.compile(r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})(?![0-9A-Za-z_])")
# Python 3.12 splits f-strings into parts; their literal text is FSTRING_MIDDLE.
STRING_TOKENS = {token.STRING} | ({token.FSTRING_MIDDLE} if hasattr(token, "FSTRING_MIDDLE")
                                  else set())


def normal(colour: str) -> str:
    """#abc and #aabbcc are the same colour: compare in the long, lower-case form."""
    digits = colour[1:].lower()
    return "#" + ("".join(d * 2 for d in digits) if len(digits) == 3 else digits)


def named_colours() -> dict[str, str]:
    return {name: value for name, value in vars(palette).items()
            if name.isupper() and isinstance(value, str)}


def hex_literals(path: Path) -> list[str]:
    """``file:line colour`` for each hex colour inside a string literal (comments don't count)."""
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    for tok in tokens:
        if tok.type in STRING_TOKENS:
            for match in HEX.finditer(tok.string):
                found.append(f"{path.relative_to(ROOT)}:{tok.start[0]} {match.group()}")
    return found


def test_palette_values_are_distinct_hex_colours() -> None:
    colours = named_colours()
    assert colours, "the palette names no colours"
    for name, value in colours.items():
        assert re.fullmatch(r"#[0-9a-f]{6}", value), f"{name} = {value!r}: write #rrggbb"
    doubles = sorted(v for v in colours.values() if list(colours.values()).count(v) > 1)
    assert not doubles, f"one colour under two names: {doubles}"


def test_no_python_module_but_the_palette_writes_a_hex_colour() -> None:
    modules = sorted((ROOT / "titan_desktop").rglob("*.py"))
    assert len(modules) > 20
    found = [hit for path in modules if path.name != "palette.py" or path.parent.name !=
             "titan_desktop" for hit in hex_literals(path)]
    assert not found, "use a name from titan_desktop/palette.py:\n" + "\n".join(found)


def test_the_stylesheet_uses_only_palette_colours() -> None:
    sheet = (ROOT / "resources" / "titan.qss").read_text(encoding="utf-8")
    used = {normal(c) for c in HEX.findall(sheet)}
    assert used, "titan.qss has no colours: did the pattern break?"
    unnamed = sorted(used - set(named_colours().values()))
    assert not unnamed, f"titan.qss uses colours titan_desktop/palette.py does not name: {unnamed}"
