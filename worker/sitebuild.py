"""Helpers templates share: slugs, atomic folder swaps, link checks, deploy, verify, archive."""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import unicodedata
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit


def slugify(value: str, max_length: int = 80) -> str:
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].strip("-")


def replace_dir(staging: Path, target: Path) -> None:
    """Move a fully written folder into place; readers never see a half-written one."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def serve_and_url(dist: Path, output_dir: Path, slug: str, settings: Any) -> str:
    """Copy the built site to OUTPUT_DIR/<slug>/ and return its URL on the loopback site host."""
    from worker.sitehost import ensure_site_host

    if not (dist / "index.html").is_file():
        raise RuntimeError(f"nothing to deploy: {dist}/index.html is missing (build first)")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = output_dir.with_name(f".{output_dir.name}.deploy-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(dist, staging)
    replace_dir(staging, output_dir)
    base = ensure_site_host(output_dir.parent, settings.titan_home)
    return urljoin(base, f"{slug}/")


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


def publish_archive(dist: Path, output_dir: Path, slug: str) -> Path:
    """Zip the built site next to the deployed one (written to a temp name, then renamed)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = output_dir / f"{slug}-site.zip"
    partial = archive.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in dist.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(dist).as_posix())
    os.replace(partial, archive)
    return archive
