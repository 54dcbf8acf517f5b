"""What a person does, in headless Chromium against the app served by gunicorn as in production.

One server and one browser for the module; a fresh browser context (cookies, language) per test.
Persian text is checked by ``lang``/``dir`` and script, not by exact strings: the catalog changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from config import PROJECT_ROOT
from tests.support.browser import log_in as support_log_in
from tests.support.live_server import SECRET_KEY, LiveServer, live_server, show_log_on_failure

pytestmark = pytest.mark.browser

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
SOCKET_IO_CLIENT = PROJECT_ROOT / "static" / "vendor" / "socket.io" / "socket.io.min.js"
PASSWORD = "correct horse battery"

# username → role. "switcher" saves a language of its own; the others keep none, so their pages
# follow the browser's Accept-Language.
USERS = {
    "switcher": "agent",
    "agent": "agent",
    "dispatcher": "dispatcher",
    "supervisor": "supervisor",
    "admin": "admin",
}

# Every page in the navigation: path and English label (accounts/navigation.py NAVIGATION).
PAGES = {
    "console": ("/console/", "Call console"),
    "board": ("/dispatch/", "Dispatch board"),
    "wallboard": ("/supervisor/", "Wallboard"),
    "reports": ("/supervisor/reports", "Reports"),
    "complaints": ("/supervisor/complaints", "Complaints"),
    "duplicates": ("/supervisor/duplicates", "Duplicate subscribers"),
    "drivers": ("/supervisor/drivers", "Drivers"),
    "settlements": ("/supervisor/settlements", "Settlements"),
    "users": ("/admin/users", "Staff accounts"),
    "places": ("/admin/places", "Places"),
    "zones": ("/admin/zones", "Zones"),
    "fare_rules": ("/admin/fare-rules", "Fare rules"),
    "commission_plans": ("/admin/commission-plans", "Commission plans"),
    "holidays": ("/admin/holidays", "Holidays"),
    "texts": ("/admin/messages", "Texts"),
    "failed_jobs": ("/admin/jobs", "Failed jobs"),
}
# What each role's navigation shows, in order (accounts/roles.py AREAS_BY_ROLE), and where it lands.
PAGES_BY_ROLE = {
    "agent": ["console"],
    "dispatcher": ["board"],
    "supervisor": ["console", "board", "wallboard", "reports", "complaints", "duplicates", "drivers", "settlements"],
    "admin": [
        "console",
        "board",
        "wallboard",
        "reports",
        "complaints",
        "duplicates",
        "drivers",
        "settlements",
        "users",
        "places",
        "zones",
        "fare_rules",
        "commission_plans",
        "holidays",
        "texts",
        "failed_jobs",
    ],
}
LANDING = {"agent": "/console/", "dispatcher": "/dispatch/", "supervisor": "/console/", "admin": "/console/"}

ARABIC_SCRIPT = re.compile("[\u0600-\u06ff]")
CONNECTED = re.compile(r"(^|\s)connected(\s|$)")


@pytest.fixture(scope="module")
def server(request, redis_url) -> Iterator[LiveServer]:
    if not SOCKET_IO_CLIENT.exists():
        pytest.fail(f"{SOCKET_IO_CLIENT.relative_to(PROJECT_ROOT)} is missing: run `make static`")
    with (
        live_server(redis_url, users=USERS, password=PASSWORD) as running,
        show_log_on_failure(request.config, running, Path(request.module.__file__)),
    ):
        yield running


@pytest.fixture
def new_context(server, browser):
    """``new_context(locale="fa-IR")``: a fresh browser profile whose Accept-Language follows ``locale``."""
    contexts: list[BrowserContext] = []

    def make(locale: str = "en-US", **options) -> BrowserContext:
        context = browser.new_context(base_url=server.url, locale=locale, **options)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def watch_for_errors(page: Page, refused: tuple[str, ...] = ()) -> list[str]:
    """Collect the page's script errors, console errors and failed requests (a missing static file, a 500 …).

    ``refused``: paths whose 403 the test expects. The browser's own /favicon.ico probe is not counted.
    """
    problems: list[str] = []

    def expected(url: str, status: int) -> bool:
        path = urlsplit(url).path
        return path == "/favicon.ico" or (status == 403 and path in refused)

    def on_response(response) -> None:
        if response.status >= 400 and not expected(response.url, response.status):
            problems.append(f"HTTP {response.status} {response.url}")

    def on_console(message) -> None:
        status = re.search(r"status of (\d+)", message.text)
        if message.type == "error" and not (status and expected(message.location["url"], int(status[1]))):
            problems.append(f"console error: {message.text} ({message.location['url']})")

    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", on_console)
    page.on("response", on_response)
    # ERR_ABORTED is the browser cancelling a request because the page moved on (e.g. the icon of a page
    # left at once): not a failure of the server.
    page.on(
        "requestfailed",
        lambda request: (
            "ERR_ABORTED" in (request.failure or "") or problems.append(f"failed {request.url}: {request.failure}")
        ),
    )
    return problems


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the form with the module's password."""
    support_log_in(page, username, password)


def log_out(page: Page) -> None:
    page.locator(".session-tools form[action$='/logout'] button").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def expect_page_language(page: Page, lang: str, direction: str) -> None:
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", direction)
    expect(page.locator("body")).to_have_css("direction", direction)


def session_of(context: BrowserContext, server: LiveServer) -> dict:
    """The Flask session the browser carries, decoded with the server's key (the signature is checked)."""
    cookies = {c["name"]: c["value"] for c in context.cookies(server.url)}
    if "session" not in cookies:
        return {}
    probe = Flask("session-probe")
    probe.secret_key = SECRET_KEY
    return dict(probe.session_interface.get_signing_serializer(probe).loads(cookies["session"]))


def test_agent_logs_in_in_persian_and_the_console_goes_live(new_context):
    context = new_context("fa-IR", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    problems = watch_for_errors(page)
    websockets = []
    page.on("websocket", lambda ws: websockets.append(ws.url))

    log_in(page, "agent")

    expect(page).to_have_url(re.compile(r"/console/$"))
    expect_page_language(page, "fa", "rtl")
    nav = page.locator("nav.main-nav a")
    expect(nav).to_have_count(1)
    expect(nav).to_have_attribute("href", "/console/")
    expect(nav).not_to_have_text(re.compile("Call console", re.IGNORECASE))
    expect(nav).to_have_text(ARABIC_SCRIPT)
    expect(page.locator("h2#queue-title")).to_have_text(ARABIC_SCRIPT)
    # The Socket.IO client (static/vendor) reached /console and the server admitted the agent.
    live = page.locator("[data-live-state]")
    expect(live).to_have_class(CONNECTED)
    expect(live).to_have_text(ARABIC_SCRIPT)
    # … over a WebSocket through gunicorn's gthread worker, not a fallback to long-polling.
    assert any("/socket.io/" in url and "transport=websocket" in url for url in websockets), websockets

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "console-fa-1366x768.png")
    assert problems == []


def test_language_button_switches_to_english_and_is_saved_for_the_user(new_context, server):
    context = new_context("fa-IR")
    page = context.new_page()
    log_in(page, "switcher")
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect_page_language(page, "fa", "rtl")

    page.locator(".session-tools").get_by_role("button", name="English").click()

    expect(page).to_have_url(re.compile(r"/console/$"))
    expect_page_language(page, "en", "ltr")
    expect(page).to_have_title(re.compile(r"^Call console\b"))
    expect(page.locator("nav.main-nav a")).to_have_text(["Call console"])
    expect(page.locator("[data-live-state]")).to_have_class(CONNECTED)
    expect(page.locator("[data-live-state]")).to_have_text("Live")
    expect(page.locator(".session-tools").get_by_role("button", name="فارسی")).to_be_visible()

    # Logging out forgets the session, yet the account remembers English …
    log_out(page)
    log_in(page, "switcher")
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect_page_language(page, "en", "ltr")
    expect(page.locator("nav.main-nav a")).to_have_text(["Call console"])

    # … on another browser, too, whose Accept-Language still asks for Persian.
    other = new_context("fa-IR").new_page()
    log_in(other, "switcher")
    expect(other).to_have_url(re.compile(r"/console/$"))
    expect_page_language(other, "en", "ltr")
    expect(other.locator("h2#queue-title")).to_contain_text("Waiting calls")


@pytest.mark.parametrize("role", list(PAGES_BY_ROLE))
def test_each_role_sees_and_enters_only_its_own_pages(new_context, role):
    page = new_context("en-US").new_page()
    allowed = PAGES_BY_ROLE[role]
    problems = watch_for_errors(page, refused=tuple(PAGES[n][0] for n in PAGES if n not in allowed))
    log_in(page, role)
    expect(page).to_have_url(re.compile(re.escape(LANDING[role]) + "$"))
    expect_page_language(page, "en", "ltr")

    nav = page.locator("nav.main-nav a")
    expect(nav).to_have_text([PAGES[name][1] for name in allowed])
    for index, name in enumerate(allowed):
        expect(nav.nth(index)).to_have_attribute("href", PAGES[name][0])

    for name, (path, label) in PAGES.items():
        response = page.goto(path)
        if name in allowed:
            assert response.status == 200, f"{role} → {path}: {response.status}"
            expect(page).to_have_title(re.compile("^" + re.escape(label) + r"\b"))
            expect(page.locator("nav.main-nav a[aria-current=page]")).to_have_text(label)
        else:
            assert response.status == 403, f"{role} → {path}: {response.status}"
            expect(page.locator("main h1")).to_have_text("403")
            expect(page.locator("main")).to_contain_text("Your role does not have access to this page.")
            # The 403 page keeps the user's own navigation: no link to the refused page.
            expect(nav).to_have_text([PAGES[own][1] for own in allowed])
    assert problems == []


def test_wrong_password_shows_the_error_and_logs_nobody_in(new_context, server):
    context = new_context("en-US")
    page = context.new_page()
    page.goto("/login")
    form = page.locator("main form")
    form.locator("input[name=username]").fill("agent")
    form.locator("input[name=password]").fill("not the password")
    with page.expect_response(lambda r: r.request.method == "POST" and "/login" in r.url) as answer:
        form.locator("button[type=submit]").click()

    assert answer.value.status == 401
    expect(page.locator(".flash-error")).to_have_text("Wrong username or password.")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("nav.main-nav")).to_have_count(0)
    expect(page.locator("main input[name=password]")).to_have_value("")
    session = session_of(context, server)
    assert "_user_id" not in session, session
    assert "remember_token" not in {c["name"] for c in context.cookies(server.url)}

    # The console still sends this browser to the login form.
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fconsole%2F$"))
    expect(page.locator("main input[name=username]")).to_be_visible()


# Known bugs, reported and left to the app's owners: strict, so each turns red once it is fixed
# and the marker can go.


def test_language_picked_on_the_login_page_survives_logging_in(new_context):
    page = new_context("fa-IR").new_page()
    page.goto("/login")
    expect_page_language(page, "fa", "rtl")
    page.locator(".session-tools").get_by_role("button", name="English").click()
    expect_page_language(page, "en", "ltr")

    log_in(page, "dispatcher")  # no saved language; the role test runs in English anyway

    expect(page).to_have_url(re.compile(r"/dispatch/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en", timeout=2000)


def test_the_log_in_first_message_is_not_english_on_a_persian_page(new_context):
    page = new_context("fa-IR").new_page()
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fconsole%2F$"))
    expect_page_language(page, "fa", "rtl")
    expect(page.locator("main")).not_to_contain_text("Please log in", timeout=2000)
