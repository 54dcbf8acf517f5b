"""An agent at the console, in headless Chromium against the demo office served by gunicorn."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.support.browser import log_in
from tests.support.live_server import flask_command, live_server, show_log_on_failure

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_server(request, redis_url):
    with live_server(redis_url) as running, show_log_on_failure(request.config, running, Path(__file__)):
        flask_command(["demo", "seed"], running.env)
        yield running


@pytest.fixture
def agent_page(demo_server, browser):
    context = browser.new_context(base_url=demo_server.url, locale="fa-IR", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    log_in(page, "agent", "demo-agent")
    expect(page).to_have_url(f"{demo_server.url}/console/")
    yield page
    context.close()


def a_demo_subscriber(server) -> tuple[int, str, str]:
    engine = create_engine(server.env["DATABASE_URL"])
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT s.id, s.name, p.e164 FROM subscribers s JOIN subscriber_phones p ON p.subscriber_id = s.id "
                "WHERE p.e164 LIKE '+989%' AND (SELECT count(*) FROM addresses a WHERE a.subscriber_id = s.id) >= 2 "
                "ORDER BY s.id LIMIT 1"
            )
        ).one()
    engine.dispose()
    return row


def test_number_lookup_pops_the_record_and_an_address_is_added_from_the_map(agent_page, demo_server):
    page = agent_page
    subscriber_id, name, e164 = a_demo_subscriber(demo_server)
    national = "0" + e164.removeprefix("+98")
    persian = national.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))

    page.fill("#lookup-phone", persian)
    page.click("form[role=search] >> nth=0 >> button")
    expect(page).to_have_url(f"{demo_server.url}/console/subscribers/{subscriber_id}")
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator("[data-addresses] li")).not_to_have_count(0)
    addresses_before = page.locator("[data-addresses] li").count()

    page.click("text=افزودن نشانی")
    page.fill("[data-place-search]", "تجريش")  # Arabic yeh, as often typed
    result = page.locator("[data-place-results] button").first
    expect(result).to_be_visible()
    result.click()
    expect(page.locator("[data-pin-state]")).to_have_class("map-hint placed")
    page.fill("#label", "باشگاه")
    page.fill("#driver_notes", "جلوی در ورودی شمالی")
    page.click("text=ذخیرهٔ نشانی")
    expect(page.locator("[data-addresses] li")).to_have_count(addresses_before + 1)
    expect(page.locator("[data-addresses]")).to_contain_text("جلوی در ورودی شمالی")
    page.screenshot(path=str(Path(__file__).parent.parent / "test-artifacts" / "subscriber-fa-1366x768.png"))


def test_unknown_number_becomes_a_new_subscriber(agent_page, demo_server):
    page = agent_page
    page.fill("#lookup-phone", "0999 000 1234")
    page.click("form[role=search] >> nth=0 >> button")
    expect(page.locator("#phone")).to_have_value("0999 000 1234")
    page.fill("#name", "مسافر تازه")
    page.click("button.primary")
    expect(page.locator("h1")).to_have_text("مسافر تازه")
    expect(page.locator(".phones")).to_contain_text("0999 000 1234")


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 768}, {"width": 820, "height": 1180}])
def test_console_and_record_fit_a_desk_screen_and_a_tablet(demo_server, browser, viewport):
    context = browser.new_context(base_url=demo_server.url, locale="fa-IR", viewport=viewport, has_touch=True)
    page = context.new_page()
    try:
        log_in(page, "agent", "demo-agent")
        expect(page.locator("[data-live-state]")).to_have_class("live-state connected")
        subscriber_id, _name, _e164 = a_demo_subscriber(demo_server)
        for path in ("/console/", f"/console/subscribers/{subscriber_id}"):
            page.goto(path)
            # Nothing wider than the screen: no sideways scrolling on a wall desk or a tablet.
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], path
            expect(page.locator("main")).to_be_visible()
    finally:
        context.close()
