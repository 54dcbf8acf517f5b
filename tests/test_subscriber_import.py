"""Migrating an office's subscriber list: CSV import (messy rows, merges, rejections, atomic rows), export, CLI."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import delete, func, select, text, update

from core.extensions import db
from crm.cli import subscribers_cli
from crm.exporter import export_subscribers
from crm.import_file import ImportFileError
from crm.importer import import_subscribers
from crm.merge import merge_subscribers
from crm.models import Address, Subscriber, SubscriberMerge, SubscriberPhone
from crm.phones import phone_kind
from crm.services import add_address, create_subscriber, find_by_phone, refresh_search_key, set_barred

TAJRISH_GAZETTEER = (35.804501, 51.433643)  # data/tehran/places.csv


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def run(content: str, **options):
    return import_subscribers(io.StringIO(content, newline=None), "IR", **options)


def outcomes(report) -> list[tuple[int, str]]:
    return [(entry.line, entry.outcome) for entry in report.entries]


def entry(report, line: int):
    return next(e for e in report.entries if e.line == line)


def messy_file() -> str:
    """What an old office system exports: BOM, ';', CRLF, Persian digits, one person in many spellings."""
    lines = [
        "\ufeffنام;تلفن;موبایل;نشانی;عنوان;عرض;طول;توضیحات",
        "علي رضايي;۰۹۱۲ ۳۴۵ ۶۷۸۹;;تجریش، خیابان شهرداری;خانه;۳۵٫۸۰۴۵;۵۱٫۴۳۳۶;مشتری قدیمی",  # 2
        "علی رضایی;+98 912 345 6789;;میدان آزادی;کار;35.6997;51.3380;",  # 3: same number
        "علی رضایی ;00989123456789;9123456789 / 021 2271 0000;ولنجک، کوچه دوم;;35.8003;51.4003;",  # 4: same again
        "بد;12345;abc;;;;;",  # 5: no valid number
        'سارا;09351112233;;;;;;"خط اول\nخط دوم"',  # 6 and 7: a notes cell over two lines
        "ترکیب;09351112233;0912-345-6789;;;;;",  # 8: Sara's number and Ali's
        "اصفهانی;09361234567;;میدان نقش جهان;;32.6575;51.6778;",  # 9: Isfahan, far outside Tehran
        "تجریشی;09371234567;;تجریش;;;;",  # 10: no coordinates, the gazetteer knows the place
        "ناپیدا;09381234567;;کوچه بی‌نام ۱۲;خانه;;;",  # 11: no coordinates, nobody knows the place
        "پرحرف;09391234567;;;;;;" + "x" * 10_000,  # 12: notes far over 2,000 characters
        "<script>alert(1)</script> <b>Ali</b>;09121110000 ,  0912 bad;;;;;;",  # 13: HTML is only text
    ]
    return "\r\n".join(lines) + "\r\n"


@pytest.fixture
def messy(app, tehran_zones):
    report = run(messy_file())
    db.session.commit()
    return report


def test_messy_file_outcomes_and_counts(messy):
    assert messy.delimiter == ";"
    assert outcomes(messy) == [
        (2, "imported"),
        (3, "merged"),
        (4, "merged"),
        (5, "rejected"),
        (6, "imported"),
        (8, "rejected"),
        (9, "rejected"),
        (10, "imported"),
        (11, "imported"),
        (12, "rejected"),
        (13, "imported"),
    ]
    # Warnings: the gazetteer pin (10), the address kept in notes (11), the bad number (13).
    assert messy.counts() == {"rows": 11, "imported": 5, "merged": 2, "rejected": 4, "warnings": 3}
    assert count(Subscriber) == 5


def test_one_number_in_four_spellings_is_one_subscriber_with_every_address(messy, tehran_zones):
    ali = find_by_phone("09123456789", "IR")
    assert entry(messy, 2).subscriber_id == entry(messy, 3).subscriber_id == entry(messy, 4).subscriber_id == ali.id
    assert ali.name == "علي رضايي"  # as typed (Arabic yeh), trimmed; the other spellings matched it
    assert [p.e164 for p in ali.phones] == ["+989123456789", "+982122710000"]
    assert [(a.label, a.text) for a in ali.addresses] == [
        ("خانه", "تجریش، خیابان شهرداری"),
        ("کار", "میدان آزادی"),
        ("نشانی", "ولنجک، کوچه دوم"),
    ]
    assert (ali.addresses[0].lat, ali.addresses[0].lon) == (35.8045, 51.4336)  # Persian digits and ٫
    assert ali.addresses[0].zone_id == tehran_zones["D01"].id
    assert ali.addresses[1].zone_id == tehran_zones["D09"].id
    assert ali.notes == "مشتری قدیمی"
    assert entry(messy, 3).warnings == entry(messy, 4).warnings == []  # ي/ی spellings of one name


def test_rejections_say_why(messy):
    assert "'12345'" in entry(messy, 5).reason and "'abc'" in entry(messy, 5).reason
    sara = find_by_phone("09351112233", "IR")
    mixed = entry(messy, 8).reason  # both were created by this file: named by their lines
    assert "different subscribers" in mixed
    assert "+989351112233 → the subscriber of line 6" in mixed and "+989123456789 → the subscriber of line 2" in mixed
    assert "outside the service area" in entry(messy, 9).reason
    assert "notes is 10000 characters long (at most 2000)" in entry(messy, 12).reason
    for phone in ("+989361234567", "+989391234567"):  # nothing of a rejected row is stored
        assert db.session.scalar(select(SubscriberPhone).where(SubscriberPhone.e164 == phone)) is None
    assert sorted(p.e164 for p in sara.phones) == ["+989351112233"]
    assert sara.notes == "خط اول\nخط دوم"


def test_missing_coordinates_gazetteer_hit_or_notes(messy, tehran_zones):
    placed = find_by_phone("09371234567", "IR")
    assert [(a.text, a.lat, a.lon) for a in placed.addresses] == [("تجریش", *TAJRISH_GAZETTEER)]
    assert placed.addresses[0].zone_id == tehran_zones["D01"].id
    assert "gazetteer" in entry(messy, 10).warnings[0]

    unplaced = find_by_phone("09381234567", "IR")
    assert unplaced.addresses == []
    assert "کوچه بی‌نام ۱۲" in unplaced.notes
    assert entry(messy, 11).warnings == ["address kept in notes, needs a pin"]


def test_html_in_a_name_is_stored_as_text_and_good_numbers_survive_bad_ones(messy):
    person = find_by_phone("09121110000", "IR")
    assert person.name == "<script>alert(1)</script> <b>Ali</b>"
    assert [p.e164 for p in person.phones] == ["+989121110000"]
    assert entry(messy, 13).warnings == ["not phone numbers, left out: '0912 bad'"]


def test_search_key_and_kinds_are_what_the_subscriber_book_computes(messy):
    for subscriber in db.session.scalars(select(Subscriber)):
        stored = subscriber.search_key
        refresh_search_key(subscriber)
        assert subscriber.search_key == stored
    kinds = {p.e164: p.kind for p in db.session.scalars(select(SubscriberPhone))}
    assert kinds == {e164: phone_kind(e164) for e164 in kinds}
    assert set(kinds.values()) == {"mobile", "landline"}


def test_report_as_csv(messy):
    rows = list(csv.reader(io.StringIO(messy.as_csv())))
    assert rows[0] == ["line", "outcome", "subscriber_id", "reason"]
    assert len(rows) == 12
    by_line = {row[0]: row for row in rows[1:]}
    assert by_line["5"][1:3] == ["rejected", ""] and "12345" in by_line["5"][3]
    assert by_line["11"][3] == "address kept in notes, needs a pin"
    assert by_line["3"][2] == str(find_by_phone("09123456789", "IR").id)


def test_rows_merge_into_subscribers_already_in_the_book(app, tehran_zones):
    maryam = create_subscriber("مریم احمدی", ["09125550000"], "IR")
    reza = create_subscriber("رضا کریمی", ["09355550000"], "IR")
    db.session.commit()
    report = run(
        "name,phone,address,lat,lon\n"
        "Maryam A.,0912 555 0000 ; 0919 555 0000,میدان ونک,35.7575,51.4097\n"
        ",09125550000,,,\n"  # no name, but a known number: fine
        "Both,09125550000 / 09355550000,,,\n"
        ",09015550000,,,\n"  # no name and nobody's number
    )
    db.session.commit()
    assert outcomes(report) == [(2, "merged"), (3, "merged"), (4, "rejected"), (5, "rejected")]
    assert entry(report, 2).subscriber_id == maryam.id
    assert "differs from" in entry(report, 2).warnings[0]
    assert maryam.name == "مریم احمدی"
    assert [p.e164 for p in maryam.phones] == ["+989125550000", "+989195550000"]
    assert [a.text for a in maryam.addresses] == ["میدان ونک"]
    assert f"subscriber {maryam.id}" in entry(report, 4).reason and f"subscriber {reza.id}" in entry(report, 4).reason
    assert "no name" in entry(report, 5).reason
    assert "ونک" in maryam.search_key


def test_importing_the_same_file_again_adds_nothing(messy):
    before = (count(Subscriber), count(SubscriberPhone), count(Address))
    notes = {s.id: s.notes for s in db.session.scalars(select(Subscriber))}
    again = run(messy_file())
    db.session.commit()
    assert before == (count(Subscriber), count(SubscriberPhone), count(Address))
    assert notes == {s.id: s.notes for s in db.session.scalars(select(Subscriber))}
    assert again.imported == 0 and again.merged == 7


def test_chunks_see_the_subscribers_of_earlier_chunks(app, tehran_zones):
    content = "name,phone\nA,09121000001\nB,09121000002\nA again,09121000001 / 09121000009\n"
    report = run(content, chunk_size=2, commit_chunks=True)
    db.session.commit()
    assert outcomes(report) == [(2, "imported"), (3, "imported"), (4, "merged")]
    assert [p.e164 for p in find_by_phone("09121000009", "IR").phones] == ["+989121000001", "+989121000009"]


@pytest.fixture
def address_trap(app):
    """A database that refuses one address text, so a row fails after its subscriber and number are inserted."""
    db.session.execute(
        text(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON addresses WHEN NEW.text = 'BOOM' "
            "BEGIN SELECT RAISE(ABORT, 'forced failure'); END"
        )
    )
    db.session.commit()


def test_a_row_refused_by_the_database_leaves_nothing_behind(app, tehran_zones, address_trap):
    old = create_subscriber("Old", ["09121239999"], "IR", notes="kept")
    db.session.commit()
    report = run(
        "name,phone,address,lat,lon,notes\n"
        "Ava,09121230001,Home,35.7575,51.4097,\n"  # 2
        "Bahar,09121230002,BOOM,35.7575,51.4097,\n"  # 3: new subscriber, refused at the address
        "Ava,09121230001 09121230003,BOOM,35.7575,51.4097,lost\n"  # 4: merge, refused at the address
        "Ava,09121230001;09121230004,Work,35.70,51.40,\n"  # 5: merge into Ava after the failure
        "Old,09121239999/09121230006,BOOM,35.70,51.40,lost\n"  # 6: merge into the book, refused
        "Old,09121239999/09121230007,Fine,35.70,51.40,added\n"  # 7
        "Dara,09121230005,,,,\n"  # 8
    )
    db.session.commit()
    assert outcomes(report) == [
        (2, "imported"),
        (3, "rejected"),
        (4, "rejected"),
        (5, "merged"),
        (6, "rejected"),
        (7, "merged"),
        (8, "imported"),
    ]
    assert "forced failure" in entry(report, 3).reason
    stored = set(db.session.scalars(select(SubscriberPhone.e164)))
    assert stored == {"+989121239999", "+989121230001", "+989121230004", "+989121230007", "+989121230005"}
    assert db.session.scalar(select(Subscriber).where(Subscriber.name == "Bahar")) is None
    ava = find_by_phone("09121230001", "IR")
    assert [a.text for a in ava.addresses] == ["Home", "Work"]
    assert ava.notes == ""
    db.session.refresh(old)
    assert [a.text for a in old.addresses] == ["Fine"]
    assert old.notes == "kept\nadded"
    assert "BOOM" not in old.search_key and "09121230006" not in old.search_key
    assert count(Subscriber) == 3


def test_the_caller_commits_or_rolls_back_the_whole_import(app, tehran_zones):
    create_subscriber("مریم", ["09125550000"], "IR")
    db.session.commit()
    report = run(messy_file() + "Maryam;09125550000;;;;;;more\r\n", chunk_size=2)
    assert report.imported == 5 and count(Subscriber) == 6
    db.session.rollback()  # no SAVEPOINT of the import may have committed on its own
    assert (count(Subscriber), count(SubscriberPhone), count(Address)) == (1, 1, 0)
    assert db.session.scalar(select(Subscriber.notes)) == ""


def test_dry_run_changes_nothing_and_reports_the_same(app, tehran_zones):
    maryam = create_subscriber("مریم", ["09125550000"], "IR")
    db.session.commit()
    content = messy_file() + "Maryam;09125550000;;میدان ونک;;35.7575;51.4097;یادداشت تازه\r\n"
    dry = run(content, dry_run=True, chunk_size=3, commit_chunks=True)
    db.session.commit()  # even a caller that commits after a dry run saves nothing
    assert (count(Subscriber), count(SubscriberPhone), count(Address)) == (1, 1, 0)
    assert db.session.get(Subscriber, maryam.id).notes == ""
    assert dry.dry_run

    real = run(content)
    db.session.commit()
    assert [(e.line, e.outcome, e.subscriber_id, e.reason, e.warnings) for e in dry.entries] == [
        (e.line, e.outcome, e.subscriber_id, e.reason, e.warnings) for e in real.entries
    ]
    assert dry.counts() == real.counts()
    assert count(Subscriber) == 6


def snapshot() -> list[dict]:
    """Every live subscriber as the office sees it, without ids."""
    subscribers = db.session.scalars(
        select(Subscriber).where(Subscriber.merged_into_id.is_(None)).order_by(Subscriber.id)
    )
    return [
        {
            "name": s.name,
            "language": s.language,
            "notes": s.notes,
            "tier": s.tier,
            "barred": (s.barred, s.barred_reason),
            "sms_opt_out": s.sms_opt_out,
            "search_key": s.search_key,
            "phones": [(p.e164, p.kind) for p in s.phones],
            "addresses": [
                (a.label, a.text, a.unit, a.landmark, a.driver_notes, a.lat, a.lon, a.zone_id) for a in s.addresses
            ],
        }
        for s in subscribers
    ]


def without_ids(exported: str) -> list[list[str]]:
    return [row[1:] for row in csv.reader(io.StringIO(exported))]


def test_export_reimports_into_an_empty_book_as_the_same_book(messy, tehran_zones):
    gold = create_subscriber('=HYPERLINK("http://x")', ["09120000001", "02188776655"], "IR", language="en")
    gold.tier, gold.sms_opt_out = "gold", True
    set_barred(gold, True, "no-show; twice")
    add_address(gold, label="-home", text="ونک", lat=35.7575, lon=51.4097, unit="4", landmark="بانک", driver_notes="a")
    twin = create_subscriber("Twin", ["09120000002"], "IR")
    db.session.flush()
    merge_subscribers(gold, twin)
    db.session.commit()
    before = snapshot()
    assert len(before) == 6  # five from the messy file, the merged twin left out

    first = io.StringIO()
    assert export_subscribers(first) == 6
    exported = first.getvalue()
    assert "'=HYPERLINK" in exported  # a spreadsheet would run the bare formula

    db.session.execute(delete(Address))
    db.session.execute(delete(SubscriberPhone))
    db.session.execute(delete(SubscriberMerge))
    db.session.execute(update(Subscriber).values(merged_into_id=None))
    db.session.execute(delete(Subscriber))
    db.session.commit()

    report = run(exported)
    db.session.commit()
    rows = len(list(csv.reader(io.StringIO(exported)))) - 1  # one per address (Ali has three)
    assert report.counts() == {"rows": rows, "imported": 6, "merged": rows - 6, "rejected": 0, "warnings": 0}
    assert rows == 8
    assert snapshot() == before
    again = io.StringIO()
    export_subscribers(again)
    assert without_ids(again.getvalue()) == without_ids(exported)


def test_header_names_in_english_or_persian_tabs_and_extra_columns(app, tehran_zones):
    report = run(
        " First Name \tLast Name\tPHONE 1\tPhone2\tLatitude\tLNG\tAddress\tColour\n"
        "Sara\tKarimi\t09121000001\t021-2271-0000\t35.7575\t51.4097\tVanak\tblue\n"
    )
    db.session.commit()
    assert report.delimiter == "\t" and report.ignored_columns == ["Colour"]
    sara = find_by_phone("02122710000", "IR")
    assert sara.name == "Sara Karimi"
    assert len(sara.phones) == 2 and sara.addresses[0].text == "Vanak"


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "empty"),
        ("name,address\nAli,Tajrish\n", "no phone column"),
        ("tel;notes\n0912;x\n", "no name"),
        ("name,name,phone\n", "two columns for name"),
    ],
)
def test_files_that_cannot_be_imported(app, content, message):
    with pytest.raises(ImportFileError, match=message):
        run(content)


@pytest.mark.parametrize(
    "lat,lon,outcome,reason",
    [
        ("35,7575", "51,4097", "imported", ""),  # decimal commas
        ("51.4097", "35.7575", "rejected", "look swapped"),
        ("35.7575", "", "rejected", "latitude given without longitude"),
        ("95", "51.4", "rejected", "between -90 and 90"),
        ("north", "51.4", "rejected", "must be a number"),
    ],
)
def test_coordinates(app, tehran_zones, lat, lon, outcome, reason):
    report = run(f'name;phone;address;lat;lon\nAli;09121000001;Vanak;"{lat}";"{lon}"\n')
    assert report.entries[0].outcome == outcome
    assert reason in report.entries[0].reason


def test_long_texts_are_refused(app, tehran_zones):
    report = run(f"name,phone,address,label\n{'n' * 201},09121000001,,\nAli,09121000002,{'a' * 501},home\n")
    assert [e.reason for e in report.entries] == [
        "name is 201 characters long (at most 200)",
        "address is 501 characters long (at most 500)",
    ]


# -- the command line --


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(subscribers_cli, [str(a) for a in args])


def test_cli_import_with_report_and_export(cli, tehran_zones, tmp_path):
    source = tmp_path / "old-office.csv"
    source.write_text("نام,تلفن\nعلی,09121000001\nبی‌شماره,12\nعلی,+989121000001\n", encoding="utf-8-sig")
    report_path = tmp_path / "report.csv"

    dry = cli("import", source, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "rows 3, imported 1, merged 1, rejected 1, warnings 0 (dry run: nothing saved)" in dry.output
    assert "line 3: rejected: no valid phone number ('12')" in dry.output
    assert count(Subscriber) == 0

    result = cli("import", source, "--report", report_path)
    assert result.exit_code == 0, result.output
    assert "rows 3, imported 1, merged 1, rejected 1, warnings 0" in result.output
    db.session.rollback()  # read what the command committed
    assert count(Subscriber) == 1
    lines = report_path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "line,outcome,subscriber_id,reason"
    assert lines[2].startswith("3,rejected,,no valid phone number")

    target = tmp_path / "book.csv"
    exported = cli("export", target)
    assert exported.exit_code == 0 and "exported 1 subscribers" in exported.output
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "+989121000001" in target.read_text(encoding="utf-8-sig")
    to_stdout = cli("export", "-")
    assert to_stdout.exit_code == 0
    assert to_stdout.stdout.startswith("id,name,phones,") and "exported" not in to_stdout.stdout
    assert len(list(csv.reader(io.StringIO(to_stdout.stdout)))) == 2
    assert "exported 1 subscribers" in to_stdout.stderr


def test_cli_refuses_unreadable_files_before_saving_anything(cli, app, tmp_path):
    missing = cli("import", tmp_path / "nope.csv")
    assert missing.exit_code != 0 and "cannot read" in missing.output

    good = tmp_path / "good.csv"
    good.write_text("name,phone\nAli,09121000001\n", encoding="utf-8")
    region = cli("import", good, "--region", "XX")
    assert region.exit_code != 0 and "unknown region" in region.output

    no_phone = tmp_path / "no-phone.csv"
    no_phone.write_text("name,address\nAli,Tajrish\n", encoding="utf-8")
    refused = cli("import", no_phone)
    assert refused.exit_code != 0 and "no phone column" in refused.output

    broken = tmp_path / "broken.csv"  # more than a chunk of good rows, then a byte that is no UTF-8
    good = "".join(f"Ali {i},0912100{i:04d}\n" for i in range(3000))
    broken.write_bytes(f"name,phone\n{good}".encode() + b"Bad,0912\xff\n")
    result = cli("import", broken)
    assert result.exit_code != 0 and "--encoding" in result.output
    db.session.rollback()
    assert count(Subscriber) == 0


def test_cli_reads_windows_arabic_files_with_encoding(cli, app, tmp_path):
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("نام,تلفن\r\nعلي,09121000001\r\n".encode("cp1256"))  # Windows-1256 has Arabic yeh
    assert cli("import", legacy).exit_code != 0
    result = cli("import", legacy, "--encoding", "cp1256")
    assert result.exit_code == 0, result.output
    db.session.rollback()
    assert find_by_phone("09121000001", "IR").name == "علي"
