"""Each role sees its own pages; errors are clean pages or JSON; languages switch."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_token_of

PAGES = {
    "/console/": {"agent", "supervisor", "admin"},
    "/dispatch/": {"dispatcher", "supervisor", "admin"},
    "/supervisor/": {"supervisor", "admin"},
    "/supervisor/reports": {"supervisor", "admin"},
    "/supervisor/complaints": {"supervisor", "admin"},
    "/supervisor/duplicates": {"supervisor", "admin"},
    "/supervisor/drivers": {"supervisor", "admin"},
    "/supervisor/settlements": {"supervisor", "admin"},
    "/admin/users": {"admin"},
    "/admin/places": {"admin"},
    "/admin/commission-plans": {"admin"},
    "/admin/jobs": {"admin"},
}
ROLES = ["agent", "dispatcher", "supervisor", "admin"]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_pages(logged_in, role):
    client = logged_in(role)
    for path, allowed in PAGES.items():
        status = client.get(path).status_code
        assert status == (200 if role in allowed else 403), (role, path, status)


@pytest.mark.parametrize("role", ROLES)
def test_navigation_links_only_the_role_pages(logged_in, role):
    client = logged_in(role)
    landing = client.get("/").headers["Location"]
    html = client.get(landing).get_data(as_text=True)
    nav = html.split('<nav class="main-nav"', 1)[1].split("</nav>", 1)[0]
    linked = {path for path in PAGES if f'href="{path}"' in nav}
    assert linked == {path for path, allowed in PAGES.items() if role in allowed}


@pytest.mark.parametrize("path", list(PAGES))
def test_anonymous_visitors_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_forbidden_page_explains_itself(logged_in):
    response = logged_in("agent").get("/admin/users")
    assert response.status_code == 403
    assert "Your role does not have access to this page." in response.get_data(as_text=True)


def test_unknown_page_is_a_clean_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is no such page." in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_wrong_method_is_a_clean_405_with_allow(client):
    response = client.delete("/login")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_api_errors_are_json(client):
    missing = client.get("/api/nothing")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    unauthenticated = client.get("/api/drivers")
    assert unauthenticated.status_code == 401
    assert unauthenticated.get_json()["error"]["code"] == "unauthorized"


def test_api_refuses_a_bad_or_revoked_token(app, client, make_user):
    from accounts.models import ApiToken
    from accounts.services import issue_token
    from core.extensions import db
    from core.models import utcnow

    token = issue_token(make_user("dispatcher", "dana"))
    db.session.commit()
    assert client.get("/api/drivers", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get("/api/drivers", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for api_token in db.session.scalars(db.select(ApiToken)):
        api_token.revoked_at = utcnow()
    db.session.commit()
    assert client.get("/api/drivers", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_api_checks_the_role_behind_the_token(app, client, make_user):
    from accounts.services import issue_token
    from core.extensions import db

    token = issue_token(make_user("agent", "sara"))
    db.session.commit()
    response = client.get("/api/drivers", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_api_pagination_is_checked(app, client, make_user):
    from accounts.services import issue_token
    from core.extensions import db

    headers = {"Authorization": f"Bearer {issue_token(make_user('dispatcher', 'dana'))}"}
    db.session.commit()
    page = client.get("/api/drivers?per_page=5", headers=headers).get_json()
    assert page == {"items": [], "page": 1, "per_page": 5, "total": 0}
    too_many = client.get("/api/drivers?per_page=201", headers=headers)
    assert too_many.status_code == 400
    assert too_many.get_json()["error"]["fields"] == {"per_page": "too large"}
    assert client.get("/api/drivers?page=-1", headers=headers).status_code == 400
    assert client.get("/api/drivers?status=flying", headers=headers).status_code == 400


def test_openapi_document_is_served(client):
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert "/drivers" in document["paths"]


def test_persian_is_the_office_default_and_right_to_left(client):
    response = client.get("/login", headers={"Accept-Language": ""})
    html = response.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in html


def test_browser_language_is_honoured_before_login(client):
    html = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html


def test_language_choice_is_saved_for_the_user(logged_in, make_user):
    client = logged_in("agent")
    token = csrf_token_of(client.get("/console/").get_data(as_text=True))
    response = client.post("/language/fa", data={"csrf_token": token, "next": "/console/"})
    assert response.headers["Location"].endswith("/console/")
    from accounts.services import find_user

    assert find_user("agent").language == "fa"
    html = client.get("/console/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="fa" dir="rtl"' in html


def test_language_switch_needs_csrf(logged_in):
    client = logged_in("agent")
    assert client.post("/language/fa").status_code == 400


def test_preferences_choose_the_gregorian_calendar(logged_in):
    client = logged_in("agent")
    token = csrf_token_of(client.get("/preferences").get_data(as_text=True))
    response = client.post("/preferences", data={"csrf_token": token, "language": "fa", "calendar": "gregorian"})
    assert response.status_code == 302
    from accounts.services import find_user

    user = find_user("agent")
    assert (user.language, user.calendar) == ("fa", "gregorian")


def test_preferences_refuse_an_unknown_language(logged_in):
    client = logged_in("agent")
    token = csrf_token_of(client.get("/preferences").get_data(as_text=True))
    response = client.post("/preferences", data={"csrf_token": token, "language": "de", "calendar": "gregorian"})
    assert response.status_code == 200  # the form again, with its error
    from accounts.services import find_user

    assert find_user("agent").calendar == "jalali"  # the default, unchanged


def test_pages_forbid_foreign_and_inline_scripts_and_framing(client):
    headers = client.get("/login").headers
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_map_tiles_host_is_allowed_for_images():
    from core.security_headers import content_security_policy

    policy = content_security_policy("https://{s}.tiles.example.ir/{z}/{x}/{y}.png")
    assert "img-src 'self' data: blob: https://*.tiles.example.ir" in policy
    assert "img-src 'self' data: blob:;" in content_security_policy("")


def test_admin_adds_a_place_the_console_then_finds(app, logged_in, tehran_zones):
    client = logged_in("admin")
    token = csrf_token_of(client.get("/admin/places").get_data(as_text=True))
    added = client.post(
        "/admin/places",
        data={
            "csrf_token": token,
            "name_fa": "بیمارستان شهدای تجریش",
            "name_en": "Shohada Hospital",
            "kind": "hospital",
            "lat": "۳۵.۸۰۳۲",
            "lon": "51.4285",
        },
    )
    assert added.status_code == 302
    items = client.get("/console/places", query_string={"q": "شهدای تجريش"}).get_json()["items"]
    assert items[0]["name_fa"] == "بیمارستان شهدای تجریش"


def test_a_place_far_away_or_nameless_is_refused(app, logged_in, tehran_zones):
    from geo.models import Place

    client = logged_in("admin")
    token = csrf_token_of(client.get("/admin/places").get_data(as_text=True))
    far = client.post(
        "/admin/places",
        data={"csrf_token": token, "name_fa": "اصفهان", "kind": "landmark", "lat": "32.65", "lon": "51.67"},
    )
    nameless = client.post(
        "/admin/places", data={"csrf_token": token, "kind": "landmark", "lat": "35.7", "lon": "51.4"}
    )
    assert far.status_code == nameless.status_code == 400
    from core.extensions import db

    assert db.session.scalar(db.select(db.func.count(Place.id))) == 0
