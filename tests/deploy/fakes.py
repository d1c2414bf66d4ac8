"""A loopback fake of Render for the render deploy target: a fake of the documented deploy hook
(``POST /deploy/<service id>?key=<key>``: 200 with ``{"deploy": {"id": ...}}``, 404 for an
unknown service or a wrong key) and of the service it deploys, at ``/service/``.

Render builds a service from its own source; this fake serves the ``site`` files it was given,
and only after a hook call plus ``build_polls`` more requests to the service (503 "deploy in
progress" meanwhile), as a real service answers only once the deploy is live.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeRender:
    def __init__(self, service: str, key: str, site: dict[str, str], build_polls: int = 2) -> None:
        self.service, self.key, self.site = service, key, site
        self.build_polls = build_polls
        self.deploys: list[str] = []  # deploy ids, in order
        self.polls_since_deploy = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.hook = f"{self.url}/deploy/{service}?key={key}"
        self.service_url = f"{self.url}/service/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeRender:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, method: str, path: str, query: dict[str, list[str]]
               ) -> tuple[int, str, bytes]:
        if method == "POST" and path.startswith("/deploy/"):
            if path != f"/deploy/{self.service}" or query.get("key") != [self.key]:
                return 404, "application/json", b'{"message": "not found"}'
            self.deploys.append(f"dep-{len(self.deploys) + 1}")
            self.polls_since_deploy = 0
            return 200, "application/json", json.dumps(
                {"deploy": {"id": self.deploys[-1]}}).encode()
        if method == "GET" and path.startswith("/service/"):
            if not self.deploys or self.polls_since_deploy < self.build_polls:
                self.polls_since_deploy += 1
                return 503, "text/plain", b"deploy in progress"
            name = path.removeprefix("/service/") or "index.html"
            if name in self.site:
                kind = "text/css" if name.endswith(".css") else "text/html"
                return 200, kind, self.site[name].encode()
        return 404, "text/plain", b"not found"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                status, kind, body = fake.handle(self.command, parts.path, parse_qs(parts.query))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler
