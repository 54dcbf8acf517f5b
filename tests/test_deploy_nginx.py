"""deploy/ works as written: nginx over TLS in front of two Cabdesk web processes, and the env file.

The nginx site is the real ``deploy/nginx/cabdesk.conf``: only its lines marked ``EDIT`` are swapped
(:func:`render_site`) for loopback ports, a throwaway certificate and temporary paths, and a minimal main
configuration includes it as Debian's ``/etc/nginx/nginx.conf`` would. nginx runs as the test's own user, in
the foreground, with its pid file and logs under a temporary prefix. Behind it run two gunicorn processes of
the application (``tests/support/live_server.py``) on one SQLite file and the session's redis-server, which is
also their Socket.IO message queue (``REDIS_URL``), with ``PUBLIC_URL`` the public https address as in
production. Clients reach nginx at ``https://127.0.0.1:PORT`` with the public host name in ``Host``, as a
browser or Twilio would after DNS.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import socketio

from config import PROJECT_ROOT, load_config
from tests.conftest import csrf_token_of
from tests.support.live_server import DEFAULT_PASSWORD, live_server, show_log_on_failure
from tests.support.servers import free_port, wait_until
from tests.support.twilio_webhooks import (
    DESK_NUMBER,
    TEST_ACCOUNT_SID,
    call_status_params,
    incoming_call_params,
    signature_for,
)

NGINX = Path("/usr/sbin/nginx")
SITE = PROJECT_ROOT / "deploy" / "nginx" / "cabdesk.conf"
ENV_EXAMPLE = PROJECT_ROOT / "deploy" / "cabdesk.env.example"
UNITS = PROJECT_ROOT / "deploy" / "systemd"
PUBLIC_HOST = "taxi.example.test"
PUBLIC_URL = f"https://{PUBLIC_HOST}"
TOKEN = "deploy-test-twilio-token"
USER_AGENT = "cabdesk-deploy-test/1.0"  # Flask-Login's strong protection ties a session to its User-Agent
AGENT = "ana"
# Variables the systemd units read that are not application settings.
UNIT_VARIABLES = {"CABDESK_WEB_HOST", "CABDESK_WEB_THREADS"}


@dataclass
class Proxy:
    """A running nginx with the rendered site: where it listens and what it logs."""

    https_url: str
    http_url: str
    prefix: Path
    main_conf: Path
    certificate: Path
    access_log: Path
    error_log: Path
    process: subprocess.Popen

    def log_lines(self) -> list[str]:
        """The site's access log so far."""
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


def render_site(text: str, replacements: list[tuple[str, str]]) -> str:
    """The site file with each ``(old, new)`` swapped; every ``old`` must be there, so the test runs the real file."""
    for old, new in replacements:
        assert old in text, f"deploy/nginx/cabdesk.conf no longer contains {old!r}: update render_site's caller"
        text = text.replace(old, new)
    return text


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the public host name and 127.0.0.1, with its key."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={PUBLIC_HOST}",
            "-addext",
            f"subjectAltName=DNS:{PUBLIC_HOST},IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def main_configuration(prefix: Path, site: Path) -> str:
    """nginx.conf as Debian's includes a site, minus what needs root: pid, logs and temporary files in ``prefix``."""
    # A root master would hand its workers to "nobody", who may not enter the prefix: keep them as this user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "".join(f"    {kind}_temp_path {prefix / kind};\n" for kind in kinds)
    return (
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        "events {\n    worker_connections 256;\n}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"    access_log {prefix / 'access.log'};\n{temp}"
        f"    include {site};\n}}\n"
    )


def nginx_command(prefix: Path, main_conf: Path, *extra: str) -> list[str]:
    """nginx with everything under ``prefix``: no file of the system's nginx is read or written."""
    return [str(NGINX), "-p", f"{prefix}/", "-c", str(main_conf), "-e", str(prefix / "startup-error.log"), *extra]


def upstream_of(line: str) -> str:
    """The web process an access-log line names (``-``: nginx answered by itself)."""
    match = re.search(r" upstream=(\S+) ", line)
    assert match, f"access log line without upstream: {line}"
    return match.group(1)


def log_line_for(proxy: Proxy, needle: str) -> str:
    """Wait for the access-log line of a request whose line contains ``needle``."""
    return wait_until(
        lambda: next((line for line in proxy.log_lines() if needle in line), None), what=f"nginx to log {needle}"
    )


def https_session(proxy: Proxy) -> requests.Session:
    """A client of the public address: the test certificate trusted, the public host name in ``Host``."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE and the like would override ``verify``
    session.verify = str(proxy.certificate)
    session.headers.update({"User-Agent": USER_AGENT, "Host": PUBLIC_HOST})
    return session


def log_in(session: requests.Session, proxy: Proxy, referer: str | None = f"{PUBLIC_URL}/login") -> requests.Response:
    """Post the login form through nginx as a browser on the public page would (it sends a Referer)."""
    page = session.get(f"{proxy.https_url}/login", timeout=10)
    data = {"username": AGENT, "password": DEFAULT_PASSWORD, "csrf_token": csrf_token_of(page.text)}
    headers = {"Referer": referer} if referer else {}
    return session.post(f"{proxy.https_url}/login", data=data, headers=headers, allow_redirects=False, timeout=10)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """The test's TLS certificate and key."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def backends(request, redis_url, tmp_path_factory):
    """Two gunicorn processes of Cabdesk on one database and one Redis, configured for the public address."""
    database = tmp_path_factory.mktemp("shared-db") / "cabdesk.sqlite3"
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "PUBLIC_URL": PUBLIC_URL,
        "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_NUMBER": DESK_NUMBER,
        "TWILIO_API_URL": f"http://127.0.0.1:{free_port()}",  # nothing there: no test here reaches Twilio
    }
    with ExitStack() as stack:
        first = stack.enter_context(live_server(redis_url, users={AGENT: "agent"}, extra_env=env))
        # The first server migrated the shared file: the second one's copy of it (template_db) goes unused.
        second = stack.enter_context(live_server(redis_url, template_db=database, extra_env=env))
        for server in (first, second):
            stack.enter_context(show_log_on_failure(request.config, server, Path(__file__)))
        yield first, second


@pytest.fixture(scope="module")
def proxy(backends, certificate, tmp_path_factory):
    """nginx running deploy/nginx/cabdesk.conf in front of the two web processes."""
    if not NGINX.exists():
        raise RuntimeError("nginx is not installed (make test installs it)")
    prefix = tmp_path_factory.mktemp("nginx")
    cert, key = certificate
    http_port, https_port = free_port(), free_port()
    access_log, error_log = prefix / "cabdesk.access.log", prefix / "cabdesk.error.log"
    ports = [server.url.rsplit(":", 1)[1] for server in backends]
    site = render_site(
        SITE.read_text(),
        [
            ("server 127.0.0.1:8001;", f"server 127.0.0.1:{ports[0]};"),
            ("server 127.0.0.1:8002;", f"server 127.0.0.1:{ports[1]};"),
            ("listen 80;", f"listen 127.0.0.1:{http_port};"),
            ("listen [::]:80;", ""),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
            ("listen [::]:443 ssl http2;", ""),
            ("server_name taxi.example.ir;", f"server_name {PUBLIC_HOST};"),
            ("/etc/letsencrypt/live/taxi.example.ir/fullchain.pem", str(cert)),
            ("/etc/letsencrypt/live/taxi.example.ir/privkey.pem", str(key)),
            ("/var/log/nginx/cabdesk.access.log", str(access_log)),
            ("/var/log/nginx/cabdesk.error.log", str(error_log)),
            ("/opt/cabdesk/current/static/", f"{PROJECT_ROOT / 'static'}/"),
            ("/var/www/html", str(prefix / "acme")),
        ],
    )
    (prefix / "cabdesk.conf").write_text(site)
    main_conf = prefix / "nginx.conf"
    main_conf.write_text(main_configuration(prefix, prefix / "cabdesk.conf"))
    process = subprocess.Popen(
        nginx_command(prefix, main_conf, "-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    running = Proxy(
        https_url=f"https://127.0.0.1:{https_port}",
        http_url=f"http://127.0.0.1:{http_port}",
        prefix=prefix,
        main_conf=main_conf,
        certificate=cert,
        access_log=access_log,
        error_log=error_log,
        process=process,
    )

    def answers():
        if process.poll() is not None:
            return "exited"
        return https_session(running).get(f"{running.https_url}/login", timeout=2).status_code == 200

    try:
        if wait_until(answers, timeout=30, what="nginx to serve /login") == "exited":
            logs = "".join(p.read_text() for p in prefix.glob("*error.log"))
            raise RuntimeError(f"nginx exited with status {process.returncode}:\n{logs}")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful shutdown
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_rendered_site_passes_nginx_t(proxy):
    result = subprocess.run(
        nginx_command(proxy.prefix, proxy.main_conf, "-t"), capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "test is successful" in output
    # Debian 12's nginx 1.22 takes every directive silently; a later nginx only deprecates `listen … http2`.
    warnings = [line for line in output.splitlines() if "[warn]" in line and "http2" not in line]
    assert not warnings, output


def test_plain_http_is_sent_to_https(proxy):
    response = requests.get(
        f"{proxy.http_url}/login?next=%2F", headers={"Host": PUBLIC_HOST}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 301
    assert response.headers["Location"] == f"{PUBLIC_URL}/login?next=%2F"


def test_pages_go_to_a_web_process_that_sees_https(proxy, backends):
    session = https_session(proxy)
    probe = uuid.uuid4().hex
    page = session.get(f"{proxy.https_url}/login?probe={probe}", timeout=10)
    assert page.status_code == 200
    assert 'name="username"' in page.text
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert upstream_of(log_line_for(proxy, probe)) in {server.url.removeprefix("http://") for server in backends}

    # X-Forwarded-Proto reached the app: for an HTTPS request Flask-WTF insists on a same-origin Referer.
    assert log_in(session, proxy, referer=None).status_code == 400
    assert log_in(session, proxy, referer="https://elsewhere.example/login").status_code == 400
    response = log_in(session, proxy)
    assert response.status_code == 302, response.text
    assert "Secure" in response.headers["Set-Cookie"]


def test_static_files_are_served_by_nginx(proxy):
    session = https_session(proxy)
    etags = {}
    for path, cache_control in (("js/console.js", "no-cache"), ("vendor/socket.io/socket.io.min.js", "max-age=604800")):
        response = session.get(f"{proxy.https_url}/static/{path}", timeout=10)
        assert response.status_code == 200, path
        assert response.content == (PROJECT_ROOT / "static" / path).read_bytes()
        assert response.headers["Cache-Control"] == cache_control
        assert upstream_of(log_line_for(proxy, f"GET /static/{path} ")) == "-"  # no web process involved
        etags[path] = response.headers["ETag"]
    # "no-cache" costs a revalidation, not a download.
    again = session.get(
        f"{proxy.https_url}/static/js/console.js", headers={"If-None-Match": etags["js/console.js"]}, timeout=10
    )
    assert again.status_code == 304


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socketio_through_nginx_hears_the_other_web_process(proxy, backends, transport):
    session = https_session(proxy)
    assert log_in(session, proxy).status_code == 302
    # ip_hash sends every request of this client to one web process: find which, from nginx's log.
    probe = uuid.uuid4().hex
    session.get(f"{proxy.https_url}/login?probe={probe}", timeout=10)
    home = upstream_of(log_line_for(proxy, probe))
    assert f"http://{home}" in {server.url for server in backends}
    other = next(server for server in backends if server.url != f"http://{home}")

    received: list[dict] = []
    client = socketio.Client(
        reconnection=False,
        http_session=session,
        # What a browser on the public page sends; Cabdesk admits Socket.IO only from PUBLIC_URL's origin.
        websocket_extra_options={"origin": PUBLIC_URL, "host": PUBLIC_HOST},
    )
    client.on("call_waiting", received.append, namespace="/console")
    client.connect(
        proxy.https_url,
        namespaces=["/console"],
        transports=[transport],
        headers={"User-Agent": USER_AGENT},
        wait_timeout=10,
    )
    try:
        assert client.transport() == transport
        # A call rings at the other web process (Twilio's webhook straight to it): its Socket.IO event travels
        # through Redis to the process holding this client's connection.
        caller = "+98912111000" + ("1" if transport == "websocket" else "2")
        params = incoming_call_params(from_=caller)
        path = "/telephony/voice/incoming"
        signature = signature_for(PUBLIC_URL + path, params, TOKEN)
        answer = requests.post(other.url + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
        assert answer.status_code == 200, answer.text
        wait_until(
            lambda: any(card["caller_e164"] == caller for card in received),
            timeout=15,
            what=f"the call from the other web process on the {transport} connection",
        )
    finally:
        client.disconnect()

    # Sticky: every Socket.IO request (a websocket is logged when it closes) went to the same process.
    log_line_for(proxy, f"transport={transport}")
    socket_lines = [line for line in proxy.log_lines() if " /socket.io/?" in line]
    assert {upstream_of(line) for line in socket_lines} == {home}, socket_lines


@pytest.mark.parametrize(
    ("signed_for", "status"),
    [
        (PUBLIC_URL, 200),  # what Twilio signs: the webhook URL set in its console
        (f"http://{PUBLIC_HOST}", 403),  # another scheme
        ("https://elsewhere.example", 403),  # another host
    ],
)
def test_twilio_webhook_through_nginx_is_checked_against_the_public_url(proxy, signed_for, status):
    path = "/telephony/voice/status"
    params = call_status_params(call_status="completed")
    headers = {"User-Agent": "TwilioProxy/1.1", "X-Twilio-Signature": signature_for(signed_for + path, params, TOKEN)}
    response = https_session(proxy).post(proxy.https_url + path, data=params, headers=headers, timeout=10)
    assert response.status_code == status, response.text


def example_settings() -> dict[str, str]:
    """The ``NAME=value`` lines of deploy/cabdesk.env.example, commented out (``#NAME=``) or not."""
    pairs = re.findall(r"^#?([A-Z][A-Z0-9_]+)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)
    return dict(pairs)


class RecordingEnv(dict):
    """An environment that remembers every name it was asked for."""

    def __init__(self, **values):
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, name, default=None):
        """Note the name, then answer as a dict would."""
        self.asked.add(name)
        return super().get(name, default)

    def __contains__(self, name):
        self.asked.add(name)
        return super().__contains__(name)


def test_the_env_example_names_every_setting_and_loads(tmp_path):
    env = RecordingEnv(CABDESK_INSTANCE=str(tmp_path), SECRET_KEY="not written to a file")
    load_config(env)
    settings = env.asked  # every variable config/ reads, found by asking it rather than by reading its source
    named = set(example_settings())
    assert settings - named == set(), "settings missing from deploy/cabdesk.env.example"
    assert named - settings - UNIT_VARIABLES == set(), "names in deploy/cabdesk.env.example that nothing reads"
    # The values set there (not the commented-out ones) are valid settings.
    active = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
    config = load_config({**active, "CABDESK_INSTANCE": str(tmp_path)}, instance_path=tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert config["SOCKETIO_MESSAGE_QUEUE"] == active["REDIS_URL"]


def test_the_units_read_only_variables_the_env_file_or_the_unit_sets():
    named = set(example_settings())
    for unit in sorted(UNITS.glob("*.service")):
        text = unit.read_text()
        assert "EnvironmentFile=/etc/cabdesk/cabdesk.env" in text, unit.name
        defaults = set(re.findall(r"^Environment=([A-Z_]+)=", text, flags=re.MULTILINE))
        used = set(re.findall(r"\$\{([A-Z_]+)\}", text))
        assert used <= named | defaults, f"{unit.name} reads {used - named - defaults}"
