"""A loopback stand-in for Twilio's REST API: the Messages and Calls resources Cabdesk uses.

It answers as Twilio does (form-encoded requests, HTTP Basic auth with the account SID and auth
token, JSON resources with ``sid`` "SM…"/"CA…", Twilio's error bodies and codes) so that the real
``twilio`` SDK can talk to it through ``TWILIO_API_URL``. Every request is recorded. It can be told
to fail the next requests with a 5xx, to refuse a number with error 21211, or to hang: a hanging
request waits on an Event that ``stop()`` sets, so no thread outlives the test.

Calls it did not create (a caller ringing the desk) are unknown to it, as to Twilio: register them
with ``add_call`` before redirecting or ending them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import re
import threading
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import LoopbackServer

API_VERSION = "2010-04-01"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
_CALLS = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls\.json$")
_CALL = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ENDED_CALL_STATES = frozenset({"completed", "canceled", "failed", "busy", "no-answer"})

# GSM 03.38: texts in these characters travel 160 to a segment; anything else (Persian) as UCS-2, 70.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: the two-letter prefix and 32 hex digits."""
    return prefix + uuid.uuid4().hex


def sms_segments(body: str) -> int:
    """How many segments Twilio splits ``body`` into (GSM-7 or UCS-2)."""
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENDED for char in body):
        units = len(body) + sum(char in _GSM7_EXTENDED for char in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def twilio_date(moment: datetime | None = None) -> str:
    """A date as Twilio's REST API writes it: RFC 2822 in UTC ("Mon, 24 Nov 2025 10:00:00 +0000")."""
    return format_datetime(moment or datetime.now(UTC))


def twilio_error(status: int, code: int, message: str, **extra: object) -> dict:
    """An error body as Twilio's REST API sends it."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
        **extra,
    }


@dataclass
class RecordedRequest:
    """One request the stub received: form fields decoded, auth password never kept."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]  # the last value of each field
    form_lists: dict[str, list[str]]  # every value (StatusCallbackEvent repeats)
    auth_user: str | None
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class _Reply(Exception):
    """Raised inside a handler to answer at once with a status and a JSON body."""

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class TwilioStub(LoopbackServer):
    """The stub server; ``url`` is its base address once started (give it as ``TWILIO_API_URL``)."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, dict] = {}  # by SID, as last answered
        self.calls: dict[str, dict] = {}
        self.rejected_numbers: set[str] = set()
        self.hang = False
        self.hang_timeout = 10.0  # the longest a hanging request waits, even if nobody releases it
        self._failures: list[int] = []
        self._lock = threading.Lock()

    # -- control -----------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next ``count`` requests with a Twilio-style ``status`` error (500, 503, 429…)."""
        with self._lock:
            self._failures.extend([status] * count)

    def reject_number(self, number: str) -> None:
        """Refuse ``number`` as a To with error 21211 (not a valid phone number), as Twilio does."""
        self.rejected_numbers.add(number)

    def add_call(
        self,
        sid: str | None = None,
        *,
        from_: str = "+989123456789",
        to: str = "+982188888888",
        status: str = "in-progress",
        direction: str = "inbound",
    ) -> str:
        """Make a call known to the stub (a caller ringing the desk); returns its SID."""
        sid = sid or new_sid("CA")
        with self._lock:
            self.calls[sid] = self._call_resource(sid, to=to, from_=from_, status=status, direction=direction)
        return sid

    def set_call_status(self, sid: str, status: str) -> None:
        """Move a known call to ``status`` (as the far end answering or hanging up would)."""
        with self._lock:
            self.calls[sid]["status"] = status
            self.calls[sid]["date_updated"] = twilio_date()

    def requests_to(self, suffix: str, method: str = "POST") -> list[RecordedRequest]:
        """The recorded requests whose path ends with ``suffix`` ("Messages.json"), in order."""
        return [r for r in list(self.requests) if r.method == method and r.path.endswith(suffix)]

    # -- serving -----------------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode("utf-8") if length else ""
        form_lists = parse_qs(raw, keep_blank_values=True)
        user, password = self._credentials(handler.headers.get("Authorization", ""))
        record = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query={key: values[-1] for key, values in parse_qs(parts.query).items()},
            form={key: values[-1] for key, values in form_lists.items()},
            form_lists=form_lists,
            auth_user=user,
            headers={k: v for k, v in handler.headers.items() if k.lower() != "authorization"},
        )
        with self._lock:
            self.requests.append(record)
        if self.hang:
            self.release.wait(timeout=self.hang_timeout)  # bounded, and stop() releases it at once
        try:
            status, body = self._answer(record, user, password)
            headers: dict[str, str] = {}
        except _Reply as reply:
            status, body, headers = reply.status, reply.body, reply.headers
        self.send(handler, status, body, {"Twilio-Request-Id": new_sid("RQ"), **headers})

    @staticmethod
    def _credentials(header: str) -> tuple[str | None, str | None]:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return user, password

    def _answer(self, record: RecordedRequest, user: str | None, password: str | None) -> tuple[int, dict]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            phrase = HTTPStatus(failure).phrase
            raise _Reply(failure, twilio_error(failure, 20000 + failure, phrase))
        if not (
            user is not None
            and hmac.compare_digest(user.encode(), self.account_sid.encode())
            and hmac.compare_digest((password or "").encode(), self.auth_token.encode())
        ):
            raise _Reply(
                401,
                twilio_error(401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect."),
                {"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        for pattern, method, answer in (
            (_MESSAGES, "POST", self._create_message),
            (_MESSAGE, "GET", self._fetch_message),
            (_CALLS, "POST", self._create_call),
            (_CALL, "POST", self._update_call),
            (_CALL, "GET", self._fetch_call),
        ):
            match = pattern.match(record.path)
            if match and record.method == method:
                if match["account"] != self.account_sid:
                    raise self._not_found(record.path)
                return answer(record, **{k: v for k, v in match.groupdict().items() if k != "account"})
        if any(p.match(record.path) for p in (_MESSAGES, _MESSAGE, _CALLS, _CALL)):
            raise _Reply(405, twilio_error(405, 20004, "Method not allowed"))
        raise self._not_found(record.path)

    @staticmethod
    def _not_found(path: str) -> _Reply:
        return _Reply(404, twilio_error(404, 20404, f"The requested resource {path} was not found"))

    def _check_to(self, to: str, *, voice: bool = False) -> None:
        # Calls may also go to a Voice SDK client or a SIP address.
        if voice and (to.startswith("client:") or to.startswith("sip:")):
            return
        if to in self.rejected_numbers or not _E164.match(to):
            raise _Reply(400, twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number."))

    def _create_message(self, record: RecordedRequest) -> tuple[int, dict]:
        form = record.form
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            raise _Reply(400, twilio_error(400, 21604, "A 'To' phone number is required."))
        if not sender and not form.get("MessagingServiceSid"):
            raise _Reply(400, twilio_error(400, 21603, "A 'From' phone number is required."))
        if not body and not form.get("MediaUrl"):
            raise _Reply(400, twilio_error(400, 21602, "Message body is required."))
        if len(body) > 1600:
            raise _Reply(
                400, twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
            )
        self._check_to(to)
        sid, now = new_sid("SM"), twilio_date()
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        message = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(sms_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": to,
            "uri": f"{base}.json",
        }
        with self._lock:
            self.messages[sid] = message
        return 201, message

    def _fetch_message(self, record: RecordedRequest, sid: str) -> tuple[int, dict]:
        with self._lock:
            message = self.messages.get(sid)
        if message is None:
            raise self._not_found(record.path)
        return 200, message

    def _call_resource(self, sid: str, *, to: str, from_: str, status: str, direction: str) -> dict:
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}"
        now = twilio_date()
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": direction,
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": from_,
            "from_formatted": from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": None if status == "queued" else now,
            "status": status,
            "subresource_uris": {
                "notifications": f"{base}/Notifications.json",
                "recordings": f"{base}/Recordings.json",
                "events": f"{base}/Events.json",
            },
            "to": to,
            "to_formatted": to,
            "trunk_sid": None,
            "uri": f"{base}.json",
        }

    def _create_call(self, record: RecordedRequest) -> tuple[int, dict]:
        form = record.form
        to, sender = form.get("To", ""), form.get("From", "")
        if not to:
            raise _Reply(400, twilio_error(400, 21201, "No 'To' number is specified"))
        if not sender:
            raise _Reply(400, twilio_error(400, 21213, "No 'From' number is specified"))
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            raise _Reply(400, twilio_error(400, 21205, "Url parameter is required."))
        self._check_to(to, voice=True)
        sid = new_sid("CA")
        call = self._call_resource(sid, to=to, from_=sender, status="queued", direction="outbound-api")
        with self._lock:
            self.calls[sid] = call
        return 201, call

    def _fetch_call(self, record: RecordedRequest, sid: str) -> tuple[int, dict]:
        with self._lock:
            call = self.calls.get(sid)
        if call is None:
            raise self._not_found(record.path)
        return 200, call

    def _update_call(self, record: RecordedRequest, sid: str) -> tuple[int, dict]:
        form = record.form
        with self._lock:
            call = self.calls.get(sid)
            if call is None:
                raise self._not_found(record.path)
            ended = call["status"] in ENDED_CALL_STATES
            wanted = form.get("Status")
            if wanted is not None:
                if wanted not in ("completed", "canceled"):
                    raise _Reply(400, twilio_error(400, 21218, f"Invalid value '{wanted}' for Status"))
                # Twilio leaves an ended call as it is; "canceled" only touches calls not yet answered.
                if not ended and (wanted == "completed" or call["status"] in ("queued", "ringing")):
                    call["status"] = wanted
                    call["end_time"] = twilio_date()
            elif (form.get("Twiml") or form.get("Url")) and ended:
                raise _Reply(400, twilio_error(400, 21220, "Call is not in-progress. Cannot redirect."))
            call["date_updated"] = twilio_date()
            return 200, dict(call)


def twilio_stub(account_sid: str, auth_token: str) -> AbstractContextManager[TwilioStub]:
    """A running stub accepting these credentials, stopped on exit."""
    return TwilioStub(account_sid, auth_token).running()
