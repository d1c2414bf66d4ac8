"""Checks on a built site: every internal link names a file inside it, and a served page
answers 200 with the text it should show."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def check_links(site: Path) -> list[str]:
    """Every internal href/src in every page must name a file inside the site."""
    problems = []
    root = site.resolve()
    for page in sorted(site.rglob("*.html")):
        parser = _LinkParser()
        parser.feed(page.read_text(encoding="utf-8"))
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("#", "mailto:", "data:")):
                continue
            if not parts.path:
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(root) or not target.is_file():
                problems.append(f"{page.relative_to(site)} -> {link}")
    return problems


def verify_page(url: str, must_contain: str, also: list[str] | None = None) -> str:
    """GET the page (200, contains the text) and each related path (200); say what passed."""
    import httpx

    with httpx.Client(timeout=10.0, follow_redirects=True, trust_env=False) as client:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}, expected 200")
        if html.escape(must_contain) not in response.text and must_contain not in response.text:
            raise RuntimeError(f"GET {url} answered 200 but the page does not mention "
                               f"{must_contain!r}")
        for path in also or []:
            extra = client.get(urljoin(url, path))
            if extra.status_code != 200:
                raise RuntimeError(f"GET {urljoin(url, path)} answered {extra.status_code}")
    return f"GET {url} -> 200 with {must_contain!r}" + (f", {len(also)} more paths OK" if also
                                                        else "")
