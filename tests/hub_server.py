"""A stand-in for the Hugging Face Hub on 127.0.0.1: the few endpoints huggingface_hub's snapshot_download calls
(repo info at a revision, the file tree, each file's metadata and bytes), over snapshot folders the tests build, with
the Hub's own error codes (RepoNotFound, RevisionNotFound, GatedRepo) so that huggingface_hub raises what it raises
against huggingface.co. A gated repo answers only a request with the right bearer token.

    hub = FakeHub(); sha = hub.add("org/name", folder); endpoint = hub.start()  # HF_ENDPOINT=endpoint
    ...
    hub.stop()
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class FakeHub:
    def __init__(self, token: str = "hf_lmforge_test_secret_token"):
        self.repos: dict[str, dict] = {}
        self.token = token
        self.seen_authorization: list[str] = []  # the Authorization headers received (to show the token was sent)
        self.server: ThreadingHTTPServer | None = None

    def add(self, repo_id: str, folder: Path, revision: str = "main", sha: str | None = None,
            gated: bool = False, repo_type: str = "model") -> str:
        """Serve `folder` as the commit `sha` of `repo_id` and point `revision` at it (a new commit when it moves)."""
        from tests.families import commit_sha

        sha = sha or commit_sha(folder, repo_id + revision)
        repo = self.repos.setdefault(f"{repo_type}s/{repo_id}", {"refs": {}, "commits": {}, "gated": gated})
        repo["commits"][sha] = Path(folder)
        repo["refs"][revision] = sha
        repo["gated"] = repo["gated"] or gated
        return sha

    def start(self) -> str:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: the test's output stays readable
                pass

            def do_GET(self):
                hub.answer(self, body=True)

            def do_HEAD(self):
                hub.answer(self, body=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def answer(self, request: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlsplit(request.path).path)
        for kind in ("models", "datasets"):
            if path.startswith(f"/api/{kind}/"):
                rest = path.removeprefix(f"/api/{kind}/")
                for marker, what in (("/revision/", "info"), ("/tree/", "tree")):
                    if marker in rest:
                        repo_id, revision = rest.split(marker, 1)
                        return self.answer_api(request, f"{kind}/{repo_id}", revision, what, body)
        if "/resolve/" in path:
            repo_id, rest = path.lstrip("/").split("/resolve/", 1)
            key = repo_id if repo_id.startswith("datasets/") else f"models/{repo_id}"
            repo = self.repos.get(key)
            if repo is not None:  # the revision may hold slashes: match the repo's own refs
                for revision in sorted([*repo["refs"], *repo["commits"]], key=len, reverse=True):
                    if rest.startswith(revision + "/"):
                        return self.answer_file(request, key, revision, rest[len(revision) + 1:], body)
        return self.send(request, 404, {"error": "not found"}, {"X-Error-Code": "RepoNotFound"}, body)

    def find(self, request, repo_id: str, revision: str, body: bool) -> tuple[str, Path] | None:
        """The commit and folder a request names, or None once it has been answered with the Hub's error."""
        repo = self.repos.get(repo_id)
        if repo is None:
            self.send(request, 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}, body)
            return None
        authorization = request.headers.get("Authorization") or ""
        self.seen_authorization.append(authorization)
        if repo["gated"] and authorization != f"Bearer {self.token}":
            self.send(request, 401, {"error": "Access to this model is restricted"}, {"X-Error-Code": "GatedRepo"},
                      body)
            return None
        sha = repo["refs"].get(revision) or (revision if revision in repo["commits"] else None)
        if sha is None:
            self.send(request, 404, {"error": "Invalid rev id"}, {"X-Error-Code": "RevisionNotFound"}, body)
            return None
        return sha, repo["commits"][sha]

    def answer_api(self, request, repo_id: str, revision: str, kind: str, body: bool) -> None:
        found = self.find(request, repo_id, revision, body)
        if found is None:
            return
        sha, folder = found
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        if kind == "info":
            name = repo_id.split("/", 1)[1]
            info = {"id": name, "modelId": name, "sha": sha, "private": False, "gated": False,
                    "siblings": [{"rfilename": p.relative_to(folder).as_posix()} for p in files],
                    "cardData": read_card_data(folder)}
            return self.send(request, 200, info, {}, body)
        tree = []
        for p in files:
            data = p.read_bytes()
            tree.append({"type": "file", "path": p.relative_to(folder).as_posix(), "size": len(data),
                         "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
                         "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}})
        return self.send(request, 200, tree, {}, body)

    def answer_file(self, request, repo_id: str, revision: str, name: str, body: bool) -> None:
        found = self.find(request, repo_id, revision, body)
        if found is None:
            return
        sha, folder = found
        path = folder / name
        if not path.is_file():
            return self.send(request, 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}, body)
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        headers = {"X-Repo-Commit": sha, "ETag": f'"{digest}"', "X-Linked-Etag": f'"{digest}"',
                   "X-Linked-Size": str(len(data)), "Content-Type": "application/octet-stream"}
        request.send_response(200)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if body:
            request.wfile.write(data)

    @staticmethod
    def send(request, status: int, payload, headers: dict, body: bool) -> None:
        data = json.dumps(payload).encode()
        request.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if body:
            request.wfile.write(data)


def read_card_data(folder: Path) -> dict:
    """The YAML block at the top of a repo's README.md, as the Hub gives it (cardData)."""
    import yaml

    card = folder / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    if not text.startswith("---"):
        return {}
    return yaml.safe_load(text.split("---", 2)[1]) or {}
