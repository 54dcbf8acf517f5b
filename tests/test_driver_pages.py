"""The driver pages of supervisors and admins: the driver book, the profile's forms, papers, suspensions, ledger."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import utcnow
from core.timewindows import office_date
from drivers.accounts import add_document, propose_suspension, suspend
from drivers.models import Driver, DriverContract, DriverDocument, Suspension
from earnings.commission import publish_plan
from earnings.ledger import balance
from earnings.models import LedgerEntry
from tests.conftest import csrf_token_of
from tests.support.office import add_driver

PDF = b"%PDF-1.7\n% a scanned licence\n" + b"0" * 100
EXE = b"MZ\x90\x00\x03\x00\x00\x00 this program cannot be run in DOS mode"


def office_today():
    return office_date(utcnow(), "Asia/Tehran")


@pytest.fixture
def driver(app):
    driver = add_driver("A1", "09121110001")
    db.session.commit()
    return driver


@pytest.fixture
def supervisor(logged_in):
    return logged_in("supervisor")


def token(client, path: str = "/supervisor/drivers") -> str:
    return csrf_token_of(client.get(path).get_data(as_text=True))


def profile(client, driver) -> str:
    response = client.get(f"/supervisor/drivers/{driver.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def upload(client, driver, data: bytes, name: str = "licence.pdf", expires_on=None, kind: str = "licence"):
    expires_on = expires_on or office_today() + timedelta(days=400)
    return client.post(
        f"/supervisor/drivers/{driver.id}/papers",
        data={
            "paper-csrf_token": token(client),
            "paper-kind": kind,
            "paper-number": "L-123",
            "paper-expires_on": expires_on.isoformat(),
            "paper-scan": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def test_the_list_shows_each_driver_with_what_blocks_them(app, supervisor, driver):
    other = add_driver("B2", "09121110002")
    suspend(other, "fare dispute under review", utcnow() - timedelta(minutes=1), None, None, utcnow())
    db.session.commit()
    html = supervisor.get("/supervisor/drivers").get_data(as_text=True)
    assert "the driver is suspended: fare dispute under review" in html
    rows = {chunk.split('"', 1)[0]: chunk for chunk in html.split('data-driver="')[1:]}
    assert "data-blocked" in rows[str(other.id)] and "data-blocked" not in rows[str(driver.id)]
    assert "A1-IR" in rows[str(driver.id)] and "eligible" in rows[str(driver.id)]
    assert 'href="/supervisor/drivers"' in html.split('<nav class="main-nav"', 1)[1].split("</nav>", 1)[0]


@pytest.mark.parametrize("role", ["agent", "dispatcher"])
def test_agents_and_dispatchers_are_refused_every_page(app, logged_in, driver, role):
    document = add_document(driver, "licence", "L-1", None, PDF, "l.pdf", None, utcnow())
    db.session.commit()
    client = logged_in(role)
    base = f"/supervisor/drivers/{driver.id}"
    for path in ("/supervisor/drivers", base, f"{base}/papers/{document.id}", "/supervisor/papers"):
        assert client.get(path).status_code == 403, path
    csrf = csrf_token_of(client.get(client.get("/").headers["Location"]).get_data(as_text=True))
    posts = ["/supervisor/drivers", f"{base}/contracts", f"{base}/papers", f"{base}/suspensions", f"{base}/adjustments"]
    posts += [f"{base}/suspensions/1/{action}" for action in ("confirm", "decline", "lift")]
    for path in posts:
        assert client.post(path, data={"csrf_token": csrf}).status_code == 403, path


def test_admins_may_use_the_pages(app, logged_in, driver):
    client = logged_in("admin")
    assert client.get("/supervisor/drivers").status_code == 200
    assert client.get(f"/supervisor/drivers/{driver.id}").status_code == 200
    assert client.get("/supervisor/papers").status_code == 200


def new_driver(client, phone: str):
    return client.post(
        "/supervisor/drivers",
        data={
            "new-csrf_token": token(client),
            "new-call_sign": "c7",
            "new-name": "Reza Karimi",
            "new-phone": phone,
            "new-pin": "4821",
            "new-language": "fa",
            "new-plate": "12ب345-67",
            "new-make_model": "Samand",
            "new-colour": "white",
            "new-vehicle_class": "van",
        },
    )


def test_a_new_driver_is_added_with_their_car(app, supervisor):
    response = new_driver(supervisor, "0912 111 0009")
    assert response.status_code == 302
    driver = db.session.scalar(select(Driver).where(Driver.call_sign == "C7"))
    assert response.headers["Location"].endswith(f"/supervisor/drivers/{driver.id}")
    assert (driver.phone, driver.vehicles[0].plate, driver.vehicles[0].vehicle_class) == (
        "+989121110009",
        "12ب345-67",
        "van",
    )
    html = profile(supervisor, driver)
    assert "Reza Karimi" in html and "Driver C7 added." in html


def test_a_bad_phone_number_is_refused_and_nothing_is_added(app, supervisor):
    response = new_driver(supervisor, "12")
    assert response.status_code == 400
    assert "phone:" in response.get_data(as_text=True)
    assert count(Driver) == 0


def test_a_scan_is_uploaded_listed_and_downloaded_as_it_was(app, supervisor, driver):
    response = upload(supervisor, driver, PDF)
    assert response.status_code == 302
    document = db.session.scalar(select(DriverDocument))
    assert (document.kind, document.content_type, document.uploaded_by_id) == ("licence", "application/pdf", 1)
    html = profile(supervisor, driver)
    link = f"/supervisor/drivers/{driver.id}/papers/{document.id}"
    assert link in html and "licence.pdf" in html and "L-123" in html
    download = supervisor.get(link)
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert (
        download.headers["Content-Disposition"].startswith("attachment")
        and "licence.pdf" in download.headers["Content-Disposition"]
    )


def test_a_program_is_refused_and_nothing_is_kept(app, supervisor, driver):
    response = upload(supervisor, driver, EXE, name="licence.pdf.exe")
    assert response.status_code == 400
    assert "the file must be a PDF, PNG or JPEG" in response.get_data(as_text=True)
    assert count(DriverDocument) == 0
    folder = Path(app.instance_path) / "documents"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_paper_that_has_already_expired_is_refused(app, supervisor, driver):
    response = upload(supervisor, driver, PDF, expires_on=office_today() - timedelta(days=1))
    assert response.status_code == 400
    assert "the expiry date is in the past" in response.get_data(as_text=True)
    assert count(DriverDocument) == 0


def test_another_drivers_paper_is_not_found_through_this_driver(app, supervisor, driver):
    other = add_driver("B2", "09121110002")
    document = add_document(other, "id_card", "ID-9", None, PDF, "id.pdf", None, utcnow())
    db.session.commit()
    assert supervisor.get(f"/supervisor/drivers/{driver.id}/papers/{document.id}").status_code == 404
    assert supervisor.get(f"/supervisor/drivers/{other.id}/papers/{document.id}").status_code == 200
    assert supervisor.get(f"/supervisor/drivers/{driver.id}/papers/999").status_code == 404


def test_a_contract_is_added_and_shown_in_force(app, supervisor, driver):
    publish_plan("standard", "Standard", [{"kind": "percent", "percent_bp": 1500}], utcnow(), None, utcnow())
    db.session.commit()
    assert '<option value="standard">' in profile(supervisor, driver)
    ends_on = office_today() + timedelta(days=365)
    response = supervisor.post(
        f"/supervisor/drivers/{driver.id}/contracts",
        data={
            "contract-csrf_token": token(supervisor),
            "contract-number": "C-2026-7",
            "contract-plan_code": "standard",
            "contract-starts_on": office_today().isoformat(),
            "contract-ends_on": ends_on.isoformat(),
            "contract-terms": "Weekly settlement.",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (driver.contract_plan, driver.contract_ends_on) == ("standard", ends_on)
    assert "C-2026-7" in profile(supervisor, driver)
    refused = supervisor.post(
        f"/supervisor/drivers/{driver.id}/contracts",
        data={
            "contract-csrf_token": token(supervisor),
            "contract-plan_code": "nonesuch",
            "contract-starts_on": office_today().isoformat(),
        },
    )
    assert refused.status_code == 400 and "no commission plan with that code" in refused.get_data(as_text=True)
    assert count(DriverContract) == 1


def test_a_suspension_blocks_the_driver_until_lifted(app, supervisor, driver):
    response = supervisor.post(
        f"/supervisor/drivers/{driver.id}/suspensions",
        data={"suspend-csrf_token": token(supervisor), "suspend-reason": "unpaid commission"},
    )
    assert response.status_code == 302
    html = profile(supervisor, driver)
    assert "data-blocked" in html and "the driver is suspended: unpaid commission" in html
    suspension = db.session.scalar(select(Suspension))
    assert suspension.created_by_id is not None and suspension.ends_at is None
    lifted = supervisor.post(
        f"/supervisor/drivers/{driver.id}/suspensions/{suspension.id}/lift", data={"csrf_token": token(supervisor)}
    )
    assert lifted.status_code == 302
    html = profile(supervisor, driver)
    assert "data-eligible" in html and "data-blocked" not in html
    again = supervisor.post(
        f"/supervisor/drivers/{driver.id}/suspensions/{suspension.id}/lift", data={"csrf_token": token(supervisor)}
    )
    assert again.status_code == 400 and "this suspension is not in force" in again.get_data(as_text=True)


def test_a_suspension_without_a_reason_is_refused(app, supervisor, driver):
    response = supervisor.post(
        f"/supervisor/drivers/{driver.id}/suspensions", data={"suspend-csrf_token": token(supervisor)}
    )
    assert response.status_code == 400
    assert count(Suspension) == 0


def test_a_proposed_suspension_is_confirmed(app, supervisor, driver):
    proposal = propose_suspension(driver, 3, "3 complaints in 30 days", utcnow())
    db.session.commit()
    html = profile(supervisor, driver)
    assert f'data-proposal="{proposal.id}"' in html and "data-eligible" in html
    until = (utcnow() + timedelta(days=3)).astimezone(ZoneInfo("Asia/Tehran")).replace(second=0, microsecond=0)
    response = supervisor.post(
        f"/supervisor/drivers/{driver.id}/suspensions/{proposal.id}/confirm",
        data={"confirm-csrf_token": token(supervisor), "confirm-ends_at": until.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert proposal.status == "active" and proposal.decided_by_id is not None
    assert proposal.ends_at == until
    assert "the driver is suspended: 3 complaints in 30 days" in profile(supervisor, driver)


def test_a_proposed_suspension_is_declined(app, supervisor, driver):
    proposal = propose_suspension(driver, 3, "3 complaints in 30 days", utcnow())
    db.session.commit()
    response = supervisor.post(
        f"/supervisor/drivers/{driver.id}/suspensions/{proposal.id}/decline", data={"csrf_token": token(supervisor)}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert proposal.status == "declined"
    assert "data-eligible" in profile(supervisor, driver)


def adjustment(client, driver, amount: str, reason: str = "Bonus for the airport rush", corrects: str = ""):
    return client.post(
        f"/supervisor/drivers/{driver.id}/adjustments",
        data={
            "adjust-csrf_token": token(client),
            "adjust-amount": amount,
            "adjust-reason": reason,
            "adjust-corrects_seq": corrects,
        },
    )


def test_an_adjustment_posts_a_line_with_its_author_and_moves_the_balance(app, supervisor, driver):
    assert adjustment(supervisor, driver, "۲۵۰,۰۰۰").status_code == 302
    assert adjustment(supervisor, driver, "-50000", "wrong bonus", corrects="1").status_code == 302
    entries = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)).all()
    assert [(e.seq, e.kind, e.amount, e.balance_after) for e in entries] == [
        (1, "adjustment", 250_000, 250_000),
        (2, "adjustment", -50_000, 200_000),
    ]
    assert entries[0].author_id is not None and entries[1].corrects_id == entries[0].id
    assert balance(driver.id) == 200_000
    html = profile(supervisor, driver)
    assert 'data-seq="2"' in html and "wrong bonus" in html and "corrects line #1" in html
    assert "200,000" in html.split("data-balance>", 1)[1].split("</strong>", 1)[0]


@pytest.mark.parametrize(
    ("amount", "reason", "corrects", "message"),
    [
        ("0", "nothing", "", "an adjustment is a whole amount other than zero"),
        ("1000", "", "", "This field is required."),
        ("ten", "a bonus", "", "Enter a whole number"),
        ("1000", "a bonus", "7", "There is no line #7"),
    ],
)
def test_a_bad_adjustment_is_refused_and_nothing_is_posted(app, supervisor, driver, amount, reason, corrects, message):
    response = adjustment(supervisor, driver, amount, reason, corrects)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count(LedgerEntry) == 0


def test_a_post_without_the_csrf_token_changes_nothing(app, supervisor, driver):
    base = f"/supervisor/drivers/{driver.id}"
    refused = [
        supervisor.post(f"{base}/adjustments", data={"adjust-amount": "1000", "adjust-reason": "bonus"}),
        supervisor.post(f"{base}/suspensions", data={"suspend-reason": "no token"}),
        supervisor.post(
            "/supervisor/drivers", data={"new-call_sign": "Z9", "new-name": "Z", "new-phone": "09121110099"}
        ),
    ]
    assert [r.status_code for r in refused] == [400, 400, 400]
    assert (count(LedgerEntry), count(Suspension), count(Driver)) == (0, 0, 1)


def test_the_papers_page_lists_papers_about_to_expire(app, supervisor, driver):
    soon = add_document(driver, "insurance", "INS-4", office_today() + timedelta(days=5), PDF, "i.pdf", None, utcnow())
    add_document(driver, "licence", "LIC-LATER", office_today() + timedelta(days=300), None, "", None, utcnow())
    db.session.commit()
    html = supervisor.get("/supervisor/papers").get_data(as_text=True)
    assert f'data-paper="{soon.id}"' in html and "INS-4" in html and "LIC-LATER" not in html
    assert "expires in 5 days" in html and "not yet" in html and "A1" in html
    assert "expires in 5 days" in profile(supervisor, driver)


def test_the_profile_shows_trips_ratings_acceptance_and_complaints(app, supervisor, driver):
    from dispatch.models import Booking, DispatchOffer
    from feedback.models import Complaint, Feedback

    now = utcnow()
    trip = Booking(
        status="completed",
        pickup_text="Azadi Square",
        pickup_lat=35.6997,
        pickup_lon=51.3380,
        pickup_at=now - timedelta(hours=1),
        completed_at=now - timedelta(minutes=20),
        currency="IRR",
        fare=1_250_000,
        driver_id=driver.id,
    )
    db.session.add(trip)
    db.session.flush()
    db.session.add(Feedback(booking_id=trip.id, driver_id=driver.id, status="answered", rating=4, answered_at=now))
    for outcome in ("accepted", "accepted", "accepted", "declined", "withdrawn"):
        db.session.add(DispatchOffer(booking_id=trip.id, driver_id=driver.id, expires_at=now, outcome=outcome))
    db.session.add(Complaint(driver_id=driver.id, description="rude"))
    db.session.commit()
    html = profile(supervisor, driver)
    assert f'data-trip="{trip.id}"' in html and "1,250,000" in html and "Azadi Square" in html
    acceptance = html.split("data-acceptance>", 1)[1].split("</div>", 1)[0]
    assert "75%" in acceptance and "3 of 4" in acceptance
    assert "4/5" in html and "1 rating<" in html
    complaints = html.split("data-complaints>", 1)[0].rsplit("<a", 1)[1]
    assert f'href="/supervisor/drivers/{driver.id}/complaints"' in complaints
    assert ">1</span>" in html.split("data-complaints>", 1)[1].split("</a>", 1)[0]


def test_the_pages_render_in_persian_with_jalali_dates(app, logged_in, driver):
    client = logged_in("supervisor", language="fa")
    add_document(driver, "insurance", "INS-4", office_today() + timedelta(days=5), PDF, "i.pdf", None, utcnow())
    db.session.commit()
    for path in ("/supervisor/drivers", f"/supervisor/drivers/{driver.id}", "/supervisor/papers"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert 'dir="rtl"' in response.get_data(as_text=True)
