"""Settings read from the environment: the one place Cabdesk reads ``os.environ``.

The defaults give the embedded single-machine setup (a SQLite file under ``instance/`` and the
Redis server that ``make demo`` starts); production chooses PostgreSQL, a shared Redis and the
message queue through the same variables.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from core.timewindows import parse_windows

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_PATH = PROJECT_ROOT / "instance"

# The Redis server `make demo` starts listens here: not 6379, so that a system Redis is left alone.
DEMO_REDIS_PORT = 6479
LOCALES = ("fa", "en")


class ConfigError(ValueError):
    """A setting in the environment that Cabdesk cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not value >= minimum:  # also refuses NaN
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _shares(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        percents = [float(part) for part in raw.split(",")]
    except ValueError:
        raise ConfigError(f"{name} must be three percentages like 5,15,30, not {raw!r}") from None
    if len(percents) != 3 or any(not 0 <= p <= 100 for p in percents) or sum(percents) > 100:
        raise ConfigError(f"{name} must be three percentages adding up to at most 100, not {raw!r}")
    return tuple(p / 100 for p in percents)


def _office_hours(env: Mapping[str, str]) -> str:
    return _windows(env, "OFFICE_HOURS", "00:00-24:00") or "00:00-24:00"


def _windows(env: Mapping[str, str], name: str, default: str) -> str:
    """Windows of the office clock ("22:00-08:00"); set but empty means none."""
    raw = env.get(name, default).strip()
    if not raw:
        return ""
    try:
        parse_windows(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return raw


def _secret_key(env: Mapping[str, str], instance_path: Path) -> str:
    """The session-signing key: from SECRET_KEY, else one generated once and kept in instance/."""
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        # Written with 0600 so the key is not readable by other local users.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


# The wallboard's amber and red marks: a figure past amber shows amber, past red shows red. For the service
# level, lower is worse, so its marks count down.
WALLBOARD_THRESHOLDS = {
    "longest_wait": (60.0, 120.0),  # seconds the oldest waiting call has waited
    "service_level": (80.0, 70.0),  # % answered within SERVICE_LEVEL_SECONDS
    "abandoned": (5.0, 10.0),  # % of calls abandoned
    "asa": (20.0, 40.0),  # average speed of answer, seconds
    "sla_breaches": (1.0, 5.0),  # open complaints past their first-response promise
}


def _thresholds(env: Mapping[str, str]) -> dict[str, tuple[float, float]]:
    """WALLBOARD_THRESHOLDS: "longest_wait=60/120,service_level=80/70"; figures not named keep their defaults."""
    name = "WALLBOARD_THRESHOLDS"
    marks = dict(WALLBOARD_THRESHOLDS)
    for part in filter(None, (p.strip() for p in env.get(name, "").split(","))):
        figure, _, pair = part.partition("=")
        figure = figure.strip()
        if figure not in marks:
            raise ConfigError(f"{name}: {figure!r} is not a wallboard figure ({', '.join(marks)})")
        try:
            amber, red = (float(x) for x in pair.split("/"))
        except ValueError:
            raise ConfigError(f"{name}: {figure} needs amber/red numbers like 60/120, not {pair!r}") from None
        # The service level gets worse downwards, every other figure upwards; red must be the worse mark.
        if (red > amber) if figure == "service_level" else (red < amber):
            raise ConfigError(f"{name}: {figure}'s red mark {red:g} is not worse than its amber mark {amber:g}")
        marks[figure] = (amber, red)
    return marks


def load_config(env: Mapping[str, str] | None = None, instance_path: Path | None = None) -> dict:
    """Build the Flask configuration mapping from environment variables."""
    env = os.environ if env is None else env
    instance_path = instance_path or Path(env.get("CABDESK_INSTANCE", INSTANCE_PATH))

    locale = env.get("DEFAULT_LOCALE", "fa").strip() or "fa"
    if locale not in LOCALES:
        raise ConfigError(f"DEFAULT_LOCALE must be one of {', '.join(LOCALES)}, not {locale!r}")

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'cabdesk.sqlite3'}"
    redis_url = env.get("REDIS_URL") or f"redis://127.0.0.1:{DEMO_REDIS_PORT}/0"
    public_url = env.get("PUBLIC_URL", "").rstrip("/")

    return {
        "SECRET_KEY": _secret_key(env, instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        # Every process (web and RQ workers) shares Socket.IO events through Redis.
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "TWILIO_ACCOUNT_SID": env.get("TWILIO_ACCOUNT_SID", ""),
        "TWILIO_AUTH_TOKEN": env.get("TWILIO_AUTH_TOKEN", ""),
        "TWILIO_NUMBER": env.get("TWILIO_NUMBER", ""),
        "TWILIO_API_URL": env.get("TWILIO_API_URL", "https://api.twilio.com").rstrip("/"),
        "TWILIO_TIMEOUT": _float(env, "TWILIO_TIMEOUT", 10.0, minimum=0.1),
        "PUBLIC_URL": public_url,
        "GEOCODER_URL": env.get("GEOCODER_URL", ""),
        "GEOCODER_KIND": env.get("GEOCODER_KIND", "").strip().lower(),
        "GEOCODER_TIMEOUT": _float(env, "GEOCODER_TIMEOUT", 3.0, minimum=0.1),
        "GEOCODER_MIN_DELAY": _float(env, "GEOCODER_MIN_DELAY", 1.0),
        "GEOCODER_CACHE_TTL": _int(env, "GEOCODER_CACHE_TTL", 7 * 24 * 3600),
        "SERVICE_AREA_KM": _float(env, "SERVICE_AREA_KM", 60.0, minimum=1.0),
        "ZONE_CACHE_SECONDS": _int(env, "ZONE_CACHE_SECONDS", 300),
        # Map tiles for the console (e.g. an office tile server); empty: the map shows zones only.
        "MAP_TILE_URL": env.get("MAP_TILE_URL", ""),
        "MAP_TILE_ATTRIBUTION": env.get("MAP_TILE_ATTRIBUTION", ""),
        "ROUTING_URL": env.get("ROUTING_URL", ""),
        # Seconds to wait for the routing server before the fare engine estimates the route itself.
        "ROUTING_TIMEOUT": _float(env, "ROUTING_TIMEOUT", 2.0, minimum=0.1),
        "DEFAULT_REGION": env.get("DEFAULT_REGION", "IR").upper(),
        "DEFAULT_LOCALE": locale,
        "FEEDBACK_DELAY": _int(env, "FEEDBACK_DELAY", 600),
        # No feedback texts or calls in these hours (office clock); requests falling in them wait until the end.
        "FEEDBACK_QUIET_HOURS": _windows(env, "FEEDBACK_QUIET_HOURS", "22:00-08:00"),
        # A feedback request left unanswered this long is closed; a late reply is then logged, not counted.
        "FEEDBACK_EXPIRY_HOURS": _int(env, "FEEDBACK_EXPIRY_HOURS", 48, minimum=1),
        # The first-response promise for a new complaint, and the driver flag: N complaints in 30 days.
        "COMPLAINT_RESPONSE_HOURS": _int(env, "COMPLAINT_RESPONSE_HOURS", 24, minimum=1),
        "COMPLAINT_FLAG_COUNT": _int(env, "COMPLAINT_FLAG_COUNT", 3, minimum=1),
        # Contact-centre figures: a call counts as answered in time within SERVICE_LEVEL_SECONDS of joining the
        # queue; a caller who hangs up within SHORT_ABANDON_SECONDS is not counted at all (a misdial).
        "SERVICE_LEVEL_SECONDS": _int(env, "SERVICE_LEVEL_SECONDS", 20, minimum=1),
        "SHORT_ABANDON_SECONDS": _int(env, "SHORT_ABANDON_SECONDS", 5),
        "WALLBOARD_THRESHOLDS": _thresholds(env),
        # Drivers' papers: listed for the office and texted to the driver this many days before they expire.
        "DOCUMENT_REMINDER_DAYS": _int(env, "DOCUMENT_REMINDER_DAYS", 14, minimum=1),
        # The commission plan (its code) of drivers without a contract; empty: no commission without a contract.
        "DEFAULT_COMMISSION_PLAN": env.get("DEFAULT_COMMISSION_PLAN", "").strip().lower(),
        "OFFICE_TIMEZONE": env.get("OFFICE_TIMEZONE", "Asia/Tehran"),
        # When the desk answers calls, on the office clock; outside them callers get voicemail or a call-back.
        "OFFICE_HOURS": _office_hours(env),
        "DESK_QUEUE": env.get("DESK_QUEUE", "desk"),
        # After this many seconds in the queue a caller is offered the voicemail / call-back menu (0: never).
        "QUEUE_MAX_WAIT": _int(env, "QUEUE_MAX_WAIT", 300),
        # Each web process checks the database, Redis and the workers this often and tells its open consoles,
        # boards and wallboards what is down (0: never).
        "HEALTH_WATCH_SECONDS": _int(env, "HEALTH_WATCH_SECONDS", 5),
        # Recorded prompts, {base}/{language}/{prompt}.mp3; without them Twilio's text-to-speech reads the text.
        "PROMPT_AUDIO_URL": env.get("PROMPT_AUDIO_URL", "").rstrip("/"),
        "HOLD_MUSIC_URL": env.get("HOLD_MUSIC_URL", ""),
        # Twilio Voice JavaScript SDK in the agent's browser: an API key and a TwiML app of the account.
        "TWILIO_API_KEY_SID": env.get("TWILIO_API_KEY_SID", ""),
        "TWILIO_API_KEY_SECRET": env.get("TWILIO_API_KEY_SECRET", ""),
        "TWILIO_TWIML_APP_SID": env.get("TWILIO_TWIML_APP_SID", ""),
        # The customer pyramid: % of travelling subscribers in platinum, gold and iron (the rest: lead).
        "TIER_SHARES": _shares(env, "TIER_SHARES", (0.05, 0.15, 0.30)),
        "TIER_WINDOW_DAYS": _int(env, "TIER_WINDOW_DAYS", 365, minimum=1),
        "TIER_LAPSE_DAYS": _int(env, "TIER_LAPSE_DAYS", 180, minimum=1),
        # The loyalty rule the fare engine applies: every Nth completed trip gets a discount (0: off).
        "LOYALTY_EVERY_NTH_TRIP": _int(env, "LOYALTY_EVERY_NTH_TRIP", 0),
        "LOYALTY_DISCOUNT_PERCENT": _int(env, "LOYALTY_DISCOUNT_PERCENT", 0),
        "CURRENCY": env.get("CURRENCY", "IRR").upper(),
        # Dispatch, as the office chooses: "nearest" (by estimated arrival) or "queue_first" (the pickup zone's
        # stand queue, then the nearest), how long a driver has to answer an offer, and the queue's manners.
        "DISPATCH_MODE": _choice(env, "DISPATCH_MODE", "queue_first", ("nearest", "queue_first")),
        "OFFER_TIMEOUT": _int(env, "OFFER_TIMEOUT", 20, minimum=5),
        "QUEUE_TRIES": _int(env, "QUEUE_TRIES", 3),
        "DISPATCH_RADIUS_KM": _float(env, "DISPATCH_RADIUS_KM", 15.0, minimum=0.5),
        "DECLINE_LOSES_QUEUE_PLACE": _flag(env, "DECLINE_LOSES_QUEUE_PLACE", False),
        "KEEP_QUEUE_PLACE_AFTER_STREET_JOB": _flag(env, "KEEP_QUEUE_PLACE_AFTER_STREET_JOB", True),
        "PREBOOKING_LEAD_MINUTES": _int(env, "PREBOOKING_LEAD_MINUTES", 15, minimum=1),
        "DRIVER_STALE_SECONDS": _int(env, "DRIVER_STALE_SECONDS", 120, minimum=10),
        "LOGIN_MAX_FAILURES": _int(env, "LOGIN_MAX_FAILURES", 5, minimum=1),
        "LOGIN_LOCKOUT_SECONDS": _int(env, "LOGIN_LOCKOUT_SECONDS", 900, minimum=1),
        # Cookies travel only over HTTPS when the office publishes Cabdesk over HTTPS.
        "SESSION_COOKIE_SECURE": public_url.startswith("https://"),
        "REMEMBER_COOKIE_SECURE": public_url.startswith("https://"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": locale,
        "BABEL_DEFAULT_TIMEZONE": env.get("OFFICE_TIMEZONE", "Asia/Tehran"),
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "translations"),
        "WTF_CSRF_TIME_LIMIT": None,
        "INSTANCE_PATH": str(instance_path),
    }
