"""A driver's standing: papers (checked and kept outside the web root), contracts and suspensions keep a driver
out of dispatch with the reason; the complaint flag proposes a suspension; papers about to expire are texted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.extensions import db
from drivers.accounts import (
    AccountError,
    add_document,
    decide_proposal,
    document_path,
    expiring_documents,
    lift,
    lift_ended,
    suspend,
)
from drivers.models import DriverDocument, Suspension
from drivers.services import dispatch_block_reason
from drivers.tasks import remind_expiring_documents
from earnings.commission import publish_plan
from earnings.contracts import add_contract
from feedback.complaints import open_complaint
from notifications.models import OutboundMessage
from tests.support.office import add_driver

NOW = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
TODAY = date(2026, 11, 20)
PDF = b"%PDF-1.7\n% a scanned licence\n" + b"0" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


@pytest.fixture
def driver(app):
    driver = add_driver("A1", "09121110001")
    db.session.commit()
    return driver


def test_a_scan_is_kept_outside_the_web_root_and_a_licence_updates_the_driver(app, driver):
    document = add_document(driver, "licence", "L-123", TODAY + timedelta(days=400), PDF, "licence.pdf", None, NOW)
    path = document_path(document)
    assert path is not None and path.read_bytes() == PDF
    assert Path(app.instance_path) in path.parents and Path(app.static_folder) not in path.parents
    assert path.name != "licence.pdf" and document.content_type == "application/pdf"
    assert (driver.licence_number, driver.licence_expires_on) == ("L-123", TODAY + timedelta(days=400))


@pytest.mark.parametrize(
    ("data", "expires_on", "message"),
    [
        (b"MZ\x90\x00 a windows program", None, "PDF, PNG or JPEG"),
        (b"<html><script>alert(1)</script>", None, "PDF, PNG or JPEG"),
        (PNG + b"0" * (5 * 1024 * 1024), None, "larger than 5 MB"),
        (PDF, TODAY - timedelta(days=1), "in the past"),
    ],
)
def test_a_bad_file_or_a_past_expiry_is_refused_and_nothing_is_kept(app, driver, data, expires_on, message):
    with pytest.raises(AccountError, match=message):
        add_document(driver, "insurance", "I-9", expires_on, data, "x.pdf", None, NOW)
    db.session.rollback()
    assert db.session.scalars(select(DriverDocument)).all() == []
    folder = Path(app.instance_path) / "documents"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_suspension_keeps_the_driver_out_until_its_end_and_is_lifted_by_the_clock(app, driver):
    assert dispatch_block_reason(driver, NOW, TODAY) is None
    suspension = suspend(driver, "fare dispute under review", NOW, NOW + timedelta(days=2), None, NOW)
    assert dispatch_block_reason(driver, NOW, TODAY) == "the driver is suspended: fare dispute under review"
    assert dispatch_block_reason(driver, NOW + timedelta(days=2), TODAY + timedelta(days=2)) is None
    assert lift_ended(NOW + timedelta(days=1)) == 0
    assert lift_ended(NOW + timedelta(days=3)) == 1
    assert suspension.status == "lifted" and driver.suspended_from is None
    with pytest.raises(AccountError, match="not in force"):
        lift(suspension, None, NOW)
    with pytest.raises(AccountError, match="needs a reason"):
        suspend(driver, "  ", NOW, None, None, NOW)
    with pytest.raises(AccountError, match="over before it starts"):
        suspend(driver, "late", NOW, NOW - timedelta(hours=1), None, NOW)


def test_an_expired_contract_keeps_the_driver_out(app, driver):
    publish_plan("standard", "Standard", [{"kind": "percent", "percent_bp": 1500}], NOW, None, NOW)
    add_contract(driver, "C-1", "standard", date(2026, 1, 1), TODAY + timedelta(days=10), "", None, NOW)
    assert dispatch_block_reason(driver, NOW, TODAY) is None
    later = TODAY + timedelta(days=11)
    assert dispatch_block_reason(driver, NOW + timedelta(days=11), later) == "the driver's contract has expired"


def test_the_complaint_flag_proposes_a_suspension_for_a_supervisor_to_confirm(app, driver, make_user):
    from tests.test_feedback_loop import trip_on_the_road

    booking = trip_on_the_road("fa")
    booking.driver_id = None
    booking.status = "completed"
    db.session.flush()
    booking.driver_id = driver.id
    for n in range(3):
        open_complaint("agent", f"rude driver {n}", NOW + timedelta(minutes=n), booking=booking)
    [proposal] = db.session.scalars(select(Suspension)).all()
    assert (proposal.status, proposal.complaint_count) == ("proposed", 3)
    assert dispatch_block_reason(driver, NOW, TODAY) is None  # only a proposal: nothing changes yet
    open_complaint("agent", "rude again", NOW + timedelta(minutes=5), booking=booking)
    assert len(db.session.scalars(select(Suspension)).all()) == 1  # one open proposal at a time
    supervisor = make_user("supervisor")
    decide_proposal(proposal, True, NOW + timedelta(days=7), supervisor.id, NOW + timedelta(hours=1))
    assert dispatch_block_reason(driver, NOW + timedelta(hours=2), TODAY).startswith("the driver is suspended")
    with pytest.raises(AccountError, match="not waiting"):
        decide_proposal(proposal, False, None, supervisor.id, NOW)


def test_papers_about_to_expire_are_listed_and_the_driver_is_texted_once(app, driver):
    add_document(driver, "insurance", "I-1", TODAY + timedelta(days=5), None, "", None, NOW)
    add_document(driver, "licence", "L-1", TODAY + timedelta(days=300), None, "", None, NOW)
    db.session.commit()
    app.config["DOCUMENT_REMINDER_DAYS"] = 14
    soon = expiring_documents(NOW, 14)
    assert [d.kind for d in soon] == ["insurance"]
    assert remind_expiring_documents(now=NOW) == 1
    assert remind_expiring_documents(now=NOW) == 0
    [text] = db.session.scalars(select(OutboundMessage)).all()
    assert text.to == driver.phone and text.kind == "document_expiring"


def test_the_dispatch_board_shows_why_a_driver_gets_no_offers(app, driver, redis_client):
    from dispatch.board import driver_row

    assert driver_row(driver)["blocked"] is None
    suspend(driver, "unpaid commission", NOW - timedelta(hours=1), None, None, NOW)
    assert driver_row(driver)["blocked"] == "the driver is suspended: unpaid commission"


def test_the_drivers_own_page_is_told_why_no_offers_come(app, driver, redis_client):
    from api.drivers import driver_state

    assert driver_state(driver)["blocked"] is None
    suspend(driver, "unpaid commission", NOW - timedelta(hours=1), None, None, NOW)
    assert driver_state(driver)["blocked"] == "the driver is suspended: unpaid commission"
