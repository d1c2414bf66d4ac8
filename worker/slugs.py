"""Names derived from a project's name: its slug (URLs, folders, service names) and a Python
identifier made from the slug (package names in generated projects)."""

from __future__ import annotations

import re
import unicodedata


def slugify(value: str, max_length: int = 80) -> str:
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].strip("-")


def python_identifier(slug: str) -> str:
    name = re.sub(r"\W", "_", slug.replace("-", "_"))
    return name if name and not name[0].isdigit() else f"p_{name}"
