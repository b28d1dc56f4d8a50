"""A local stand-in for the Fake Store API, serving recorded or generated data.

It answers the API's routes and query parameters the way the real server does
(`startdate` inclusive, `enddate` exclusive, bare JSON arrays, `null` for an
unknown id), and lets tests and the benchmark inject latency and faults and
read back which requests were made. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.loopback import LoopbackServer

DATA_DIR = Path(__file__).parent / "data"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Reply:
    """A canned answer that replaces the normal one for a matching request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Close the socket without answering, to simulate a connection reset.
    drop: bool = False


# A fault hook sees (path, query, request number for that path) and may
# return a Reply to send instead of the data.
FaultHook = Callable[[str, dict[str, str], int], Reply | None]


def parse_js_date(value: str) -> datetime:
    """Parse a date the way `new Date(value)` does for the forms the API gets.

    A bare `YYYY-MM-DD` is midnight UTC; an ISO timestamp keeps its zone.
    """
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class Store:
    """The data behind the server: products, users and carts sorted by date.

    Carts are kept pre-encoded so that serving a date window of a large
    generated data set is a slice and a join, not a re-serialisation.
    """

    def __init__(
        self,
        products: list[dict[str, Any]],
        users: list[dict[str, Any]],
        carts: list[dict[str, Any]],
    ) -> None:
        self.products = products
        self.users = users
        self.replace_carts(carts)

    @classmethod
    def from_dir(cls, directory: Path = DATA_DIR) -> Store:
        def read(name: str) -> list[dict[str, Any]]:
            return json.loads((directory / f"{name}.json").read_text("utf-8"))

        return cls(read("products"), read("users"), read("carts"))

    def replace_carts(self, carts: list[dict[str, Any]]) -> None:
        def sort_key(cart: dict[str, Any]) -> float:
            try:
                return parse_js_date(cart["date"]).timestamp()
            except (KeyError, TypeError, ValueError):
                # Undated or malformed carts sort first, like the API's
                # `date >= 1970-01-01` default keeps them in range.
                return EPOCH.timestamp()

        ordered = sorted(carts, key=sort_key)
        self.carts = ordered
        self._cart_times = [sort_key(cart) for cart in ordered]
        self._cart_bytes = [encode(cart) for cart in ordered]

    def carts_between(self, start: datetime, end: datetime) -> bytes:
        low = bisect.bisect_left(self._cart_times, start.timestamp())
        high = bisect.bisect_left(self._cart_times, end.timestamp())
        return b"[" + b",".join(self._cart_bytes[low:high]) + b"]"


class ReplayServer(LoopbackServer):
    """Serves a Store over HTTP on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        store: Store | None = None,
        latency: float = 0.0,
        fault: FaultHook | None = None,
    ) -> None:
        self.store = store or Store.from_dir()
        self.latency = latency
        self.fault = fault
        self.requests: list[str] = []
        self._counts: dict[str, int] = {}
        super().__init__()

    @property
    def url(self) -> str:
        return self.base_url

    def requests_to(self, path: str) -> list[str]:
        """The recorded request targets whose path is `path`."""
        with self._lock:
            return [r for r in self.requests if urlsplit(r).path == path]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self._counts.clear()

    def _record(self, target: str, path: str) -> int:
        with self._lock:
            self.requests.append(target)
            self._counts[path] = self._counts.get(path, 0) + 1
            return self._counts[path]

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        """The normal answer of the API for a route."""
        store = self.store
        parts = [unquote(p) for p in path.strip("/").split("/")]
        collections = {"products": store.products, "users": store.users}
        try:
            if parts[0] == "carts" and len(parts) == 1:
                start = parse_js_date(query.get("startdate", "1970-01-01"))
                end = (
                    parse_js_date(query["enddate"])
                    if "enddate" in query
                    else datetime.now(UTC)
                )
                body = store.carts_between(start, end)
                if "limit" in query or "sort" in query:
                    items = _sort_and_limit(json.loads(body), query)
                    body = encode(items)
                return Reply(body=body)
            if parts[0] == "carts" and len(parts) == 3 and parts[1] == "user":
                user_id = int(parts[2])
                mine = [c for c in store.carts if c.get("userId") == user_id]
                return Reply(body=encode(mine))
            if parts[0] == "carts" and len(parts) == 2:
                return Reply(body=encode(_by_id(store.carts, parts[1])))
            if parts[:2] == ["products", "categories"] and len(parts) == 2:
                categories = sorted({p["category"] for p in store.products})
                return Reply(body=encode(categories))
            if parts[:2] == ["products", "category"] and len(parts) == 3:
                chosen = [p for p in store.products if p["category"] == parts[2]]
                return Reply(body=encode(_sort_and_limit(chosen, query)))
            if parts[0] in collections and len(parts) == 1:
                items = _sort_and_limit(collections[parts[0]], query)
                return Reply(body=encode(items))
            if parts[0] in collections and len(parts) == 2:
                return Reply(body=encode(_by_id(collections[parts[0]], parts[1])))
        except ValueError as error:
            return Reply(status=400, body=encode({"error": str(error)}))
        return Reply(status=404, body=b"Not Found")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                number = server._record(self.path, split.path)
                reply = (
                    server.fault(split.path, query, number) if server.fault else None
                )
                if reply is None:
                    reply = server.answer(split.path, query)
                delay = server.latency + reply.delay
                if delay:
                    time.sleep(delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json; charset=utf-8"}
                headers.update(reply.headers)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Silence the per-request stderr line; `requests` keeps the log."""

        return Handler


def _sort_and_limit(
    items: list[dict[str, Any]], query: dict[str, str]
) -> list[dict[str, Any]]:
    ordered = sorted(
        items, key=lambda item: item.get("id", 0), reverse=query.get("sort") == "desc"
    )
    limit = int(query["limit"]) if query.get("limit", "").isdigit() else 0
    return ordered[:limit] if limit else ordered


def _by_id(items: list[dict[str, Any]], raw_id: str) -> dict[str, Any] | None:
    return next((item for item in items if str(item.get("id")) == raw_id), None)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with ReplayServer(Store.from_dir(args.data), latency=args.latency) as running:
        print(running.url, flush=True)
        threading.Event().wait()
