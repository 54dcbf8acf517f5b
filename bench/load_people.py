"""The load run's people: agents at their consoles, the dispatcher's boards, Twilio, drivers' phones and passengers.

Everything here talks to the web processes over HTTP and Socket.IO only, as browsers, phones and Twilio do. The
times are wall-clock (``time.time()``), so that the positions process and the Twilio stand-in's thread agree with
them. A Socket.IO event is stamped when its websocket frame is read (before python-socketio hands it to a thread of
its own, which on a busy machine can add tens of milliseconds that are the client's, not the server's).
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import requests
import socketio

from bench.dispatch_bench import Scheduler
from tests.support.twilio_stub import TwilioStub, new_sid
from tests.support.twilio_webhooks import (
    DESK_NUMBER,
    call_status_params,
    incoming_call_params,
    incoming_sms_params,
    signature_for,
)

HEARTBEAT_SECONDS = 30  # as the console's script (agents/events.py: three missed beats and the agent is offline)
POP_WAIT = 20.0  # a call with no screen pop by then is hung up (and counted)
RATINGS = (5, 5, 5, 5, 4, 4, 4, 3, 2, 1)  # most passengers are content
COMPLAINTS = ("driver was rude", "راننده بی ادب بود", "car was dirty and late", "دیر رسید")
_CALLER = re.compile(r'"caller_e164":\s*"(\+\d+)"')
_OFFER_ID = re.compile(r'[{,]\s*"id":\s*(\d+)')


class Recorder:
    """Times by name (only those started after the warm-up), counts, and every error with a few samples."""

    def __init__(self, measure_from: float):
        self.measure_from = measure_from
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.counts: Counter = Counter()
        self.errors: Counter = Counter()
        self.samples: dict[str, list[str]] = {}

    def time(self, name: str, started: float, seconds: float) -> None:
        """Keep one measured time, if it started after the warm-up."""
        if started >= self.measure_from:
            with self.lock:
                self.times.setdefault(name, []).append(seconds)

    def count(self, name: str, n: int = 1) -> None:
        """Count something that happened (not an error)."""
        with self.lock:
            self.counts[name] += n

    def error(self, kind: str, detail: str = "") -> None:
        """Count an error of this kind, keeping the first few details."""
        with self.lock:
            self.errors[kind] += 1
            kept = self.samples.setdefault(kind, [])
            if detail and len(kept) < 3:
                kept.append(f"{time.strftime('%H:%M:%S')} {detail[:400]}")

    def http(self, name: str, started: float, outcome, expected=(200,)):
        """Record a response (or the exception instead of one); the response when its status was expected."""
        if isinstance(outcome, Exception):
            self.error(f"{name}: {type(outcome).__name__}", repr(outcome))
            return None
        self.count(f"{name} {outcome.status_code}")
        if outcome.status_code in expected:
            self.time(name, started, time.time() - started)
            return outcome
        kind = "5xx" if outcome.status_code >= 500 else "unexpected 4xx" if outcome.status_code >= 400 else "other"
        detail = f"{outcome.request.method} {outcome.request.path_url} → {outcome.status_code} {outcome.text[:300]}"
        self.error(f"{name}: {kind} ({outcome.status_code})", detail)
        return None


class Work:
    """Calls due later, run by a thread pool; counts what is scheduled or running so that the run can drain."""

    def __init__(self, recorder: Recorder, threads: int):
        self.recorder = recorder
        self.scheduler = Scheduler(threads)
        self.lock = threading.Lock()
        self.outstanding = 0

    def later(self, delay: float, call, *args, counted: bool = True) -> None:
        """Run ``call(*args)`` in ``delay`` seconds; ``counted=False`` for what never ends (heartbeats)."""
        if counted:
            with self.lock:
                self.outstanding += 1
        self.scheduler.at(time.perf_counter() + max(0.0, delay), self._run, call, args, counted)

    def _run(self, call, args, counted: bool) -> None:
        try:
            call(*args)
        except Exception as exc:  # a bug of the benchmark's own: counted, never silent
            self.recorder.error(f"load generator: {type(exc).__name__}", repr(exc))
        finally:
            if counted:
                with self.lock:
                    self.outstanding -= 1

    def close(self) -> None:
        """Drop what is not due, finish what runs."""
        self.scheduler.close()


class Page:
    """One member of staff's page on one web process: a logged-in session and its Socket.IO connection."""

    namespace = "/"

    def __init__(self, recorder: Recorder, base_url: str, username: str, password: str):
        self.recorder, self.base_url, self.username = recorder, base_url, username
        self.label = f"{username}@{base_url.rsplit(':', 1)[1]}"
        self.http = requests.Session()
        # A new connection a request, as Twilio does: straight to gunicorn (no nginx in between), reusing a connection
        # idle for 2 s races gunicorn's keep-alive timeout and is reset (seen once in the first full run).
        self.http.headers["Connection"] = "close"
        self.closing = False
        self.ready = threading.Event()
        token = self._token("/login")
        self.http.post(
            f"{base_url}/login", data={"username": username, "password": password, "csrf_token": token}, timeout=30
        )
        self.csrf = self._token("/")
        self.client = socketio.Client(reconnection=False)
        self.client.on("disconnect", self._disconnected, namespace=self.namespace)
        self.client.on("snapshot", lambda *_: self.ready.set(), namespace=self.namespace)

    def _token(self, path: str) -> str:
        page = self.http.get(self.base_url + path, timeout=30)
        found = re.search(r'name="csrf-token" content="([^"]+)"', page.text) or re.search(
            r'name="csrf_token"[^>]*value="([^"]+)"', page.text
        )
        if not found:
            raise RuntimeError(f"{self.label}: no CSRF token on {path} ({page.status_code} {page.url})")
        return found[1]

    def connect(self) -> None:
        """Open the live channel with the session's cookie (websocket), and stamp the frames as they are read."""
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        headers = {"Cookie": cookie, "User-Agent": self.http.headers["User-Agent"]}
        self.client.connect(
            self.base_url, namespaces=[self.namespace], transports=["websocket"], headers=headers, wait_timeout=30
        )
        receive = self.client.eio._receive_packet

        def stamped(packet):
            if isinstance(packet.data, str):
                self.on_frame(packet.data, time.time())
            return receive(packet)

        self.client.eio._receive_packet = stamped
        if not self.ready.wait(30):
            raise RuntimeError(f"{self.label}: no snapshot on {self.namespace}")

    def on_frame(self, data: str, now: float) -> None:
        """A frame was read (subclasses stamp the events they time)."""

    def _disconnected(self, *reason) -> None:
        if not self.closing:
            self.recorder.error("socket disconnect", f"{self.label} {reason}")

    def post(self, name: str, path: str, body: dict, expected=(200,)):
        """A JSON POST from the page's script (cookie and CSRF header), recorded under ``name``."""
        started = time.time()
        try:
            outcome = self.http.post(self.base_url + path, json=body, headers={"X-CSRFToken": self.csrf}, timeout=60)
        except Exception as exc:
            outcome = exc
        return self.recorder.http(name, started, outcome, expected)

    def close(self) -> None:
        """Disconnect on purpose."""
        self.closing = True
        with contextlib.suppress(Exception):  # already gone: nothing to close
            self.client.disconnect()
        self.http.close()


class Console(Page):
    """An agent's call console: pops every waiting call."""

    namespace = "/console"

    def __init__(self, desk: Desk, base_url: str, username: str, password: str):
        super().__init__(desk.recorder, base_url, username, password)
        self.desk = desk
        self.frames: dict[str, float] = {}
        self.client.on("call_waiting", self._waiting, namespace=self.namespace)

    def on_frame(self, data: str, now: float) -> None:
        if data.startswith('2/console,["call_waiting"'):
            found = _CALLER.search(data)
            if found:
                self.frames.setdefault(found[1], now)

    def _waiting(self, card) -> None:
        now = time.time()
        seen = self.frames.pop(card.get("caller_e164"), now)
        self.desk.popped(self, card, seen)

    def heartbeat(self) -> None:
        """What the console's script sends every 30 s."""
        try:
            self.client.emit("heartbeat", namespace=self.namespace)
        except Exception as exc:
            self.recorder.error("socket heartbeat", f"{self.label} {exc!r}")


class Board(Page):
    """The dispatch board, where the phones learn of offers (the drivers' push channel, as the board sees it)."""

    namespace = "/dispatch"

    def __init__(self, phones: Phones, base_url: str, username: str, password: str):
        super().__init__(phones.recorder, base_url, username, password)
        self.phones = phones
        self.frames: dict[int, float] = {}
        self.client.on("offer", self._offer, namespace=self.namespace)

    def on_frame(self, data: str, now: float) -> None:
        if data.startswith('2/dispatch,["offer"'):
            found = _OFFER_ID.search(data)
            if found:
                self.frames.setdefault(int(found[1]), now)

    def _offer(self, offer) -> None:
        seen = self.frames.pop(offer["id"], time.time())
        self.phones.saw_offer(offer["id"], offer["booking_id"], offer["driver_id"], seen)


class Twilio:
    """Webhooks as Twilio posts them: form-encoded, signed for the URL, a new connection each time."""

    def __init__(self, recorder: Recorder, auth_token: str):
        self.recorder, self.auth_token = recorder, auth_token
        self.local = threading.local()

    def post(self, name: str, url: str, params: dict[str, str], expected=(200,)):
        """POST signed; recorded under ``name``."""
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        headers = {"X-Twilio-Signature": signature_for(url, params, self.auth_token), "Connection": "close"}
        started = time.time()
        try:
            outcome = session.post(url, data=params, headers=headers, timeout=60)
        except Exception as exc:
            outcome = exc
        return self.recorder.http(name, started, outcome, expected)


@dataclass
class CallRecord:
    number: int
    sid: str
    e164: str
    web: int  # the web process Twilio posted the incoming-call webhook to
    book: bool
    sent: float = 0.0
    id: int | None = None
    pops: dict[str, float] = field(default_factory=dict)  # console label → when its frame was read
    consoles: int = 0  # consoles open when the call came in
    agent: Console | None = None
    booking_id: int | None = None
    done: bool = False


class Desk:
    """The calls: Twilio rings the desk, consoles pop, a free agent answers, books or not, the caller hangs up."""

    def __init__(self, recorder: Recorder, work: Work, twilio: Twilio, stub: TwilioStub, urls, rng, points):
        self.recorder, self.work, self.twilio, self.stub, self.urls, self.rng = recorder, work, twilio, stub, urls, rng
        self.points = points  # an iterator of (pickup, dropoff)
        self.consoles: list[Console] = []
        self.lock = threading.Lock()
        self.idle: deque[Console] = deque()
        self.waiting: deque[CallRecord] = deque()
        self.by_caller: dict[str, CallRecord] = {}
        self.calls: list[CallRecord] = []
        self.bookings: dict[int, tuple[float, float]] = {}  # booking id → when its POST was sent, its 201 read

    def open(self, console: Console) -> None:
        """An agent at the console, free."""
        self.consoles.append(console)
        self.idle.append(console)

    def heartbeats(self) -> None:
        """Every console beats every 30 s, spread over the 30 s."""
        for number, console in enumerate(self.consoles):
            self.work.later(HEARTBEAT_SECONDS * number / max(1, len(self.consoles)), self._beat, console, counted=False)

    def _beat(self, console: Console) -> None:
        if not console.closing:
            console.heartbeat()
            self.work.later(HEARTBEAT_SECONDS, self._beat, console, counted=False)

    def ring(self, number: int, e164: str) -> None:
        """Twilio posts a new call to the desk number (alternating web processes)."""
        call = CallRecord(number, new_sid("CA"), e164, number % len(self.urls), self.rng.random() < self.book_share)
        self.stub.add_call(call.sid, from_=e164, to=DESK_NUMBER)
        with self.lock:
            self.calls.append(call)
            self.by_caller[e164] = call
            call.consoles = sum(1 for console in self.consoles if not console.closing)
        params = incoming_call_params(call.sid, from_=e164)
        call.sent = time.time()
        url = self.urls[call.web] + "/telephony/voice/incoming"
        response = self.twilio.post("incoming-call webhook", url, params)
        if response is not None and "<Enqueue" not in response.text:
            self.recorder.error("incoming call not queued", response.text[:300])
        self.work.later(POP_WAIT, self._no_pop, call)

    book_share = 0.6

    def popped(self, console: Console, card: dict, seen: float) -> None:
        """A console shows a waiting call; the first one to do so hands the call to a free agent."""
        with self.lock:
            call = self.by_caller.get(card.get("caller_e164"))
            if call is None or call.id not in (None, card.get("id")):
                self.recorder.error("screen pop of an unknown call", str(card.get("id")))
                return
            if console.label in call.pops:
                self.recorder.error("screen pop twice on one console", f"call {card.get('id')} {console.label}")
                return
            call.pops[console.label] = seen
            if call.id is not None:
                return
            call.id = card["id"]
            agent = self.idle.popleft() if self.idle else None
            if agent is None:
                self.waiting.append(call)
                return
            call.agent = agent
        self.work.later(self.rng.uniform(2, 5), self._answer, call)

    def _no_pop(self, call: CallRecord) -> None:
        if call.id is None:
            self.recorder.error("no screen pop", f"{call.sid} from {call.e164}, {POP_WAIT:.0f} s after the webhook")
            self._hang_up(call)

    def _answer(self, call: CallRecord) -> None:
        agent = call.agent
        if agent.post("answer", f"/console/calls/{call.id}/answer", {}) is None:
            self._hang_up(call)
            return
        # Twilio tells the desk the agent's line picked up (the Dial's status callback), to either web process.
        url = self.urls[(call.web + 1) % len(self.urls)] + f"/telephony/voice/agent-answered?call={call.id}"
        params = call_status_params(new_sid("CA"), "in-progress", from_=DESK_NUMBER, to=f"client:agent-{call.id}")
        params["ParentCallSid"] = call.sid
        self.twilio.post("agent-answered webhook", url, params)
        self.work.later(self.rng.uniform(4, 10), self._book if call.book else self._hang_up, call)

    def _book(self, call: CallRecord) -> None:
        pickup, dropoff = next(self.points)
        body = {
            "phone": call.e164,
            "pickup": {"lat": pickup[0], "lon": pickup[1], "text": "load run pickup"},
            "dropoff": {"lat": dropoff[0], "lon": dropoff[1], "text": "load run dropoff"},
            "call_id": call.id,
        }
        sent = time.time()
        response = call.agent.post("booking POST", "/api/bookings", body, expected=(201,))
        if response is not None:
            call.booking_id = response.json()["id"]
            with self.lock:
                self.bookings[call.booking_id] = (sent, time.time())
        self.work.later(self.rng.uniform(1, 4), self._hang_up, call)

    def _hang_up(self, call: CallRecord) -> None:
        """The caller hangs up: Twilio's status callback (completed), to the other web process."""
        self.stub.set_call_status(call.sid, "completed")
        url = self.urls[(call.web + 1) % len(self.urls)] + "/telephony/voice/status"
        params = call_status_params(call.sid, "completed", from_=call.e164, call_duration=30)
        self.twilio.post("call-status webhook", url, params)
        if call.agent is not None:
            self.work.later(self.rng.uniform(1, 3), self._wrap_up, call)
        else:
            call.done = True

    def _wrap_up(self, call: CallRecord) -> None:
        disposition = "booked" if call.booking_id else "enquiry"
        call.agent.post("wrap-up", f"/console/calls/{call.id}/wrap-up", {"disposition": disposition})
        call.done = True
        with self.lock:
            following = self.waiting.popleft() if self.waiting else None
            if following is None:
                self.idle.append(call.agent)
            else:
                following.agent = call.agent
        if following is not None:
            self.work.later(self.rng.uniform(1, 3), self._answer, following)


class Phones:
    """The drivers' phones: hear of an offer, accept most after 2–8 s (decline some), then drive the trip."""

    decline_share = 0.1

    def __init__(self, recorder: Recorder, work: Work, urls: list[str], tokens: dict[int, str], rng):
        self.recorder, self.work, self.urls, self.tokens, self.rng = recorder, work, urls, tokens, rng
        self.lock = threading.Lock()
        self.offers_seen: set[int] = set()
        self.first_offer: dict[int, float] = {}  # booking id → when a board first showed an offer of it
        self.local = threading.local()

    def saw_offer(self, offer_id: int, booking_id: int, driver_id: int, seen: float) -> None:
        """A board shows an offer: the driver's phone rings (once, whichever board showed it first)."""
        with self.lock:
            if offer_id in self.offers_seen:
                return
            self.offers_seen.add(offer_id)
            self.first_offer.setdefault(booking_id, seen)
        action = "decline" if self.rng.random() < self.decline_share else "accept"
        self.work.later(self.rng.uniform(2, 8), self._answer, action, offer_id, booking_id, driver_id)

    def _post(self, name: str, driver_id: int, path: str, body: dict):
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        url = self.urls[driver_id % len(self.urls)] + path
        headers = {"Authorization": f"Bearer {self.tokens[driver_id]}", "Connection": "close"}  # as Page's
        started = time.time()
        try:
            outcome = session.post(url, json=body, headers=headers, timeout=60)
        except Exception as exc:
            outcome = exc
        return self.recorder.http(name, started, outcome)

    def _answer(self, action: str, offer_id: int, booking_id: int, driver_id: int) -> None:
        if self._post(f"offer {action}", driver_id, f"/api/offers/{offer_id}/{action}", {}) is None:
            return
        if action == "accept":
            self.work.later(self.rng.uniform(5, 10), self._progress, booking_id, driver_id, "arrived")

    def _progress(self, booking_id: int, driver_id: int, status: str) -> None:
        # The driver's page offers the next step once this one is answered: a slow answer delays the trip, it never
        # sends "on trip" ahead of "arrived" (timers set at the accept did, and the server rightly refused them).
        path = f"/api/bookings/{booking_id}/progress"
        if self._post("trip progress", driver_id, path, {"status": status}) is None:
            return
        if status == "arrived":
            self.work.later(self.rng.uniform(3, 8), self._progress, booking_id, driver_id, "on_trip")
        elif status == "on_trip":
            self.work.later(self.rng.uniform(20, 40), self._progress, booking_id, driver_id, "completed")


class Passengers:
    """Passengers texted a feedback request answer most of them: a rating, sometimes with a complaint."""

    reply_share = 0.9

    def __init__(self, recorder: Recorder, work: Work, twilio: Twilio, urls: list[str], pattern, rng):
        self.recorder, self.work, self.twilio, self.urls, self.pattern, self.rng = (
            recorder,
            work,
            twilio,
            urls,
            pattern,
            rng,
        )
        self.lock = threading.Lock()
        self.requests: dict[int, int] = Counter()  # booking id → feedback requests texted
        self.replies: list[dict] = []

    def text_sent(self, sid: str, to: str, body: str) -> None:
        """The Twilio stand-in took a text (called in its thread): a feedback request gets an answer, later."""
        from bench.load_office import booking_number

        found = self.pattern.search(body)
        if not found:
            return
        booking = booking_number(found)
        with self.lock:
            self.requests[booking] += 1
            if self.requests[booking] > 1:
                self.recorder.error("feedback request texted twice", f"booking {booking} to {to}")
                return
        if self.rng.random() < self.reply_share:
            self.work.later(self.rng.uniform(3, 10), self._reply, booking, to)

    def _reply(self, booking: int, phone: str) -> None:
        rating = self.rng.choice(RATINGS)
        body = str(rating)
        if rating <= 2 and self.rng.random() < 0.6:
            body = f"{rating} {self.rng.choice(COMPLAINTS)}"
        elif self.rng.random() < 0.3:
            body = "۰۱۲۳۴۵۶۷۸۹"[rating]  # in Persian digits
        params = incoming_sms_params(from_=phone, body=body)
        number = len(self.replies)
        url = self.urls[number % len(self.urls)] + "/telephony/sms/incoming"
        reply = {"sid": params["MessageSid"], "booking": booking, "rating": rating, "body": body, "ok": False}
        with self.lock:
            self.replies.append(reply)
        reply["ok"] = self.twilio.post("SMS reply webhook", url, params) is not None


class WatchedStub(TwilioStub):
    """The Twilio stand-in, telling ``on_message(sid, to, body)`` of every text it accepts."""

    on_message = None

    def _create_message(self, record):
        status, message = super()._create_message(record)
        if self.on_message is not None:
            self.on_message(message["sid"], message["to"], message["body"])
        return status, message


def shuffled_callers(callers: list, rng: random.Random):
    """The subscribers in a random order, again and again: no caller rings twice until all have rung."""
    while True:
        order = list(callers)
        rng.shuffle(order)
        yield from order
