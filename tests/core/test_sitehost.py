"""The loopback site host that keeps deployed sites online."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from worker.sitehost import ensure_site_host, read_state, stop_site_host


def test_concurrent_deploys_share_one_host_and_urls_survive_a_restart(tmp_path: Path) -> None:
    home, root = tmp_path / "home", tmp_path / "sites"
    (root / "moon").mkdir(parents=True)
    (root / "moon" / "index.html").write_text("<h1>Moon Garden</h1>")
    try:
        with ThreadPoolExecutor(6) as pool:
            urls = set(pool.map(lambda _: ensure_site_host(root, home), range(6)))
        assert len(urls) == 1  # six deploys at once, one host
        url = urls.pop()
        assert "Moon Garden" in httpx.get(url + "moon/", trust_env=False).text
        first_pid = read_state(home)["pid"]

        assert stop_site_host(home)  # e.g. a reboot
        again = ensure_site_host(root, home)
        assert again == url and read_state(home)["pid"] != first_pid  # same URL, new process
        assert httpx.get(url + "moon/", trust_env=False).status_code == 200
    finally:
        stop_site_host(home)


def test_no_directory_listings_and_no_symlinks_out_of_the_root(tmp_path: Path) -> None:
    """Issue 15: a folder without index.html is not listed, and a symlink in a site (to a file,
    a folder or an index.html outside OUTPUT_DIR) serves nothing; real HTTP requests."""
    home, root = tmp_path / "home", tmp_path / "sites"
    secret_dir = tmp_path / "private"
    secret_dir.mkdir()
    (secret_dir / "key.txt").write_text("the private key")
    (secret_dir / "index.html").write_text("the private page")
    site = root / "moon"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Moon Garden</h1>")
    (site / "assets" / "style.css").write_text("body {}")
    (site / "key.txt").symlink_to(secret_dir / "key.txt")
    (site / "private").symlink_to(secret_dir)
    (site / "elsewhere").mkdir()
    (site / "elsewhere" / "index.html").symlink_to(secret_dir / "index.html")
    (site / "inside.css").symlink_to(site / "assets" / "style.css")  # stays in the root: fine
    try:
        base = ensure_site_host(root, home)
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as client:
            assert "Moon Garden" in client.get("/moon/").text
            assert client.get("/moon/inside.css").text == "body {}"
            for path in ("/", "/moon/assets/", "/moon/key.txt", "/moon/private/",
                         "/moon/private/key.txt", "/moon/elsewhere/",
                         "/moon/elsewhere/index.html", "/moon/%2e%2e/../private/key.txt"):
                answer = client.get(path)
                assert answer.status_code == 404, (path, answer.status_code)
                assert "private" not in answer.text and "assets" not in answer.text, path
    finally:
        stop_site_host(home)
