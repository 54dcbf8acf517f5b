"""The Twilio REST client, and the few calls the rest of Cabdesk makes through it.

Every request goes to ``TWILIO_API_URL`` (a proxy or a local stand-in) when that is set: the SDK
has no base-URL setting, so an HTTP client subclass rewrites the origin of each request. Failures
of any kind (Twilio refused, Twilio broke, Twilio did not answer) surface as ``TwilioError`` with a
plain message and ``retryable`` telling a job whether trying again makes sense. Nothing here logs
the auth token or the message bodies.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app, has_request_context, request
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

log = logging.getLogger("cabdesk.telephony")

DEFAULT_API_URL = "https://api.twilio.com"
DEFAULT_TIMEOUT = 10.0  # seconds; a Twilio outage must not hold a web thread or a worker for long
_EXTENSION = "cabdesk_twilio"
# The SDK prefixes Twilio's own message with what it was doing ("Unable to create record: …").
_SDK_PREFIX = re.compile(r"^Unable to \w+ record:\s*")

T = TypeVar("T")


class TwilioError(Exception):
    """A Twilio REST request that failed: refused, broken or unanswered.

    ``status`` is the HTTP status (None when no answer came), ``code`` Twilio's error code
    (https://www.twilio.com/docs/errors/CODE). ``retryable`` is true for outages (no answer, 429,
    5xx). A request that timed out may still have been carried out by Twilio: a retried SMS can
    arrive twice.
    """

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable


class TwilioNotConfigured(TwilioError):
    """A setting that the Twilio client needs is missing or unusable."""


def _is_default_api_url(api_url: str) -> bool:
    parts = urlsplit(api_url)
    return (
        parts.scheme == "https"
        and (parts.hostname or "") == "api.twilio.com"
        and parts.port in (None, 443)
        and parts.path in ("", "/")
    )


def _is_twilio_host(host: str) -> bool:
    return host == "twilio.com" or host.endswith(".twilio.com")


def rewrite_twilio_url(url: str, api_url: str = DEFAULT_API_URL) -> str:
    """``url`` sent to ``api_url`` instead when it points at a Twilio host; path and query are kept."""
    if not api_url or _is_default_api_url(api_url):
        return url
    parts = urlsplit(url)
    # Only the SDK's own https://*.twilio.com hosts move; any other URL is left as it came.
    if parts.scheme != "https" or not _is_twilio_host((parts.hostname or "").lower()):
        return url
    target = urlsplit(api_url)
    # A path on TWILIO_API_URL (a proxy mounted under /twilio) goes in front of Twilio's path.
    path = target.path.rstrip("/") + parts.path
    return urlunsplit((target.scheme, target.netloc, path, parts.query, parts.fragment))


class RedirectingHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, sending every Twilio request to ``api_url`` instead of Twilio's hosts."""

    def __init__(self, api_url: str = DEFAULT_API_URL, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.api_url = api_url

    def request(self, method: str, url: str, *args, **kwargs) -> Response:
        """Make the request the SDK asked for, at the rewritten URL."""
        return super().request(method, rewrite_twilio_url(url, self.api_url), *args, **kwargs)


def _settings(config) -> tuple[str, str, str, float]:
    sid = (config.get("TWILIO_ACCOUNT_SID") or "").strip()
    token = (config.get("TWILIO_AUTH_TOKEN") or "").strip()
    missing = [name for name, value in (("TWILIO_ACCOUNT_SID", sid), ("TWILIO_AUTH_TOKEN", token)) if not value]
    if missing:
        raise TwilioNotConfigured(f"Twilio is not configured: set {' and '.join(missing)}")
    api_url = (config.get("TWILIO_API_URL") or DEFAULT_API_URL).strip().rstrip("/")
    target = urlsplit(api_url)
    if target.scheme not in ("http", "https") or not target.hostname:
        raise TwilioNotConfigured(f"TWILIO_API_URL must be an http(s) URL like {DEFAULT_API_URL}, not {api_url!r}")
    try:
        timeout = float(config.get("TWILIO_TIMEOUT") or DEFAULT_TIMEOUT)
    except (TypeError, ValueError):
        raise TwilioNotConfigured("TWILIO_TIMEOUT must be a number of seconds") from None
    if not timeout > 0:
        raise TwilioNotConfigured("TWILIO_TIMEOUT must be more than 0 seconds")
    return sid, token, api_url, timeout


def twilio_client() -> Client:
    """The app's Twilio REST client (built once per app and per setting), reaching ``TWILIO_API_URL``."""
    app = current_app._get_current_object()
    settings = _settings(app.config)
    cached = app.extensions.get(_EXTENSION)
    # Keyed by the settings so that a changed configuration (tests, a rotated token) is picked up.
    if cached is not None and cached[0] == settings:
        return cached[1]
    sid, token, api_url, timeout = settings
    client = Client(
        username=sid,
        password=token,
        account_sid=sid,
        http_client=RedirectingHttpClient(api_url, timeout),
        # Without a mapping the SDK reads os.environ (TWILIO_EDGE, TWILIO_REGION…) behind config's back.
        environment={"TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": token},
    )
    app.extensions[_EXTENSION] = (settings, client)
    return client


def _desk_number() -> str:
    number = (current_app.config.get("TWILIO_NUMBER") or "").strip()
    if not number:
        raise TwilioNotConfigured(
            "Twilio is not configured: set TWILIO_NUMBER (the desk number texts and calls come from)"
        )
    return number


def _rest_error(action: str, exc: TwilioRestException | TwilioServiceException) -> TwilioError:
    status = exc.status
    code = exc.code
    if isinstance(exc, TwilioServiceException):
        message = f"{exc.title}: {exc.detail}" if exc.detail else exc.title
    else:
        message = _SDK_PREFIX.sub("", exc.msg or "")
    retryable = status == 429 or status >= 500
    if status == 401:
        text = (
            f"Twilio did not accept the account SID and auth token (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) "
            f"when trying to {action}: HTTP 401, error {code}: {message}"
        )
    else:
        text = f"Twilio refused to {action}: HTTP {status}, error {code}: {message}"
    return TwilioError(text, status=status, code=code, retryable=retryable)


def _call(action: str, operation: Callable[[], T]) -> T:
    """Run one SDK operation, turning every way it can fail into a ``TwilioError``."""
    try:
        return operation()
    except (TwilioRestException, TwilioServiceException) as exc:
        error = _rest_error(action, exc)
        log.warning("%s", error)
        raise error from exc
    except requests.Timeout as exc:
        timeout = current_app.config.get("TWILIO_TIMEOUT") or DEFAULT_TIMEOUT
        log.warning("Twilio did not answer within %ss when trying to %s", timeout, action)
        raise TwilioError(f"Twilio did not answer within {timeout}s when trying to {action}", retryable=True) from exc
    except requests.RequestException as exc:
        origin = current_app.config.get("TWILIO_API_URL") or DEFAULT_API_URL
        log.warning("Could not reach Twilio at %s to %s: %s", origin, action, type(exc).__name__)
        raise TwilioError(f"Could not reach Twilio at {origin} to {action}: {exc}", retryable=True) from exc
    except json.JSONDecodeError as exc:
        # A 2xx that is not JSON: a proxy's error page, say. Not a success either way.
        raise TwilioError(f"Twilio's answer when trying to {action} was not JSON", retryable=True) from exc
    except TwilioException as exc:
        raise TwilioError(f"Twilio client failed to {action}: {exc}") from exc


def _sid_of(action: str, resource) -> str:
    sid = getattr(resource, "sid", None)
    if not sid:
        raise TwilioError(f"Twilio answered without a SID when trying to {action}")
    return sid


def send_sms(to: str, body: str, status_callback: str | None = None) -> str:
    """Text ``body`` to ``to`` from the desk number; returns the Message SID."""
    sender = _desk_number()
    client = twilio_client()
    action = "send an SMS"
    message = _call(
        action, lambda: client.messages.create(to=to, from_=sender, body=body, status_callback=status_callback)
    )
    sid = _sid_of(action, message)
    log.info("Twilio message %s queued", sid)
    return sid


def place_call(
    to: str,
    twiml: str | None = None,
    url: str | None = None,
    status_callback: str | None = None,
    *,
    status_events: Sequence[str] | None = None,
) -> str:
    """Call ``to`` from the desk number, run by ``twiml`` or by the TwiML at ``url``; returns the Call SID.

    Twilio sends only the ``completed`` status unless ``status_events`` names others
    (``initiated``, ``ringing``, ``answered``).
    """
    if (twiml is None) == (url is None):
        raise ValueError("place_call needs exactly one of twiml or url")
    sender = _desk_number()
    client = twilio_client()
    action = "place a call"
    options = {"status_callback": status_callback}
    if status_events:
        options["status_callback_event"] = list(status_events)
    call = _call(action, lambda: client.calls.create(to=to, from_=sender, twiml=twiml, url=url, **options))
    sid = _sid_of(action, call)
    log.info("Twilio call %s queued", sid)
    return sid


def redirect_call(call_sid: str, twiml: str | None = None, url: str | None = None) -> None:
    """Make the live call ``call_sid`` run ``twiml`` now, or the TwiML Twilio fetches from ``url``."""
    if (twiml is None) == (url is None):
        raise ValueError("redirect_call needs exactly one of twiml or url")
    client = twilio_client()
    changes = {"twiml": twiml} if twiml is not None else {"url": url, "method": "POST"}
    _call(f"redirect call {call_sid}", lambda: client.calls(call_sid).update(**changes))
    log.info("Twilio call %s redirected", call_sid)


def end_call(call_sid: str) -> None:
    """Hang up the call ``call_sid``."""
    client = twilio_client()
    _call(f"end call {call_sid}", lambda: client.calls(call_sid).update(status="completed"))
    log.info("Twilio call %s ended", call_sid)


def webhook_url(path: str) -> str:
    """The absolute URL Twilio should call for ``path``: under ``PUBLIC_URL``, else under this request's host."""
    if not path.startswith("/"):
        path = "/" + path
    public_url = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if public_url:
        return public_url + path
    if not has_request_context():
        # A worker has no request to borrow a host from: Twilio would be told to call nowhere.
        raise TwilioNotConfigured("PUBLIC_URL is not set and there is no request to take the host from")
    return request.url_root.rstrip("/") + path
