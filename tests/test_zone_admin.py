"""Zones edited as polygons: the service's checks, the admin pages through the real form, the zones feed,
every process seeing an edit, and an admin dragging a vertex in headless Chromium."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import pytest
from playwright.sync_api import expect
from shapely.geometry import mapping, shape
from sqlalchemy import create_engine, func, select, text

from core.extensions import db
from geo.models import Zone
from geo.zone_admin import ZoneError, remove_zone, save_zone, zone_references, zones_geojson
from geo.zones import zone_for_point
from tests.conftest import PASSWORD, app_settings, csrf_token_of

TAJRISH = (35.804501, 51.433643)  # in district 1
ISFAHAN = (32.65, 51.67)


def square(lat: float, lon: float, half: float = 0.005) -> dict:
    """A GeoJSON square of side 2 × ``half`` degrees around a point."""
    west, east, south, north = (round(value, 7) for value in (lon - half, lon + half, lat - half, lat + half))
    ring = [[west, south], [east, south], [east, north], [west, north]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def inside(zone: Zone) -> tuple[float, float]:
    """A (lat, lon) point inside the zone."""
    point = shape(zone.boundary).representative_point()
    return point.y, point.x


def zone_count() -> int:
    return db.session.scalar(select(func.count(Zone.id)))


@pytest.fixture
def english(app):
    """A request context in English: the service's messages are lazy translations, rendered in the page's language."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def refused(field: str, match: str, *args, **kwargs) -> ZoneError:
    """Call save_zone, expecting a ZoneError about ``field`` whose message contains ``match``."""
    with pytest.raises(ZoneError) as caught:
        save_zone(*args, **kwargs)
    assert match in str(caught.value), str(caught.value)
    assert caught.value.field == field
    db.session.rollback()
    return caught.value


# --- the service ---------------------------------------------------------------------------------------


def test_a_zone_is_saved_tidied_and_found_by_point(app, english):
    noisy = square(35.7, 51.4)
    noisy["coordinates"][0][1] = [noisy["coordinates"][0][1][0] + 1e-9, noisy["coordinates"][0][1][1] - 1e-9]
    as_text = json.dumps({"type": "Feature", "properties": {}, "geometry": noisy})
    zone = save_zone(" t-1 ", " ناحیه  آزمایشی ", "Test zone", as_text)
    db.session.commit()
    assert (zone.code, zone.name_fa, zone.name_en, zone.active) == ("T-1", "ناحیه آزمایشی", "Test zone", True)
    assert zone.boundary == square(35.7, 51.4)  # the Feature unwrapped, rounded to 7 decimals
    assert zone_for_point(35.7, 51.4).code == "T-1"
    # Altitudes are dropped; a MultiPolygon is kept as one.
    parts = {
        "type": "MultiPolygon",
        "coordinates": [square(35.8, 51.4)["coordinates"], square(35.9, 51.4)["coordinates"]],
    }
    parts["coordinates"][0][0] = [[*position, 1200] for position in parts["coordinates"][0][0]]
    other = save_zone("T-2", "دو", "Two", parts)
    db.session.commit()
    assert other.boundary["type"] == "MultiPolygon"
    assert all(len(position) == 2 for position in other.boundary["coordinates"][0][0])
    assert zone_for_point(35.9, 51.4).code == "T-2"


def test_a_self_intersecting_boundary_is_refused_with_where_it_crosses(app, english):
    bow_tie = {
        "type": "Polygon",
        "coordinates": [[[51.40, 35.70], [51.42, 35.72], [51.42, 35.70], [51.40, 35.72], [51.40, 35.70]]],
    }
    error = refused("boundary", "the border crosses itself", "T1", "الف", "A", bow_tie)
    assert "Self-intersection" in str(error)  # shapely's explain_validity, with the place
    assert "35.71000, 51.41000" in str(error)
    assert zone_count() == 0


@pytest.mark.parametrize(
    ("boundary", "message"),
    [
        ({"type": "Point", "coordinates": [51.4, 35.7]}, "must be a GeoJSON Polygon or MultiPolygon, not Point"),
        ({"type": "LineString", "coordinates": [[51.4, 35.7], [51.5, 35.8]]}, "not LineString"),
        ({"type": "FeatureCollection", "features": []}, "exactly one feature"),
        ([1, 2, 3], "not list"),
        ("{not json", "not valid JSON (line 1, column 2)"),
        ("   ", "Draw the zone on the map"),
        ({"type": "Polygon", "coordinates": [[[51.4, 35.7], [51.5, 35.7], [51.4, 35.7]]]}, "at least four positions"),
        (
            {"type": "Polygon", "coordinates": [[[51.4, 35.7], [51.5, 35.7], [51.5, 35.8], [51.4, 35.8]]]},
            "must end where",
        ),
        ({"type": "Polygon", "coordinates": [[[200, 35.7], [201, 35.7], [201, 35.8], [200, 35.7]]]}, "Longitude 200.0"),
        ({"type": "Polygon", "coordinates": [[[51.4, 95], [51.5, 95], [51.5, 96], [51.4, 95]]]}, "Latitude 95.0"),
        ({"type": "Polygon", "coordinates": [[[51.4, "35.7"], [51.5, 35.7], [51.5, 35.8], [51.4, 35.7]]]}, "numbers"),
        ({"type": "Polygon", "coordinates": [[[51.4, True], [51.5, 35.7], [51.5, 35.8], [51.4, 35.7]]]}, "numbers"),
        ({"type": "Polygon", "coordinates": []}, "has no rings"),
        (square(35.7, 51.4, half=0.0002), "too small to be a zone"),
        (square(35.7, 51.4, half=5), "more than any zone should"),
    ],
)
def test_a_boundary_of_the_wrong_shape_or_place_is_refused(app, english, boundary, message):
    refused("boundary", message, "T1", "الف", "A", boundary)
    assert zone_count() == 0


def test_codes_are_checked_and_unique(app, english, tehran_zones):
    free = square(35.60, 51.10)  # south-west of the city, inside the service area, in no district
    refused("code", "Another zone already has the code D01", "d01", "الف", "A", free)
    refused("code", "up to 32 letters", "D 99", "الف", "A", free)
    refused("code", "up to 32 letters", "X" * 33, "الف", "A", free)
    refused("name_en", "needs a name", "W1", "الف", "  ", free)
    refused("name_fa", "needs a name", "W1", "", "A", free)
    assert zone_count() == 23
    assert save_zone("W۱", "غرب", "West", free).code == "W1"  # Persian digits as typed


def test_overlaps_are_refused_naming_the_zones_and_shared_borders_pass(app, english, tehran_zones):
    d06, d07 = tehran_zones["D06"], tehran_zones["D07"]
    border = shape(d06.boundary).intersection(shape(d07.boundary)).representative_point()
    error = refused("boundary", "overlaps D06, D07", "NEW", "تازه", "New", square(border.y, border.x, 0.002))
    assert "exactly one zone" in str(error)

    # A district redrawn a metre wider than before only slivers into its neighbours: within the tolerance.
    d10 = tehran_zones["D10"]
    wider = mapping(shape(d10.boundary).buffer(0.00001))
    save_zone("D10", d10.name_fa, d10.name_en, json.loads(json.dumps(wider)), zone_id=d10.id)
    db.session.commit()
    # Three hundred metres wider is a real overlap; the neighbours are named, the zone is not changed.
    before = db.session.get(Zone, d10.id).boundary
    error = refused(
        "boundary", "overlaps", "D10", d10.name_fa, d10.name_en, mapping(shape(before).buffer(0.003)), zone_id=d10.id
    )
    assert "D10" not in str(error).split("overlaps", 1)[1].split(":", 1)[0]
    assert db.session.get(Zone, d10.id).boundary == before

    # An inactive zone may overlap (it takes no points); switching it on is then refused.
    draft = save_zone("DRAFT", "پیش‌نویس", "Draft", square(*TAJRISH, 0.002), active=False)
    db.session.commit()
    refused("boundary", "overlaps D01", "DRAFT", "پیش‌نویس", "Draft", draft.boundary, active=True, zone_id=draft.id)
    assert db.session.get(Zone, draft.id).active is False


def test_a_zone_outside_the_service_area_is_refused(app, english, tehran_zones):
    refused("boundary", "outside the service area (60 km)", "ISF", "اصفهان", "Isfahan", square(*ISFAHAN))
    # Tehran with latitude and longitude swapped lands in Kazakhstan: the message says what happened.
    lat, lon = TAJRISH
    swapped = square(lon, lat)  # as (lat, lon) it is (51.43, 35.80): a valid but wrong place
    refused("boundary", "look swapped", "SW", "الف", "A", swapped)
    assert zone_count() == 23


def test_a_referenced_zone_is_deactivated_not_deleted(app, english, tehran_zones):
    from crm.services import add_address, create_subscriber

    subscriber = create_subscriber("مسافر", ["09121234567"], "IR")
    add_address(subscriber, label="خانه", text="تجریش", lat=TAJRISH[0], lon=TAJRISH[1])
    db.session.commit()
    d01, d02 = tehran_zones["D01"], tehran_zones["D02"]
    assert zone_references(d01.id) == {"addresses": 1}
    assert zone_references(d02.id) == {}

    kept = remove_zone(d01.id)
    db.session.commit()
    assert (kept.deleted, kept.references) == (False, {"addresses": 1})
    assert kept.describe_references() == "addresses: 1"
    assert db.session.get(Zone, d01.id).active is False
    assert zone_for_point(*TAJRISH) is None

    gone = remove_zone(d02.id)
    db.session.commit()
    assert gone.deleted
    assert db.session.get(Zone, d02.id) is None
    assert zone_count() == 22


def test_an_edit_reaches_the_zone_index_of_another_process(app, redis_url, tmp_path, tehran_zones):
    """Two app instances on one database stand for two processes: each keeps its own zone index."""
    from core.app import create_app

    d01 = tehran_zones["D01"]
    assert zone_for_point(*TAJRISH).code == "D01"  # this process's index is built now, with D01 as it was

    other = create_app(app_settings(app.config["SQLALCHEMY_DATABASE_URI"], redis_url, tmp_path))
    with other.app_context(), other.test_request_context(headers={"Accept-Language": "en"}):
        # D01 redrawn in place (same id, same row count): the database's version stamp cannot see it.
        moved = save_zone("D01", d01.name_fa, d01.name_en, square(35.60, 51.10), zone_id=d01.id)
        db.session.commit()
        assert moved.boundary == square(35.60, 51.10)
        db.session.remove()
        db.engine.dispose()

    assert zone_for_point(*TAJRISH) is None  # without a restart and without waiting for the cache age
    assert zone_for_point(35.60, 51.10).code == "D01"


def test_zones_geojson_is_a_feature_collection(app, english, tehran_zones):
    remove_zone(tehran_zones["IKA"].id)  # nothing refers to it: deleted
    tehran_zones["D22"].active = False
    db.session.commit()
    active = zones_geojson()
    assert active["type"] == "FeatureCollection"
    assert [f["properties"]["code"] for f in active["features"]] == [f"D{n:02d}" for n in range(1, 22)]
    first = active["features"][0]
    assert first["geometry"] == tehran_zones["D01"].boundary
    assert first["properties"]["name"] == tehran_zones["D01"].name_en
    assert zones_geojson(locale="fa")["features"][0]["properties"]["name"] == tehran_zones["D01"].name_fa
    every = zones_geojson(include_inactive=True)["features"]
    assert [f["properties"]["active"] for f in every][-1] is False


# --- the pages -----------------------------------------------------------------------------------------


def form_of(client, path: str) -> tuple[str, str]:
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html, csrf_token_of(html)


def test_the_list_shows_every_zone_and_its_map(logged_in, tehran_zones):
    client = logged_in("admin")
    tehran_zones["D22"].active = False
    db.session.commit()
    html = client.get("/admin/zones").get_data(as_text=True)
    assert 'href="/admin/zones"' in html.split('<nav class="main-nav"', 1)[1].split("</nav>", 1)[0]
    for code in ("D01", "D22", "IKA"):
        assert f'data-zone-code="{code}"' in html
    assert html.split('data-zone-code="D22"', 1)[1].split("</tr>", 1)[0].count("inactive") == 1
    assert 'data-zones="/admin/zones.geojson?inactive=1"' in html
    assert "/static/js/zone-editor.js" in html and "<script>" not in html


def test_an_admin_creates_a_zone_through_the_form(logged_in, tehran_zones):
    client = logged_in("admin")
    html, token = form_of(client, "/admin/zones/new")
    assert "/static/vendor/leaflet-geoman/leaflet-geoman.min.js" in html
    response = client.post(
        "/admin/zones/new",
        data={
            "csrf_token": token,
            "code": "west-1",
            "name_fa": "غرب",
            "name_en": "West",
            "active": "y",
            "boundary": json.dumps(square(35.60, 51.10)),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/admin/zones"
    assert "Zone WEST-1 saved." in client.get("/admin/zones").get_data(as_text=True)
    zone = db.session.scalar(select(Zone).where(Zone.code == "WEST-1"))
    assert zone.active and zone.boundary == square(35.60, 51.10)
    assert zone_for_point(35.60, 51.10).code == "WEST-1"


def test_a_bad_zone_form_shows_the_reason_and_changes_nothing(logged_in, tehran_zones):
    client = logged_in("admin")
    d05 = tehran_zones["D05"]
    before = (d05.code, d05.name_en, d05.boundary, d05.active)
    path = f"/admin/zones/{d05.id}"
    html, token = form_of(client, path)
    shown = html.split('name="boundary"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    assert json.loads(unescape(shown)) == d05.boundary
    base = {"csrf_token": token, "code": "D05", "name_fa": d05.name_fa, "name_en": "Renamed", "active": "y"}

    over = square(*inside(tehran_zones["D02"]), 0.002)
    response = client.post(path, data={**base, "boundary": json.dumps(over)})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The zone overlaps D02" in page and 'aria-invalid="true"' in page

    response = client.post(path, data={**base, "boundary": '{"type": "Point", "coordinates": [51.4, 35.7]}'})
    assert response.status_code == 400 and "not Point" in response.get_data(as_text=True)

    response = client.post(path, data={**base, "code": "D06", "boundary": json.dumps(d05.boundary)})
    assert response.status_code == 400 and "Another zone already has the code D06" in response.get_data(as_text=True)

    response = client.post(path, data={**base, "boundary": ""})
    assert response.status_code == 400

    without_token = {key: value for key, value in base.items() if key != "csrf_token"}
    response = client.post(path, data={**without_token, "boundary": json.dumps(d05.boundary)})
    assert response.status_code == 400

    db.session.expire_all()
    zone = db.session.get(Zone, d05.id)
    assert (zone.code, zone.name_en, zone.boundary, zone.active) == before


def test_an_admin_edits_and_removes_zones_and_the_index_follows(logged_in, tehran_zones):
    client = logged_in("admin")
    d01 = tehran_zones["D01"]
    assert zone_for_point(*TAJRISH).code == "D01"
    path = f"/admin/zones/{d01.id}"
    _, token = form_of(client, path)
    smaller = square(*inside(d01), 0.001)
    response = client.post(
        path,
        data={
            "csrf_token": token,
            "code": "D01",
            "name_fa": d01.name_fa,
            "name_en": "North",
            "boundary": json.dumps(smaller),
        },
    )  # no "active": the box was unticked
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    zone = db.session.get(Zone, d01.id)
    assert (zone.name_en, zone.active, zone.boundary) == ("North", False, smaller)
    assert zone_for_point(*TAJRISH) is None

    ika = tehran_zones["IKA"]
    _, token = form_of(client, f"/admin/zones/{ika.id}")
    response = client.post(f"/admin/zones/{ika.id}/remove", data={"csrf_token": token})
    assert response.status_code == 302
    assert "Zone IKA deleted." in client.get("/admin/zones").get_data(as_text=True)
    assert db.session.scalar(select(Zone.id).where(Zone.id == ika.id)) is None
    assert client.post(f"/admin/zones/{ika.id}/remove", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/admin/zones/{ika.id}").status_code == 404

    d02 = tehran_zones["D02"]
    response = client.post(f"/admin/zones/{d02.id}/remove", data={})  # no CSRF token
    assert response.status_code == 400
    assert db.session.get(Zone, d02.id) is not None


def test_zone_pages_work_in_persian(logged_in, client, tehran_zones):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fa"
    logged_in("admin")
    for path in ("/admin/zones", "/admin/zones/new", f"/admin/zones/{tehran_zones['D03'].id}"):
        response = client.get(path)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert '<html lang="fa" dir="rtl">' in html
        assert 'data-lang="fa"' in html or path == "/admin/zones"
    html, token = form_of(client, "/admin/zones/new")
    response = client.post(
        "/admin/zones/new", data={"csrf_token": token, "code": "X", "name_fa": "x", "name_en": "x", "boundary": "[]"}
    )
    assert response.status_code == 400  # the message is in Persian once translated: its field is marked
    assert 'aria-invalid="true"' in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["agent", "dispatcher", "supervisor"])
def test_the_zones_feed_serves_every_staff_role_but_only_admins_the_pages(logged_in, tehran_zones, role):
    tehran_zones["IKA"].active = False
    db.session.commit()
    client = logged_in(role)
    feed = client.get("/admin/zones.geojson?inactive=1")  # asking for inactive zones is an admin's privilege
    assert feed.status_code == 200
    codes = [feature["properties"]["code"] for feature in feed.get_json()["features"]]
    assert codes == [f"D{n:02d}" for n in range(1, 23)]
    for path in ("/admin/zones", "/admin/zones/new", f"/admin/zones/{tehran_zones['D01'].id}"):
        assert client.get(path).status_code == 403


def test_the_zones_feed_needs_a_login_and_shows_admins_inactive_zones(client, logged_in, tehran_zones):
    assert client.get("/admin/zones.geojson").status_code == 302
    tehran_zones["IKA"].active = False
    db.session.commit()
    logged_in("admin")
    assert len(client.get("/admin/zones.geojson").get_json()["features"]) == 22
    assert len(client.get("/admin/zones.geojson?inactive=1").get_json()["features"]) == 23


# --- in the browser ------------------------------------------------------------------------------------


@pytest.mark.browser
def test_an_admin_drags_a_vertex_on_the_map_and_saves(request, browser, redis_url, migrated_sqlite):
    from tests.support.browser import log_in
    from tests.support.live_server import live_server, show_log_on_failure

    with (
        live_server(redis_url, users={"mapper": "admin"}, password=PASSWORD, template_db=migrated_sqlite) as server,
        show_log_on_failure(request.config, server, Path(__file__)),
    ):
        engine = create_engine(server.env["DATABASE_URL"])
        original = square(35.70, 51.40, 0.01)
        with engine.begin() as connection:
            for code, boundary in (("M1", original), ("M2", square(35.70, 51.45, 0.01))):
                connection.execute(
                    text(
                        "INSERT INTO zones (code, name_fa, name_en, boundary, active, created_at) "
                        "VALUES (:code, :fa, :en, :boundary, 1, CURRENT_TIMESTAMP)"
                    ),
                    {"code": code, "fa": f"ناحیه {code}", "en": f"Zone {code}", "boundary": json.dumps(boundary)},
                )
            zone_id = connection.execute(text("SELECT id FROM zones WHERE code = 'M1'")).scalar_one()

        context = browser.new_context(base_url=server.url, locale="fa-IR", viewport={"width": 1366, "height": 900})
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        try:
            log_in(page, "mapper", PASSWORD)
            page.goto(f"/admin/zones/{zone_id}")
            expect(page.locator("html")).to_have_attribute("dir", "rtl")
            expect(page.locator("[data-zone-map]")).to_have_attribute("data-ready", "true")
            textarea = page.locator("#boundary")
            before = textarea.input_value()
            assert json.loads(before) == original
            # The zone opens in edit mode: one handle per vertex (the closing one is the first again).
            vertices = page.locator(".leaflet-marker-pane .marker-icon:not(.marker-icon-middle)")
            expect(vertices).to_have_count(4)
            # The south-west corner, the vertex farthest from the neighbour M2 in the east.
            boxes = [vertices.nth(i).bounding_box() for i in range(4)]
            corner = min(boxes, key=lambda b: b["x"] - b["y"])
            x, y = corner["x"] + corner["width"] / 2, corner["y"] + corner["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x - 40, y + 30, steps=8)
            page.mouse.up()
            expect(textarea).not_to_have_value(before)
            moved = json.loads(textarea.input_value())
            page.locator("[data-zone-form] button[type=submit]").click()
            expect(page).to_have_url(f"{server.url}/admin/zones")
            expect(page.locator(".flash-success")).to_contain_text("M1")
            page.screenshot(path=str(Path(__file__).parent.parent / "test-artifacts" / "zone-editor-fa.png"))
        finally:
            context.close()

        with engine.connect() as connection:
            saved = json.loads(connection.execute(text("SELECT boundary FROM zones WHERE code = 'M1'")).scalar_one())
        engine.dispose()
        assert saved == moved and saved != original
        ring = saved["coordinates"][0]
        west, south = min(p[0] for p in ring), min(p[1] for p in ring)
        assert west < 51.39 - 0.0005 and south < 35.69 - 0.0005  # the corner went south-west
        assert problems == []
