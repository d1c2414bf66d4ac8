"""Loopback stand-ins for services a test cannot reach: GitHub's REST API and Render.

``FakeGitHub`` is a fake of the documented GitHub REST endpoints PyGithub calls for the ops loop
and the github-pages deploy target (repos, Git Data API refs/commits/trees/blobs with utf-8 or
base64 blobs and trees with or without a base tree, pulls, merge), holding a tiny repository in
memory. It also stands in for GitHub Pages: ``GET /pages/<path>`` serves the files of the
``gh-pages`` branch (``index.html`` for a folder), as Pages serves that branch.
``FakeRender`` adds Render deploy hooks (``POST /deploy/<service>?key=...&ref=<sha>``) and the
deployed service's ``/health``, which answers 503 while the deployed commit's
``client/health.txt`` is not "ok" (as the tiny repo's real server does).
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


def _sha(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class _Raw:
    """A response body that is not JSON (a Pages file)."""

    def __init__(self, body: bytes, kind: str) -> None:
        self.body, self.kind = body, kind


class FakeGitHub:
    def __init__(self, owner_repo: str, files: dict[str, str]) -> None:
        self.repo = owner_repo
        self.blobs: dict[str, str] = {}
        self.trees: dict[str, dict[str, str]] = {}  # tree sha -> {path: content}
        self.commits: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, str] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.deploys: list[dict[str, str]] = []
        self.requests: list[str] = []
        self.deployed: str | None = None
        tree = self._tree(dict(files))
        root = self._commit("initial", tree, [])
        self.refs["heads/main"] = root
        self.deployed = root
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- state ------------------------------------------------------------------------------

    def _tree(self, files: dict[str, str]) -> str:
        sha = _sha("tree", files)
        self.trees[sha] = files
        return sha

    def _commit(self, message: str, tree: str, parents: list[str]) -> str:
        sha = _sha("commit", message, tree, parents, len(self.commits))
        self.commits[sha] = {"message": message, "tree": tree, "parents": parents}
        return sha

    def files_at(self, ref: str) -> dict[str, str]:
        sha = self.refs.get(ref, ref)
        return self.trees[self.commits[sha]["tree"]]

    # -- JSON shapes ------------------------------------------------------------------------

    def _api(self, path: str) -> str:
        return f"{self.url}/repos/{self.repo}{path}"

    def _ref_json(self, name: str) -> dict[str, Any]:
        sha = self.refs[name]
        return {"ref": f"refs/{name}", "url": self._api(f"/git/refs/{name}"),
                "object": {"sha": sha, "type": "commit", "url": self._api(f"/git/commits/{sha}")}}

    def _commit_json(self, sha: str) -> dict[str, Any]:
        commit = self.commits[sha]
        return {"sha": sha, "url": self._api(f"/git/commits/{sha}"),
                "message": commit["message"],
                "tree": {"sha": commit["tree"], "url": self._api(f"/git/trees/{commit['tree']}")},
                "parents": [{"sha": p, "url": self._api(f"/git/commits/{p}")}
                            for p in commit["parents"]]}

    def _pull_json(self, number: int) -> dict[str, Any]:
        pull = self.pulls[number]
        return {"number": number, "state": pull["state"], "title": pull["title"],
                "body": pull["body"], "merged": pull["merged"],
                "url": self._api(f"/pulls/{number}"),
                "html_url": f"{self.url}/{self.repo}/pull/{number}",
                "head": {"ref": pull["head"], "sha": self.refs.get(f"heads/{pull['head']}")},
                "base": {"ref": pull["base"]}}

    # -- routes -----------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any
               ) -> tuple[int, Any]:
        self.requests.append(f"{method} {path}")
        if method == "POST" and path.startswith("/deploy/"):
            self.deployed = query.get("ref", [self.refs["heads/main"]])[0]
            self.deploys.append({"service": path.rsplit("/", 1)[1], "ref": self.deployed,
                                 "key": query.get("key", [""])[0]})
            return 200, {"deploy": {"id": f"dep-{len(self.deploys)}"}}
        if method == "GET" and path.startswith("/pages/"):
            return self._pages(path.removeprefix("/pages/"))
        if method == "GET" and path == "/health":
            files = self.trees[self.commits[self.deployed]["tree"]]
            ok = files.get("client/health.txt", "").strip() == "ok"
            return (200, {"status": "ok"}) if ok else (503, {"status": "unhealthy"})
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}
        rest = path[len(prefix):]
        if method == "GET" and rest == "":
            owner, name = self.repo.split("/")
            return 200, {"full_name": self.repo, "name": name, "owner": {"login": owner},
                         "default_branch": "main", "url": self._api("")}
        if method == "GET" and (m := re.fullmatch(r"/git/ref/(.+)", rest)):
            name = unquote(m[1])
            return (200, self._ref_json(name)) if name in self.refs else (404, {
                "message": "Not Found"})
        if method == "GET" and (m := re.fullmatch(r"/git/commits/(\w+)", rest)):
            return (200, self._commit_json(m[1])) if m[1] in self.commits else (404, {})
        if method == "GET" and (m := re.fullmatch(r"/git/trees/(\w+)", rest)):
            files = self.trees[m[1]]
            return 200, {"sha": m[1], "url": self._api(f"/git/trees/{m[1]}"), "truncated": False,
                         "tree": [{"path": p, "mode": "100644", "type": "blob",
                                   "sha": _sha("blob", c)} for p, c in files.items()]}
        if method == "POST" and rest == "/git/blobs":
            content = body["content"]
            if body.get("encoding") == "base64":  # bytes kept as text, losslessly
                content = base64.b64decode(content).decode("utf-8", "surrogateescape")
            sha = _sha("blob", content)
            self.blobs[sha] = content
            return 201, {"sha": sha, "url": self._api(f"/git/blobs/{sha}")}
        if method == "POST" and rest == "/git/trees":
            files = dict(self.trees[body["base_tree"]]) if body.get("base_tree") else {}
            for entry in body["tree"]:
                if entry.get("sha") is None:  # a null sha deletes the path
                    files.pop(entry["path"], None)
                else:
                    files[entry["path"]] = self.blobs[entry["sha"]]
            return 201, {"sha": self._tree(files), "tree": [], "truncated": False,
                         "url": self._api("/git/trees/x")}
        if method == "POST" and rest == "/git/commits":
            sha = self._commit(body["message"], body["tree"], body["parents"])
            return 201, self._commit_json(sha)
        if method == "POST" and rest == "/git/refs":
            name = body["ref"].removeprefix("refs/")
            if name in self.refs:
                return 422, {"message": "Reference already exists"}
            self.refs[name] = body["sha"]
            return 201, self._ref_json(name)
        if (m := re.fullmatch(r"/git/refs/(.+)", rest)) and method in ("PATCH", "DELETE"):
            name = unquote(m[1])
            if name not in self.refs:
                return 422, {"message": "Reference does not exist"}
            if method == "DELETE":
                del self.refs[name]
                return 204, None
            self.refs[name] = body["sha"]
            return 200, self._ref_json(name)
        if method == "POST" and rest == "/pulls":
            if f"heads/{body['head']}" not in self.refs:
                return 422, {"message": "Validation Failed: head"}
            number = len(self.pulls) + 1
            self.pulls[number] = {"title": body["title"], "body": body.get("body", ""),
                                  "head": body["head"], "base": body["base"], "state": "open",
                                  "merged": False}
            return 201, self._pull_json(number)
        if (m := re.fullmatch(r"/pulls/(\d+)(/merge)?", rest)):
            number = int(m[1])
            if number not in self.pulls:
                return 404, {"message": "Not Found"}
            pull = self.pulls[number]
            if method == "GET" and not m[2]:
                return 200, self._pull_json(number)
            if method == "PATCH" and not m[2]:
                pull["state"] = body.get("state", pull["state"])
                return 200, self._pull_json(number)
            if method == "PUT" and m[2]:
                if pull["state"] != "open":
                    return 405, {"message": "Pull Request is not mergeable"}
                base, head = self.refs[f"heads/{pull['base']}"], self.refs[f"heads/{pull['head']}"]
                merged = self._commit(body.get("commit_title", "merge"),
                                      self.commits[head]["tree"], [base, head])
                self.refs[f"heads/{pull['base']}"] = merged
                pull.update(state="closed", merged=True)
                return 200, {"sha": merged, "merged": True, "message": "Pull Request merged"}
        return 404, {"message": f"Not Found: {method} {rest}"}

    def _pages(self, path: str) -> tuple[int, Any]:
        if "heads/gh-pages" not in self.refs:
            return 404, {"message": "There isn't a GitHub Pages site here."}
        files = self.files_at("heads/gh-pages")
        path = unquote(path)
        for candidate in (path, f"{path.rstrip('/')}/index.html".lstrip("/")):
            if candidate in files:
                kind = mimetypes.guess_type(candidate)[0] or "application/octet-stream"
                return 200, _Raw(files[candidate].encode("utf-8", "surrogateescape"), kind)
        return 404, {"message": "File not found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw.strip() else {}
                if not parts.path.startswith(("/deploy/", "/health", "/pages/")):
                    assert self.headers.get("Authorization") == "token gh-test-token", \
                        "PyGithub must send the token"
                status, data = fake.handle(self.command, parts.path, parse_qs(parts.query), body)
                kind = data.kind if isinstance(data, _Raw) else "application/json"
                payload = (data.body if isinstance(data, _Raw) else
                           b"" if data is None else json.dumps(data).encode())
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler
