"""The geography engine: points, zones, the offline gazetteer, and geocoding through geopy against a stub."""

from __future__ import annotations

import itertools
import json
import math
import threading

import pytest
from geopy.distance import geodesic

from config import PROJECT_ROOT
from core.extensions import db
from geo import geocoding
from geo.gazetteer import PlaceError, add_place, search_places
from geo.geocoding import find_place, geocode, reverse_geocode
from geo.models import Zone
from geo.points import PointError, check_in_service_area, check_point
from geo.zones import invalidate_zone_cache, km_from_zones, zone_for_point
from tests.support.geocoder_stub import geocoder_stub
from tests.support.servers import free_port

DISTRICTS = json.loads((PROJECT_ROOT / "data/tehran/districts.geojson").read_text(encoding="utf-8"))["features"]
TAJRISH = (35.804501, 51.433643)
IKA = (35.416111, 51.152221)
ISFAHAN = (32.65, 51.67)
MILAD = "برج میلاد"


@pytest.fixture
def zones(app):
    """Tehran's 22 districts as zones D01..D22."""
    for feature in DISTRICTS:
        props = feature["properties"]
        db.session.add(Zone(code=f"D{props['number']:02d}", name_fa=props["name_fa"],
                            name_en=props["name_en"], boundary=feature["geometry"]))  # fmt: skip
    db.session.commit()


@pytest.fixture
def stub(app, zones, redis_client):
    """A geocoder stub the app points at, with no rate-limit delay and an empty Redis cache."""
    with geocoder_stub() as server:
        app.config.update(GEOCODER_URL=server.url, GEOCODER_MIN_DELAY=0, GEOCODER_TIMEOUT=2)
        yield server


def test_check_point_reads_numbers_and_persian_text():
    assert check_point(35.7, 51.4) == (35.7, 51.4)
    assert check_point(" 35.7 ", "51") == (35.7, 51.0)
    assert check_point("۳۵٫۷", "۵۱٫۴") == (35.7, 51.4)  # Persian digits and decimal separator
    assert check_point("٣٥.٧", "−51.4") == (35.7, -51.4)  # Arabic-Indic digits, a typographic minus


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        (math.nan, 51.4, "latitude must be a finite number"),
        ("inf", 51.4, "latitude must be a finite number"),
        (91, 51.4, "latitude must be between -90 and 90"),
        (-90.5, 51.4, "latitude must be between -90 and 90"),
        (35.7, 181, "longitude must be between -180 and 180"),
        ("abc", 51.4, "latitude must be a number"),
        (None, 51.4, "latitude must be a number"),
        (True, 51.4, "latitude must be a number"),
        (35.7, "۵۱,۴", "longitude must be a number"),
    ],
)
def test_check_point_refuses_bad_coordinates(lat, lon, message):
    with pytest.raises(PointError, match=message):
        check_point(lat, lon)


def test_zone_for_point(zones):
    assert zone_for_point(*TAJRISH).code == "D01"
    assert zone_for_point(35.6886266, 51.3271795).code == "D09"  # Mehrabad airport terminals 4 & 6
    # Meydan-e Azadi metro station lies ~120 m on the district 5 side of the 5/9 line in this data.
    assert zone_for_point(35.700802, 51.332492).code == "D05"
    assert zone_for_point(*IKA) is None
    assert zone_for_point(*ISFAHAN) is None


def test_zone_index_follows_changes(zones):
    assert zone_for_point(*TAJRISH).code == "D01"
    district1 = db.session.scalar(db.select(Zone).where(Zone.code == "D01"))
    district1.active = False
    db.session.flush()
    assert zone_for_point(*TAJRISH) is None  # the version stamp saw the switch
    district1.active = True
    db.session.flush()
    assert zone_for_point(*TAJRISH).code == "D01"
    # An edit in place is invisible to the stamp until the editor invalidates the index.
    district1.boundary = {"type": "Polygon", "coordinates": [[[50, 30], [50.1, 30], [50.1, 30.1], [50, 30]]]}
    db.session.flush()
    assert zone_for_point(*TAJRISH).code == "D01"
    invalidate_zone_cache()
    assert zone_for_point(*TAJRISH) is None


def test_service_area(app, zones):
    assert check_in_service_area(*IKA) == IKA  # ~35 km from central Tehran, ~20 km from the districts
    assert check_in_service_area("۳۵٫۸۳۵۵", "۵۰٫۹۹۱۵") == (35.8355, 50.9915)  # Karaj
    with pytest.raises(PointError, match="outside the service area"):
        check_in_service_area(*ISFAHAN)
    # Due west of the westernmost vertex: the nearest zone point is that vertex.
    lon, lat = min((pt for f in DISTRICTS for pt in f["geometry"]["coordinates"][0]), key=lambda pt: pt[0])
    inside = geodesic(kilometers=59).destination((lat, lon), 270)
    outside = geodesic(kilometers=61).destination((lat, lon), 270)
    assert check_in_service_area(inside.latitude, inside.longitude)
    assert km_from_zones(outside.latitude, outside.longitude) == pytest.approx(61, abs=0.2)
    with pytest.raises(PointError, match="61 km from the nearest zone"):
        check_in_service_area(outside.latitude, outside.longitude)
    app.config["SERVICE_AREA_KM"] = 10
    with pytest.raises(PointError):
        check_in_service_area(*IKA)


def test_every_valid_point_is_in_service_area_without_zones(app):
    assert check_in_service_area(*ISFAHAN) == ISFAHAN
    assert km_from_zones(*ISFAHAN) is None
    assert zone_for_point(*TAJRISH) is None


def test_gazetteer_folds_spellings(zones):
    for query in ("تجریش", "تجريش", "  تجريش ", "tajrish", "TAJRISH", "tajr"):
        first = search_places(query)[0]
        assert (first["name_fa"], first["source"], first["kind"]) == ("تجریش", "gazetteer", "metro_station")
        assert (first["lat"], first["lon"]) == TAJRISH
    assert search_places("tajrish", locale="en")[0]["name"] == "Tajrish"
    assert search_places("tajrish", locale="fa")[0]["name"] == "تجریش"
    assert "میدان آزادی" in [p["name_fa"] for p in search_places("ازادی")]  # alef without madda
    assert "ایستگاه راه‌آهن تهران" in [p["name_fa"] for p in search_places("راه آهن")]  # ZWNJ vs space
    assert "ایستگاه راه‌آهن تهران" in [p["name_fa"] for p in search_places("راهاهن")]  # typed joined
    assert search_places("") == [] and search_places("zzzz") == []
    assert len(search_places("a", limit=3)) == 3


def test_gazetteer_finds_zones_by_name(zones):
    first = search_places("منطقه ۱")[0]  # before منطقه ۱۰ … ۱۹
    assert (first["name_en"], first["source"], first["kind"]) == ("District 1", "zone", "zone")
    assert zone_for_point(first["lat"], first["lon"]).code == "D01"  # its point lies inside it
    assert search_places("district 22")[0]["name_fa"] == "منطقه ۲۲ شهر تهران"


def test_office_places_are_added_and_ranked(app, zones):
    place = add_place(" بیمارستان  شریعتی ", "Shariati Hospital", "Hospital", "۳۵٫۷۲۰۸", "51.3925")
    assert (place.name_fa, place.kind, place.lat, place.lon) == ("بیمارستان شریعتی", "hospital", 35.7208, 51.3925)
    assert place.search_key == "بیمارستان شریعتی\nshariati hospital"
    db.session.commit()
    found = search_places("شريعتي")  # Arabic yeh
    assert found[0]["name_en"] == "Shariati Hospital" and found[0]["source"] == "office"
    for name in ("MegaXanadu", "Grand Xanadu", "Xanadu Hall", "Xanadu"):
        add_place("", name, "", *TAJRISH)
    assert [p["name_en"] for p in search_places("xanadu")] == ["Xanadu", "Xanadu Hall", "Grand Xanadu", "MegaXanadu"]
    assert search_places("xanadu")[0]["kind"] == "landmark"


@pytest.mark.parametrize(
    ("names", "point", "error", "message"),
    [
        (("", " "), TAJRISH, PlaceError, "a place needs a name"),
        (("x" * 201, ""), TAJRISH, PlaceError, "at most 200 characters"),
        (("اصفهان", ""), ISFAHAN, PointError, "outside the service area"),
        (("جایی", ""), ("abc", 51.4), PointError, "latitude must be a number"),
    ],
)
def test_add_place_refuses(zones, names, point, error, message):
    with pytest.raises(error, match=message):
        add_place(*names, "landmark", *point)


def test_geocode_through_nominatim(stub):
    results = geocode("برج ميلاد")  # Arabic yeh: the server gets the Persian spelling
    assert results == [{"name": "برج میلاد, تهران, ایران", "name_fa": "برج میلاد", "name_en": "", "kind": "tower",
                        "lat": 35.74475, "lon": 51.37536, "source": "geocoder"}]  # fmt: skip
    path, params = stub.requests[0]
    assert path == "/search"
    assert {k: params[k] for k in ("q", "format", "limit", "accept-language", "countrycodes")} == {
        "q": "برج میلاد", "format": "json", "limit": "5", "accept-language": "fa", "countrycodes": "ir"}  # fmt: skip
    west, south, east, north = map(float, params["viewbox"].split(","))
    assert west < 51.09 and south < 35.57 and east > 51.6 and north > 35.83 and west > 50 and north < 37
    assert stub.headers[0]["User-Agent"] == "cabdesk"
    assert geocode("برج میلاد") == results  # from the cache
    assert len(stub.requests) == 1
    assert geocode("برج میلاد", locale="en")[0]["name_en"] == "برج میلاد"  # another language: asked again
    assert stub.requests[1][1]["accept-language"] == "en"


def test_geocode_failure_is_not_raised_nor_cached(app, stub, caplog):
    app.config["GEOCODER_URL"] = stub.url.replace("://", "://office:s3cret@")
    stub.fail = True
    assert geocode("برج میلاد") == []
    assert reverse_geocode(35.74475, 51.37536) is None
    assert "geocoder search at http://127.0.0.1" in caplog.text and "s3cret" not in caplog.text
    assert stub.headers[0]["Authorization"].startswith("Basic ")  # credentials travel as HTTP auth
    stub.fail = False
    assert geocode("برج میلاد")[0]["name_fa"] == "برج میلاد"
    assert len(stub.requests) == 3


def test_geocode_timeout_is_bounded(app, stub):
    app.config["GEOCODER_TIMEOUT"] = 0.5
    stub.hang = True  # the stub answers only after far longer than the timeout: an answer would be a result
    assert geocode("برج میلاد") == []
    assert len(stub.requests) == 1  # no retry


def test_geocoding_is_off_without_url(app, stub, caplog, monkeypatch):
    monkeypatch.setattr(geocoding, "_warned_unset", False)
    app.config["GEOCODER_URL"] = ""
    assert geocode("برج میلاد") == [] and reverse_geocode(*TAJRISH) is None
    assert stub.requests == []
    assert "GEOCODER_URL is not set" in caplog.text


@pytest.mark.parametrize(("url_path", "kind", "api"), [("/photon", "", "/photon/api"), ("", "photon", "/api")])
def test_geocode_through_photon(app, stub, url_path, kind, api):
    app.config.update(GEOCODER_URL=stub.url + url_path, GEOCODER_KIND=kind)
    results = geocode("برج")
    assert [(r["name_fa"], r["lat"], r["lon"], r["kind"]) for r in results] == [(MILAD, 35.74475, 51.37536, "tower")]
    path, params = stub.requests[0]
    assert (path, params["q"], params["limit"]) == (api, "برج", "5")
    assert "lang" not in params  # Photon has no Persian; it answers in local names
    assert abs(float(params["lat"]) - 35.7) < 0.2 and abs(float(params["lon"]) - 51.35) < 0.3
    assert geocode("milad", locale="en") and stub.requests[1][1]["lang"] == "en"


def test_reverse_geocode(app, stub):
    assert reverse_geocode("۳۵٫۷۴۴۷۵", 51.37536) == "برج میلاد, تهران, ایران"
    path, params = stub.requests[0]
    assert (path, params["lat"], params["lon"], params["format"]) == ("/reverse", "35.74475", "51.37536", "json")
    assert reverse_geocode(35.74475, 51.37536) == "برج میلاد, تهران, ایران" and len(stub.requests) == 1
    assert reverse_geocode(35.6, 51.2) is None  # nothing there
    app.config["GEOCODER_URL"] = stub.url + "/photon"
    assert reverse_geocode(*TAJRISH) == "تجریش, ایران"
    assert stub.requests[-1][0] == "/photon/reverse"
    with pytest.raises(PointError):
        reverse_geocode(91, 0)


def test_geocoding_works_with_redis_down(app, stub):
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    app.extensions.pop("cabdesk_redis", None)
    assert geocode("برج میلاد")[0]["name_fa"] == "برج میلاد"
    assert geocode("برج میلاد")[0]["name_fa"] == "برج میلاد"
    assert len(stub.requests) == 2  # nothing cached, nothing raised


def test_find_place_merges_gazetteer_and_geocoder(stub):
    found = find_place("tajrish")
    # The station from the gazetteer; the geocoder's copy of it (same name, same spot) is dropped,
    # its Tajrish 600 m away is kept.
    assert [(p["source"], p["lat"]) for p in found] == [("gazetteer", 35.804501), ("geocoder", 35.8069)]
    assert find_place("naqsh") == [] and geocode("naqsh")  # Isfahan: outside the service area
    stub.requests.clear()
    assert [p["source"] for p in find_place("منطقه", limit=3)] == ["zone"] * 3
    assert stub.requests == []  # the gazetteer had enough


def test_rate_limiter_spaces_requests_across_threads(app, stub):
    app.config["GEOCODER_MIN_DELAY"] = 0.3

    def search(query):
        with app.app_context():
            geocode(query)

    threads = [threading.Thread(target=search, args=(q,)) for q in ("برج", "تجریش", "میدان")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    times = sorted(stub.times)
    assert len(times) == 3
    # Slots are 0.3 s apart; arrival at the stub adds some jitter of connecting, hence the margin.
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(times))


def test_geo_imports_no_edge_package():
    for module in ("zones", "gazetteer", "geocoding", "points"):
        source = (PROJECT_ROOT / "geo" / f"{module}.py").read_text(encoding="utf-8")
        for edge in ("agents", "api", "telephony", "dispatch", "crm"):
            assert f"from {edge}" not in source and f"import {edge}" not in source
