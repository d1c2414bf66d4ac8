"""Files a template writes: atomic folder swaps, checksums, copies into OUTPUT_DIR with
one-line errors (``DiskFull`` when the disk is full), a built site served on the loopback site host,
and zip archives."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from worker.errors import DiskFull


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


def copy_to_output(source: Path, staging: Path, output_root: Path, **copytree: Any) -> None:
    """``shutil.copytree`` into OUTPUT_DIR, with one readable line instead of its list of
    per-file errors. A partial copy is removed (it would only hold on to the space)."""
    try:
        shutil.copytree(source, staging, **copytree)
    except (OSError, shutil.Error) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise output_error(exc, output_root) from None


def output_error(exc: BaseException, output_root: Path) -> Exception:
    """What went wrong writing to OUTPUT_DIR, said in one line."""
    if isinstance(exc, shutil.Error):  # args[0]: [(src, dst, "[Errno N] reason: 'path'"), ...]
        problems = [p for p in exc.args[0] if isinstance(p, tuple) and len(p) == 3] \
            if exc.args and isinstance(exc.args[0], list) else []
        if any(f"[Errno {errno.ENOSPC}]" in str(p[2]) for p in problems):
            return DiskFull(f"no space left on OUTPUT_DIR ({output_root})")
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return RuntimeError(f"could not copy {first[0]} to {first[1]}: {first[2]}{more}")
        return RuntimeError(str(exc))
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"no space left on OUTPUT_DIR ({output_root})")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def serve_and_url(dist: Path, output_dir: Path, slug: str, settings: Any) -> str:
    """Copy the built site to OUTPUT_DIR/<slug>/ and return its URL on the loopback site host."""
    from worker.sitehost import ensure_site_host

    if not (dist / "index.html").is_file():
        raise RuntimeError(f"nothing to deploy: {dist}/index.html is missing (build first)")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = output_dir.with_name(f".{output_dir.name}.deploy-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    copy_to_output(dist, staging, output_dir.parent)
    replace_dir(staging, output_dir)
    base = ensure_site_host(output_dir.parent, settings.titan_home)
    return urljoin(base, f"{slug}/")


def publish_archive(dist: Path, output_dir: Path, slug: str, label: str = "site") -> Path:
    """Zip a folder (the built site by default) into ``OUTPUT_DIR/<slug>/<slug>-<label>.zip``
    (written to a temp name, then renamed). Caches (``__pycache__``, ``.pytest_cache``) stay out.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = output_dir / f"{slug}-{label}.zip"
    partial = archive.with_suffix(".zip.partial")
    skip = {"__pycache__", ".pytest_cache"}
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in dist.rglob("*") if p.is_file()):
                relative = path.relative_to(dist)
                if skip.isdisjoint(relative.parts):
                    zf.write(path, relative.as_posix())
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise output_error(exc, output_dir.parent) from None
    os.replace(partial, archive)
    return archive
