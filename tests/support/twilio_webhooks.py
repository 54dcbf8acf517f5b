"""Webhooks as Twilio sends them: realistic parameters, form-encoded, signed with ``X-Twilio-Signature``.

The parameter builders give what Twilio posts for a call to the desk, a call's status change, an SMS
to the desk and an outbound SMS's status change. Keyword arguments add or replace parameters by
their Twilio names (``CallerName="…"``, ``Digits="1"``): Twilio adds parameters without notice, and
the signature covers them all.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

from tests.support.twilio_stub import API_VERSION, new_sid, sms_segments, twilio_date

TEST_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DESK_NUMBER = "+982188888888"
CALLER_NUMBER = "+989123456789"

# Twilio's caller geography: country always, city and state for some landlines, nothing for most mobiles.
_GEOGRAPHY = {
    "+9821": ("IR", "TEHRAN", "Tehran", ""),
    "+98": ("IR", "", "", ""),
    "+44": ("GB", "", "", ""),
    "+1": ("US", "", "", ""),
}


def _geography(number: str, prefix: str) -> dict[str, str]:
    country = city = state = zip_code = ""
    for start in sorted(_GEOGRAPHY, key=len, reverse=True):  # the longest prefix decides
        if number.startswith(start):
            country, city, state, zip_code = _GEOGRAPHY[start]
            break
    return {f"{prefix}Country": country, f"{prefix}City": city, f"{prefix}State": state, f"{prefix}Zip": zip_code}


def signature_for(url: str, params: dict[str, str], auth_token: str) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a POST of ``params`` to ``url``."""
    return RequestValidator(auth_token).compute_signature(url, params)


def signed_post(
    client,
    url_path: str,
    params: dict[str, str],
    auth_token: str,
    base_url: str = "http://localhost",
    *,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
):
    """POST ``params`` form-encoded to ``url_path`` as Twilio would, signed for ``base_url + url_path``.

    ``signature`` replaces the computed one (a forged or stale signature); the response is returned.
    """
    full_url = base_url.rstrip("/") + url_path
    twilio_headers = {
        "X-Twilio-Signature": signature if signature is not None else signature_for(full_url, params, auth_token),
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        **(headers or {}),
    }
    # The test client takes the query string from the path itself; base_url gives scheme and host.
    parts = urlsplit(full_url)
    return client.post(
        url_path,
        data=params,
        headers=twilio_headers,
        base_url=f"{parts.scheme}://{parts.netloc}",
        content_type="application/x-www-form-urlencoded",
    )


def _call_params(
    call_sid: str | None, from_: str, to: str, call_status: str, direction: str, account_sid: str
) -> dict[str, str]:
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call_sid or new_sid("CA"),
        "CallStatus": call_status,
        "Direction": direction,
        "From": from_,
        "To": to,
        "Caller": from_,
        "Called": to,
        **_geography(from_, "From"),
        **_geography(to, "To"),
        **_geography(from_, "Caller"),
        **_geography(to, "Called"),
    }


def incoming_call_params(
    call_sid: str | None = None,
    from_: str = CALLER_NUMBER,
    to: str = DESK_NUMBER,
    *,
    account_sid: str = TEST_ACCOUNT_SID,
    **extra: str,
) -> dict[str, str]:
    """What Twilio posts to the voice URL when a call to the desk number comes in."""
    params = _call_params(call_sid, from_, to, "ringing", "inbound", account_sid)
    params["CallToken"] = "%7B%22parentCallInfoToken%22%3A%22" + uuid.uuid4().hex + "%22%7D"
    params.update(extra)
    return params


def call_status_params(
    call_sid: str | None = None,
    call_status: str = "completed",
    from_: str = CALLER_NUMBER,
    to: str = DESK_NUMBER,
    *,
    direction: str = "inbound",
    call_duration: int | None = None,
    sequence_number: int = 0,
    account_sid: str = TEST_ACCOUNT_SID,
    **extra: str,
) -> dict[str, str]:
    """What Twilio posts to a status callback when a call moves to ``call_status``.

    A completed call carries ``CallDuration`` (seconds) and ``Duration`` (whole minutes, rounded up).
    """
    params = _call_params(call_sid, from_, to, call_status, direction, account_sid)
    params.update(
        {
            "Timestamp": twilio_date(),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence_number),
        }
    )
    if call_status == "completed":
        seconds = 42 if call_duration is None else call_duration
        params["CallDuration"] = str(seconds)
        params["Duration"] = str(max(1, -(-seconds // 60)))
    params.update(extra)
    return params


def incoming_sms_params(
    message_sid: str | None = None,
    from_: str = CALLER_NUMBER,
    to: str = DESK_NUMBER,
    body: str = "",
    *,
    account_sid: str = TEST_ACCOUNT_SID,
    **extra: str,
) -> dict[str, str]:
    """What Twilio posts to the messaging URL when an SMS to the desk number arrives."""
    sid = message_sid or new_sid("SM")
    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "From": from_,
        "To": to,
        "NumMedia": "0",
        "NumSegments": str(sms_segments(body)),
        "ReferralNumMedia": "0",
        **_geography(from_, "From"),
        **_geography(to, "To"),
    }
    params.update(extra)
    return params


def message_status_params(
    message_sid: str,
    message_status: str = "delivered",
    to: str = CALLER_NUMBER,
    from_: str = DESK_NUMBER,
    *,
    error_code: int | None = None,
    account_sid: str = TEST_ACCOUNT_SID,
    **extra: str,
) -> dict[str, str]:
    """What Twilio posts to an outbound SMS's status callback when it moves to ``message_status``."""
    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "MessageStatus": message_status,
        "SmsStatus": message_status,
        "From": from_,
        "To": to,
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    params.update(extra)
    return params
