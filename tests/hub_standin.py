"""A stand-in for the Hugging Face Hub on 127.0.0.1: serves a folder as a model repo the way hf_hub_download expects."""
from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class StandInHub:
    """`with StandInHub(folder, "owner/name") as hub:` then HF_ENDPOINT=hub.url; hub.requests lists the paths asked."""

    def __init__(self, folder: Path, repo: str, revisions: tuple[str, ...] = ("main", COMMIT)):
        self.folder, self.repo, self.revisions = Path(folder), repo, revisions
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _file(self):
                prefix = f"/{outer.repo}/resolve/"
                if not self.path.startswith(prefix):
                    return None
                rev, _, rel = self.path[len(prefix):].partition("/")
                p = outer.folder / rel
                if rev not in outer.revisions or not p.is_file():
                    return None
                return p.read_bytes()

            def _answer(self, with_body: bool):
                outer.requests.append((self.command, self.path))
                data = self._file()
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if with_body:
                    self.wfile.write(data)

            def do_HEAD(self):
                self._answer(False)

            def do_GET(self):
                self._answer(True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """Accepts TCP connections and never answers: the worst case for a client without its own deadline."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused at once
    return f"http://127.0.0.1:{port}"
