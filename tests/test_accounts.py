"""Logging in and out, throttling, CSRF, sessions and the user CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from accounts.models import LoginAttempt, User
from accounts.services import AccountError, authenticate, create_user
from core.extensions import db
from tests.conftest import PASSWORD, csrf_token_of, log_in


def test_login_with_right_password_lands_on_role_page(client, make_user):
    make_user("agent", "sara")
    response = log_in(client, "sara")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/")
    assert client.get("/console/").status_code == 200


def test_username_is_not_case_sensitive(client, make_user):
    make_user("agent", "Sara")
    assert log_in(client, "sARA").status_code == 302


@pytest.mark.parametrize("username,password", [("sara", "wrong password"), ("nobody", PASSWORD)])
def test_wrong_credentials_get_one_message_that_tells_nothing(client, make_user, username, password):
    make_user("agent", "sara")
    response = log_in(client, username, password)
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert "Wrong username or password." in body
    assert client.get("/console/").status_code == 302  # still not logged in


def test_password_is_never_rendered_back(client, make_user):
    make_user("agent", "sara")
    response = log_in(client, "sara", "my-secret-guess")
    assert "my-secret-guess" not in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, make_user):
    make_user("agent", "sara")
    response = client.post("/login", data={"username": "sara", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/console/").status_code == 302
    assert db.session.scalar(select(func.count(LoginAttempt.id))) == 0


def test_login_with_forged_csrf_token_is_refused(client, make_user):
    make_user("agent", "sara")
    client.get("/login")
    response = client.post("/login", data={"username": "sara", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400


def test_repeated_failures_lock_the_username_even_with_the_right_password(app, client, make_user):
    make_user("agent", "sara")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert log_in(client, "sara", "wrong").status_code == 401
    response = log_in(client, "sara")
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_lockout_is_per_username(app, client, make_user):
    make_user("agent", "sara")
    make_user("agent", "reza")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        log_in(client, "sara", "wrong")
    assert log_in(client, "reza").status_code == 302


def test_every_attempt_is_recorded_without_the_password(client, make_user):
    make_user("agent", "sara")
    log_in(client, "sara", "wrong-one")
    log_in(client, "sara")
    attempts = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id)).all()
    assert [a.succeeded for a in attempts] == [False, True]
    assert all("wrong-one" not in (a.username + a.remote_addr) for a in attempts)


def test_disabled_account_cannot_log_in(client, make_user):
    user = make_user("agent", "sara")
    user.active = False
    db.session.commit()
    assert log_in(client, "sara").status_code == 401


def test_disabled_account_loses_its_session(client, make_user):
    user = make_user("agent", "sara")
    log_in(client, "sara")
    user.active = False
    db.session.commit()
    assert client.get("/console/").status_code == 302


def test_logout_needs_post_with_csrf_and_ends_the_session(client, make_user):
    make_user("agent", "sara")
    log_in(client, "sara")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token
    token = csrf_token_of(client.get("/console/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_next_parameter_never_leaves_the_site(client, make_user, target):
    make_user("agent", "sara")
    page = client.get("/login", query_string={"next": target})
    token = csrf_token_of(page.get_data(as_text=True))
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"username": "sara", "password": PASSWORD, "csrf_token": token},
    )
    assert "evil.example" not in response.headers["Location"]


def test_session_cookie_is_http_only_and_same_site(client, make_user):
    make_user("agent", "sara")
    response = log_in(client, "sara")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_cookies_are_secure_when_published_over_https(tmp_path, redis_url):
    from config import load_config

    config = load_config({"PUBLIC_URL": "https://taxi.example.ir"}, tmp_path)
    assert config["SESSION_COOKIE_SECURE"] is True
    assert load_config({}, tmp_path)["SESSION_COOKIE_SECURE"] is False


def test_passwords_are_stored_with_a_modern_kdf(make_user):
    user = make_user("agent", "sara")
    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize(
    "username,password,role",
    [
        ("", PASSWORD, "agent"),
        ("ok", "short", "agent"),
        ("ok", PASSWORD, "driver"),
        ("bad name!", PASSWORD, "agent"),
    ],
)
def test_create_user_refuses_bad_input(app, username, password, role):
    with pytest.raises(AccountError):
        create_user(username, password, role)
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_create_user_refuses_a_taken_name_in_any_case(make_user):
    make_user("agent", "sara")
    with pytest.raises(AccountError, match="taken"):
        create_user("SARA", PASSWORD, "admin")


def test_authenticate_checks_the_password(make_user):
    make_user("agent", "sara")
    assert authenticate("sara", PASSWORD, "127.0.0.1") is not None
    assert authenticate("sara", PASSWORD + "x", "127.0.0.1") is None


def test_cli_creates_a_user_with_password_from_stdin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["user", "create", "maryam", "--role", "supervisor", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert authenticate("maryam", PASSWORD, "127.0.0.1").role == "supervisor"


def test_cli_refuses_an_unknown_role_and_a_short_password(app):
    runner = app.test_cli_runner()
    bad_role = runner.invoke(args=["user", "create", "x1", "--role", "driver", "--password-stdin"], input=PASSWORD)
    short = runner.invoke(args=["user", "create", "x2", "--role", "agent", "--password-stdin"], input="short\n")
    assert bad_role.exit_code != 0
    assert short.exit_code != 0
    assert "at least 8" in short.output
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_cli_token_prints_a_working_bearer_token(app, client, make_user):
    make_user("dispatcher", "dana")
    result = app.test_cli_runner().invoke(args=["user", "token", "dana"])
    assert result.exit_code == 0
    token = result.output.strip()
    response = client.get("/api/drivers", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_cli_token_for_unknown_user_fails(app):
    result = app.test_cli_runner().invoke(args=["user", "token", "ghost"])
    assert result.exit_code != 0
    assert "no user named" in result.output


def test_no_password_or_token_reaches_the_logs(app, client, make_user, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    make_user("dispatcher", "dana")
    log_in(client, "dana", "Secret-Wrong-Guess")
    log_in(client, "dana")
    token = app.test_cli_runner().invoke(args=["user", "token", "dana"]).output.strip()
    client.get("/api/drivers", headers={"Authorization": f"Bearer {token}"})
    client.get("/api/drivers", headers={"Authorization": "Bearer cbd_forged"})
    logged = caplog.text
    for secret in ("Secret-Wrong-Guess", PASSWORD, token, "cbd_forged"):
        assert secret not in logged
