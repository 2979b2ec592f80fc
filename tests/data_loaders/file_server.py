"""A local HTTP file server for download tests: serves a folder laid out like the real source.

Runs on 127.0.0.1 in a thread (stdlib ``http.server``). Beyond plain GETs it answers ``Range``
requests with 206 (as the real archives do), can demand ``Authorization: Bearer <key>`` for paths
a predicate marks as paid (tardis's rule), and can be told to fail a path a few times first
(``"503"``: a server error; ``"cut"``: a body that stops half-way after a full Content-Length) so
retries and resumption are exercised for real.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path


class FileServer:
    """
    Serve ``root`` at ``http://127.0.0.1:<port>/``.

    Parameters
    ----------
    root : Path
        The folder; URL paths map to files below it.
    paid : Callable[[str], bool], optional
        URL paths that need ``Authorization: Bearer <api_key>`` (else 401).
    api_key : str
        The key ``paid`` paths accept.

    """

    def __init__(
        self, root: Path, paid: Callable[[str], bool] | None = None, api_key: str = "test-key"
    ) -> None:
        self.root = Path(root)
        self.paid = paid or (lambda _: False)
        self.api_key = api_key
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.requests.append((path, self.headers.get("Range")))
                if server.paid(path) and (
                    self.headers.get("Authorization") != f"Bearer {server.api_key}"
                ):
                    self._plain(401, b"Unauthorized")
                    return
                file = server.root / path.lstrip("/")
                if not file.is_file():
                    self._plain(404, b"Not Found")
                    return
                body = file.read_bytes()
                fault = server.faults[path].pop(0) if server.faults[path] else None
                if fault == "503":
                    self._plain(503, b"Service Unavailable")
                    return
                start, status = 0, 200
                range_header = self.headers.get("Range")
                if range_header and range_header.startswith("bytes="):
                    start = int(range_header[6:].split("-")[0])
                    if start >= len(body):
                        self._plain(416, b"Range Not Satisfiable")
                        return
                    status = 206
                part = body[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(part)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if fault == "cut":
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

            def _plain(self, status: int, text: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
