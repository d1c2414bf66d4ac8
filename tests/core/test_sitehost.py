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
