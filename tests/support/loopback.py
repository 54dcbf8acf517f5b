"""A small HTTP server on 127.0.0.1 in a background thread: the base of the protocol stand-ins."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """Serves every request through ``handle(handler)`` on a free loopback port; ``url`` once started.

    ``release`` is an Event a stand-in's hanging requests wait on; ``stop()`` sets it, so no thread
    outlives the test.
    """

    def __init__(self) -> None:
        self.release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT of the running server."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request (the stand-ins override this)."""
        raise NotImplementedError

    def start(self) -> None:
        """Listen on a free loopback port in a background thread."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.handle(self)

            do_POST = do_DELETE = do_GET

            def log_message(self, format, *args) -> None:  # keep pytest's output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Release hanging requests and shut the server down."""
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @contextmanager
    def running(self) -> Iterator[LoopbackServer]:
        """Start the server, yield it, and stop it on the way out whatever happened."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        """Answer with ``body``: bytes as an HTML page, anything else as JSON; a client that gave up is no error."""
        if isinstance(body, bytes):
            data, kind = body, "text/html"
        else:
            data, kind = json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing left to answer
