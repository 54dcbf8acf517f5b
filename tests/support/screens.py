"""A person's page on a live server, as its script uses it: a logged-in HTTP session and its Socket.IO channel."""

from __future__ import annotations

import re
import threading

import requests
import socketio as socketio_client

from tests.support.servers import wait_until

WAIT = 30.0  # seconds any one event may take on a busy 2-core machine


class Screen:
    """One person's page on one web process: a logged-in HTTP session and its Socket.IO connection, recording events."""

    def __init__(self, base_url: str, namespace: str, events: tuple[str, ...]):
        self.base_url = base_url
        self.namespace = namespace
        self.http = requests.Session()
        self.received: list[tuple[str, object]] = []
        self.lock = threading.Lock()
        self.client = socketio_client.Client(reconnection=False)
        for event in events:
            self.client.on(event, self._recorder(event), namespace=namespace)
        self.csrf = ""

    def _recorder(self, event: str):
        def record(data=None):
            with self.lock:
                self.received.append((event, data))

        return record

    def log_in(self, path: str, form: dict[str, str], landing: str) -> Screen:
        """Log in through the form at ``path``, then keep the CSRF token of the page landed on."""
        self.http.post(self.base_url + path, data={**form, "csrf_token": self._token(path)}, timeout=10)
        self.csrf = self._token(landing)
        return self

    def _token(self, path: str) -> str:
        page = self.http.get(self.base_url + path, timeout=10)
        # The meta tag of a signed-in page, or the hidden field of the driver's login form.
        found = re.search(r'name="csrf-token" content="([^"]+)"', page.text) or re.search(
            r'name="csrf_token"[^>]*value="([^"]+)"', page.text
        )
        assert found, f"no CSRF token on {path} ({page.status_code} {page.url})"
        return found[1]

    def connect(self) -> Screen:
        """Open the live channel with the session's cookie, as the page's script does."""
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        headers = {"Cookie": cookie, "User-Agent": self.http.headers["User-Agent"]}
        self.client.connect(
            self.base_url, namespaces=[self.namespace], transports=["websocket"], headers=headers, wait_timeout=15
        )
        return self

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        """A JSON POST from the page's script (cookie session and CSRF header)."""
        return self.http.post(self.base_url + path, json=body or {}, headers={"X-CSRFToken": self.csrf}, timeout=15)

    def seen(self, event: str, match) -> object:
        """Wait until an event of that name matching ``match(data)`` has arrived; its data."""

        def find():
            with self.lock:
                return next((data for name, data in self.received if name == event and match(data)), None)

        return wait_until(find, timeout=WAIT, what=f"{event!r} on {self.namespace} at {self.base_url}")
