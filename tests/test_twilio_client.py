"""The Twilio REST client: the real ``twilio`` SDK talking to a loopback stand-in through TWILIO_API_URL."""

from __future__ import annotations

import base64
import logging

import pytest
from flask import request
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.support.servers import free_port
from tests.support.twilio_stub import twilio_stub
from tests.support.twilio_webhooks import (
    TEST_ACCOUNT_SID,
    call_status_params,
    incoming_call_params,
    incoming_sms_params,
    signed_post,
)
from twilio_rest.client import (
    RedirectingHttpClient,
    TwilioError,
    TwilioNotConfigured,
    end_call,
    place_call,
    redirect_call,
    rewrite_twilio_url,
    send_sms,
    twilio_client,
    webhook_url,
)

SID = TEST_ACCOUNT_SID
TOKEN = "s3cr3t-auth-token-0123456789abcd"
DESK = "+982188888888"
RIDER = "+989121234567"
ANSWER = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>سلام</Say></Response>'


@pytest.fixture
def stub(app):
    """A Twilio stand-in, and the app configured to reach it."""
    with twilio_stub(SID, TOKEN) as server:
        app.config.update(
            TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_NUMBER=DESK, TWILIO_API_URL=server.url
        )
        yield server


def test_send_sms_reaches_twilio_as_a_form_post_with_basic_auth(stub):
    sid = send_sms(
        RIDER, "تاکسی شما رسید: پژو ۴۰۵ سفید", status_callback="https://taxi.example.ir/telephony/sms/status"
    )

    [sent] = stub.requests
    assert sent.method == "POST"
    assert sent.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert sent.auth_user == SID
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.form == {
        "To": RIDER,
        "From": DESK,
        "Body": "تاکسی شما رسید: پژو ۴۰۵ سفید",
        "StatusCallback": "https://taxi.example.ir/telephony/sms/status",
    }
    assert sid.startswith("SM") and len(sid) == 34
    assert stub.messages[sid]["status"] == "queued"


def test_send_sms_without_a_status_callback_sends_no_such_field(stub):
    send_sms(RIDER, "hello")
    assert "StatusCallback" not in stub.requests[0].form


def test_place_call_with_twiml_and_progress_events(stub):
    sid = place_call(
        RIDER,
        twiml=ANSWER,
        status_callback="https://taxi.example.ir/telephony/voice/status",
        status_events=["initiated", "answered", "completed"],
    )

    [sent] = stub.requests
    assert sent.path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    assert sent.auth_user == SID
    assert sent.form["To"] == RIDER
    assert sent.form["From"] == DESK
    assert sent.form["Twiml"] == ANSWER
    assert "Url" not in sent.form
    assert sent.form["StatusCallback"] == "https://taxi.example.ir/telephony/voice/status"
    assert sent.form_lists["StatusCallbackEvent"] == ["initiated", "answered", "completed"]
    assert sid.startswith("CA") and len(sid) == 34
    assert stub.calls[sid]["status"] == "queued"


def test_place_call_with_a_url(stub):
    place_call("client:agent-7", url="https://taxi.example.ir/telephony/voice/agent")
    form = stub.requests[0].form
    assert form["Url"] == "https://taxi.example.ir/telephony/voice/agent"
    assert "Twiml" not in form and "StatusCallback" not in form


@pytest.mark.parametrize("kwargs", [{}, {"twiml": ANSWER, "url": "https://taxi.example.ir/x"}])
def test_place_call_needs_exactly_one_of_twiml_and_url(stub, kwargs):
    with pytest.raises(ValueError, match="exactly one"):
        place_call(RIDER, **kwargs)
    assert stub.requests == []


def test_redirect_call_and_end_call_update_the_call(stub):
    caller = stub.add_call(from_=RIDER, to=DESK, status="in-progress")

    redirect_call(caller, ANSWER)
    end_call(caller)

    redirect, hang_up = stub.requests
    assert redirect.path == hang_up.path == f"/2010-04-01/Accounts/{SID}/Calls/{caller}.json"
    assert redirect.method == hang_up.method == "POST"
    assert redirect.form == {"Twiml": ANSWER}
    assert hang_up.form == {"Status": "completed"}
    assert stub.calls[caller]["status"] == "completed"


def test_redirecting_an_unknown_or_ended_call_is_an_error(stub):
    with pytest.raises(TwilioError) as unknown:
        redirect_call("CA" + "f" * 32, ANSWER)
    assert (unknown.value.status, unknown.value.code, unknown.value.retryable) == (404, 20404, False)

    ended = stub.add_call(status="completed")
    with pytest.raises(TwilioError, match="not in-progress") as refused:
        redirect_call(ended, ANSWER)
    assert refused.value.code == 21220


def test_a_wrong_auth_token_surfaces_as_a_clear_error(stub, app):
    app.config["TWILIO_AUTH_TOKEN"] = "not-the-token"

    with pytest.raises(TwilioError) as error:
        send_sms(RIDER, "hello")

    assert error.value.status == 401
    assert error.value.code == 20003
    assert not error.value.retryable
    message = str(error.value)
    assert "TWILIO_AUTH_TOKEN" in message and "Authenticate" in message
    assert "not-the-token" not in message
    assert "\033[" not in message  # the SDK's own str() is coloured on a terminal; ours is plain
    assert stub.messages == {}


@pytest.mark.parametrize("status", [500, 503])
def test_a_twilio_outage_is_an_error_not_a_silent_success(stub, status):
    stub.fail_next(1, status=status)

    with pytest.raises(TwilioError) as error:
        send_sms(RIDER, "hello")

    assert error.value.status == status
    assert error.value.code == 20000 + status
    assert error.value.retryable
    assert len(stub.requests) == 1  # the client does not resend a POST by itself: that is the job's choice
    assert stub.messages == {}
    assert send_sms(RIDER, "hello").startswith("SM")  # the next one goes through


def test_an_invalid_number_is_refused_with_twilio_error_21211(stub):
    stub.reject_number("+989000000000")

    with pytest.raises(TwilioError, match="not a valid phone number") as error:
        send_sms("+989000000000", "hello")

    assert (error.value.status, error.value.code, error.value.retryable) == (400, 21211, False)
    assert "Unable to create record" not in str(error.value)


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
def test_missing_credentials_are_not_configured(app, missing):
    app.config.update(TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_NUMBER=DESK)
    app.config[missing] = ""

    with pytest.raises(TwilioNotConfigured, match=missing):
        twilio_client()
    with pytest.raises(TwilioNotConfigured, match=missing):
        send_sms(RIDER, "hello")
    with pytest.raises(TwilioError):  # a job that catches TwilioError catches this too
        end_call("CA" + "0" * 32)


def test_a_missing_desk_number_is_not_configured(stub, app):
    app.config["TWILIO_NUMBER"] = ""
    with pytest.raises(TwilioNotConfigured, match="TWILIO_NUMBER"):
        send_sms(RIDER, "hello")
    with pytest.raises(TwilioNotConfigured, match="TWILIO_NUMBER"):
        place_call(RIDER, twiml=ANSWER)
    assert stub.requests == []


def test_a_bad_api_url_is_not_configured(app):
    app.config.update(TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_URL="api.twilio.com")
    with pytest.raises(TwilioNotConfigured, match="TWILIO_API_URL"):
        twilio_client()


@pytest.mark.parametrize(
    "url",
    [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
        "https://messaging.twilio.com/v1/Services?PageSize=50",
        "https://example.org/2010-04-01/Accounts/AC1/Messages.json",
    ],
)
@pytest.mark.parametrize("api_url", ["https://api.twilio.com", "https://api.twilio.com/", "https://api.twilio.com:443"])
def test_the_default_api_url_rewrites_nothing(url, api_url):
    assert rewrite_twilio_url(url, api_url) == url
    assert rewrite_twilio_url(url) == url


@pytest.mark.parametrize(
    ("url", "api_url", "expected"),
    [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls/CA2.json",
            "http://127.0.0.1:8099",
            "http://127.0.0.1:8099/2010-04-01/Accounts/AC1/Calls/CA2.json",
        ),
        (
            "https://messaging.twilio.com/v1/Services?PageSize=50&Page=2",
            "https://gateway.example.ir",
            "https://gateway.example.ir/v1/Services?PageSize=50&Page=2",
        ),
        (
            "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
            "https://gateway.example.ir:8443/twilio/",
            "https://gateway.example.ir:8443/twilio/2010-04-01/Accounts/AC1/Messages.json",
        ),
        # Not Twilio's hosts: left alone.
        ("https://api.twilio.com.example.org/x", "http://127.0.0.1:8099", "https://api.twilio.com.example.org/x"),
        ("https://nottwilio.com/x", "http://127.0.0.1:8099", "https://nottwilio.com/x"),
        ("http://api.twilio.com/x", "http://127.0.0.1:8099", "http://api.twilio.com/x"),
    ],
)
def test_the_api_url_takes_the_place_of_twilios_hosts(url, api_url, expected):
    assert rewrite_twilio_url(url, api_url) == expected


def test_the_default_client_keeps_twilios_address_and_a_short_timeout(app):
    app.config.update(TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN)  # TWILIO_API_URL left at its default

    client = twilio_client()

    assert isinstance(client, Client)
    assert isinstance(client.http_client, RedirectingHttpClient)
    assert client.http_client.api_url == "https://api.twilio.com"
    assert 0 < client.http_client.timeout <= 10
    assert client.edge is None and client.region is None  # the process environment is not consulted
    assert client.username == SID and client.account_sid == SID


def test_the_client_is_built_once_per_app_and_settings(stub, app):
    first = twilio_client()
    assert twilio_client() is first
    app.config["TWILIO_AUTH_TOKEN"] = "rotated-token"
    assert twilio_client() is not first


def test_a_hanging_twilio_times_out_within_the_configured_time(stub, app):
    app.config["TWILIO_TIMEOUT"] = 0.3
    stub.hang = True  # answers only long after the timeout: without one, the SMS would succeed

    with pytest.raises(TwilioError, match="did not answer") as error:
        send_sms(RIDER, "hello")

    assert error.value.retryable and error.value.status is None
    assert len(stub.requests) == 1


def test_an_unreachable_twilio_is_a_retryable_error(app):
    app.config.update(
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_NUMBER=DESK,
        TWILIO_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    with pytest.raises(TwilioError, match="Could not reach Twilio") as error:
        send_sms(RIDER, "hello")
    assert error.value.retryable


def test_the_auth_token_never_reaches_the_logs(stub, app, caplog):
    caplog.set_level(logging.DEBUG)  # every logger: ours, the SDK's, urllib3's
    basic = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()

    send_sms(RIDER, "hello")
    caller = stub.add_call()
    redirect_call(caller, ANSWER)
    stub.fail_next(1, 500)
    with pytest.raises(TwilioError):
        end_call(caller)
    app.config["TWILIO_AUTH_TOKEN"] = TOKEN + "-wrong"
    with pytest.raises(TwilioError):
        send_sms(RIDER, "hello")
    app.config.update(TWILIO_AUTH_TOKEN=TOKEN, TWILIO_TIMEOUT=0.2)
    stub.hang = True
    with pytest.raises(TwilioError):
        send_sms(RIDER, "hello")

    logged = caplog.text
    assert "Messages.json" in logged  # the SDK did log its requests, at INFO
    assert any(r.name == "cabdesk.telephony" for r in caplog.records)
    for secret in (TOKEN, basic, "Authorization"):
        assert secret not in logged


def test_webhook_url_uses_public_url_when_set(app):
    app.config["PUBLIC_URL"] = "https://taxi.example.ir"
    assert webhook_url("/telephony/voice/status") == "https://taxi.example.ir/telephony/voice/status"
    with app.test_request_context("/", base_url="http://10.0.0.5:5000"):
        assert webhook_url("telephony/sms/status") == "https://taxi.example.ir/telephony/sms/status"


def test_webhook_url_without_public_url_follows_the_request(app):
    app.config["PUBLIC_URL"] = ""
    with app.test_request_context("/agents/console", base_url="https://desk.example.ir:8443"):
        assert webhook_url("/telephony/voice/status?leg=agent") == (
            "https://desk.example.ir:8443/telephony/voice/status?leg=agent"
        )
    with pytest.raises(TwilioNotConfigured, match="PUBLIC_URL"):
        webhook_url("/telephony/voice/status")


def test_signed_post_sends_what_twilio_sends(app, client):
    from core.extensions import csrf

    seen = {}

    @app.post("/_test/twilio-hook")
    @csrf.exempt  # Twilio carries no CSRF token: webhooks are exempt and checked by signature instead
    def hook():
        seen["valid"] = RequestValidator(TOKEN).validate(
            request.url, request.form.to_dict(), request.headers.get("X-Twilio-Signature", "")
        )
        seen["form"] = request.form.to_dict()
        seen["url"] = request.url
        return "", 204

    params = incoming_sms_params(body="راننده خیلی خوب بود، ممنون", account_sid=SID)
    response = signed_post(client, "/_test/twilio-hook?step=1", params, TOKEN, base_url="https://taxi.example.ir")

    assert response.status_code == 204
    assert seen == {"valid": True, "form": params, "url": "https://taxi.example.ir/_test/twilio-hook?step=1"}
    assert params["NumSegments"] == "1" and params["MessageSid"] == params["SmsSid"]

    forged = signed_post(client, "/_test/twilio-hook", params, "some-other-token")
    assert forged.status_code == 204 and seen["valid"] is False


def test_webhook_parameters_look_like_twilios():
    call = incoming_call_params(CallerName="RAHIMI")
    assert call["CallSid"].startswith("CA") and len(call["CallSid"]) == 34
    assert call["AccountSid"].startswith("AC") and len(call["AccountSid"]) == 34
    assert (call["ApiVersion"], call["Direction"], call["CallStatus"]) == ("2010-04-01", "inbound", "ringing")
    assert call["From"] == call["Caller"] == "+989123456789"
    assert call["To"] == call["Called"] == "+982188888888"
    assert (call["FromCountry"], call["ToCity"], call["CallerName"]) == ("IR", "TEHRAN", "RAHIMI")

    status = call_status_params(call["CallSid"], "completed", call_duration=61)
    assert (status["CallSid"], status["CallDuration"], status["Duration"]) == (call["CallSid"], "61", "2")
    assert "CallDuration" not in call_status_params(call_status="ringing")

    sms = incoming_sms_params(body="x" * 161)
    assert sms["MessageSid"].startswith("SM") and sms["NumSegments"] == "2" and sms["NumMedia"] == "0"
    assert incoming_sms_params(body="س" * 71)["NumSegments"] == "2"  # Persian travels as UCS-2, 70 a segment
