"""A Slack-style webhook on 127.0.0.1 that keeps every alert POSTed to it."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackServer

# A path shaped like a real webhook's: the token in it is the secret.
SECRET_PATH = "/services/T0000/B0000/s3cr3t-w3bh00k-t0k3n"


class AlertReceiver(LoopbackServer):
    """Records the JSON body of each POST; use as a context manager."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}{SECRET_PATH}"

    @property
    def texts(self) -> list[str]:
        with self._lock:
            return [post["text"] for post in self.posts]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                ok = self.path == SECRET_PATH
                if ok:
                    with receiver._lock:
                        receiver.posts.append(body)
                self.send_response(200 if ok else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the posts list is the log."""

        return Handler
