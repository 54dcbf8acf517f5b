"""What follows the demo's trips: ratings, comments and the complaints the office handled."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import jdatetime

from accounts.models import User
from crm.models import Subscriber
from demo.places import TEHRAN
from dispatch.models import Booking, BookingStatus
from feedback.models import Complaint, ComplaintEvent, Feedback
from feedback.models import ComplaintCategory as C
from feedback.models import ComplaintStatus as CS

RATING_WEIGHTS = {5: 55, 4: 25, 3: 10, 2: 5, 1: 5}  # most riders are happy; a tenth are not
PRAISE = [
    "راننده خیلی مؤدب بود، ممنون",
    "ماشین تمیز بود و به‌موقع رسید",
    "عالی بود",
    "راننده مسیر را خوب بلد بود",
    "خیلی سریع رسید، دستتان درد نکند",
    "رانندگی آرام و مطمئن",
]
SO_SO = ["کمی دیر رسید ولی بد نبود", "ماشین قدیمی بود", "راننده با تلفن صحبت می‌کرد", "معمولی بود"]
# What an unhappy rider writes, by the complaint it becomes.
GRIEVANCES = {
    C.DRIVER_BEHAVIOUR: ["راننده بداخلاق بود و با صدای بلند با تلفن حرف می‌زد", "راننده در ماشین سیگار کشید"],
    C.VEHICLE_CONDITION: ["کولر ماشین کار نمی‌کرد و صندلی‌ها کثیف بود", "در عقب ماشین باز نمی‌شد"],
    C.FARE_DISPUTE: ["کرایه را بیشتر از مبلغ اعلام‌شده گرفت", "راننده گفت کارت‌خوان ندارد و نقد خواست"],
    C.LATENESS: ["راننده بیست دقیقه دیر رسید", "نیم ساعت منتظر ماندم و به قرارم نرسیدم"],
    C.ROUTE: ["راننده مسیر را بی‌دلیل طولانی کرد", "از اتوبان شلوغ رفت با اینکه گفتم از داخل شهر برود"],
}
# What an agent writes when a customer phones in a complaint.
DESCRIPTIONS = {
    C.DRIVER_BEHAVIOUR: ["مسافر تماس گرفت و گفت راننده با او بی‌احترامی کرده است"],
    C.VEHICLE_CONDITION: ["مسافر از بوی بد و تمیز نبودن داخل خودرو شکایت دارد"],
    C.FARE_DISPUTE: ["مسافر می‌گوید مبلغی بیش از کرایهٔ اعلام‌شده از او گرفته شده است"],
    C.LATENESS: ["خودرو با تأخیر زیاد رسید و مسافر به پرواز نزدیک بود نرسد"],
    C.ROUTE: ["مسافر معتقد است راننده مسیر طولانی‌تری رفته تا کرایه بیشتر شود"],
    C.LOST_PROPERTY: ["مسافر گوشی همراهش را در صندلی عقب جا گذاشته است", "کیف پول مشکی در خودرو جا مانده است",
                      "چتر و یک پاکت مدارک در صندوق عقب جا مانده است", "عینک طبی مسافر در خودرو مانده است"],
    C.AGENT_CONDUCT: ["مسافر می‌گوید اپراتور تلفن را بدون پاسخ قطع کرده است",
                      "اپراتور آدرس را اشتباه ثبت کرده و خودرو به نشانی دیگری رفته است"],
    C.OTHER: ["پیامک تأیید سفر برای مسافر ارسال نشده است", "مسافر درخواست فاکتور رسمی برای شرکت دارد"],
}  # fmt: skip
RESOLUTIONS = {
    C.LOST_PROPERTY: "وسیله پیدا شد و به مسافر تحویل داده شد",
    C.FARE_DISPUTE: "مابه‌التفاوت کرایه به حساب مسافر برگردانده شد",
    C.AGENT_CONDUCT: "موضوع با اپراتور بررسی و آموزش لازم داده شد",
}
DEFAULT_RESOLUTION = "با راننده صحبت شد و تذکر کتبی گرفت؛ از مسافر عذرخواهی شد"
REJECTION = "پس از بررسی مسیر و گزارش راننده، شکایت وارد نبود"
# Share of agent-filed complaints per category: lost property is the office's everyday case.
AGENT_CATEGORY_WEIGHTS = {C.LOST_PROPERTY: 35, C.FARE_DISPUTE: 15, C.LATENESS: 15, C.DRIVER_BEHAVIOUR: 10,
                          C.AGENT_CONDUCT: 10, C.ROUTE: 5, C.OTHER: 10}  # fmt: skip
SEVERITY = {C.DRIVER_BEHAVIOUR: 3, C.OTHER: 1}


def make_feedback(
    rng: random.Random, bookings: list[Booking], subscribers: dict[int, Subscriber], now: datetime
) -> tuple[list[Feedback], dict[int, C]]:
    """Ratings for about 60% of completed trips, and the grievance behind each low one (by id())."""
    rows, grievance = [], {}
    for booking in bookings:
        if booking.status != BookingStatus.COMPLETED or rng.random() >= 0.6:
            continue
        opted_out = subscribers[booking.subscriber_id].sms_opt_out
        channel = rng.choice(["ivr", "agent"]) if opted_out else rng.choices(["sms", "ivr", "agent"], [85, 10, 5])[0]
        requested = booking.completed_at + timedelta(minutes=rng.uniform(5, 15))
        answered = requested + timedelta(minutes=rng.uniform(2, 180))
        row = Feedback(
            booking_id=booking.id,
            subscriber_id=booking.subscriber_id,
            driver_id=booking.driver_id,
            channel=channel,
            status="expired" if requested + timedelta(hours=48) <= now else "requested",
            phone=booking.phone,
            language=subscribers[booking.subscriber_id].language,
            requested_at=requested,
            expires_at=requested + timedelta(hours=48),
            created_at=requested,
        )
        rows.append(row)
        if answered > now:  # the rider has not answered yet
            continue
        rating = rng.choices(list(RATING_WEIGHTS), list(RATING_WEIGHTS.values()))[0]
        row.status, row.rating, row.answered_at = "answered", rating, answered
        if rating <= 2:
            grievance[id(row)] = category = rng.choice(list(GRIEVANCES))
            row.comment = rng.choice(GRIEVANCES[category]) if rng.random() < 0.8 else ""
        elif rng.random() < (0.6 if rating == 3 else 0.3):
            row.comment = rng.choice(SO_SO if rating == 3 else PRAISE)
    return rows, grievance


class ComplaintMaker:
    """Complaints from low ratings and from customers who phoned, each with its handling trail."""

    def __init__(self, rng: random.Random, now: datetime, agents: list[User], supervisor: User):
        self.rng, self.now, self.agents, self.supervisor = rng, now, agents, supervisor
        self.complaints: list[Complaint] = []

    def from_rating(self, feedback: Feedback, category: C) -> None:
        """The complaint a rating of 1 or 2 opens by itself."""
        text = feedback.comment or self.rng.choice(DESCRIPTIONS[category])
        description = f"امتیاز {'۱' if feedback.rating == 1 else '۲'} از ۵: {text}"
        self._open(category, "rating", description, feedback.answered_at, None, feedback.booking_id,
                   feedback.subscriber_id, feedback.driver_id, feedback.id)  # fmt: skip

    def from_phone(self, booking: Booking) -> None:
        """A complaint an agent took down when the customer phoned after the trip."""
        categories = list(AGENT_CATEGORY_WEIGHTS)
        category = self.rng.choices(categories, list(AGENT_CATEGORY_WEIGHTS.values()))[0]
        ended = booking.events[-1].at
        # Lost property is reported within hours; other grievances may take a day or two.
        delay = self.rng.uniform(0.2, 4) if category == C.LOST_PROPERTY else self.rng.uniform(1, 48)
        created = min(ended + timedelta(hours=delay), self.now - timedelta(minutes=self.rng.uniform(5, 60)))
        agent = self.rng.choice(self.agents)
        self._open(category, "phone", self.rng.choice(DESCRIPTIONS[category]), created, agent,
                   booking.id, booking.subscriber_id, booking.driver_id, None)  # fmt: skip

    def _open(self, category, source, description, created, agent, booking_id, subscriber_id, driver_id, feedback_id):
        complaint = Complaint(
            category=category,
            source=source,
            description=description,
            severity=SEVERITY.get(category, 2),
            booking_id=booking_id,
            subscriber_id=subscriber_id,
            driver_id=None if category == C.AGENT_CONDUCT else driver_id,
            agent_id=agent.id if agent else None,
            feedback_id=feedback_id,
            assigned_to_id=self.supervisor.id,
            created_at=created,
            respond_by=created + timedelta(hours=24),
        )
        complaint.events.append(self._event("opened", None, CS.NEW, created, agent))
        # The supervisor picks it up within hours and closes it a day or two later, unless it is
        # still too recent; a few old ones stay under investigation, for the overdue list.
        picked_up = created + timedelta(hours=self.rng.uniform(0.5, 10))
        closed = picked_up + timedelta(hours=self.rng.uniform(2, 60))
        outcome = self.rng.choices([CS.RESOLVED, CS.REJECTED, CS.INVESTIGATING], [80, 12, 8])[0]
        complaint.status = CS.NEW
        if picked_up <= self.now:
            complaint.status = CS.INVESTIGATING
            complaint.events.append(
                self._event("status", CS.NEW, CS.INVESTIGATING, picked_up, self.supervisor, "در حال بررسی")
            )
        if closed <= self.now and outcome != CS.INVESTIGATING:
            resolution = REJECTION if outcome == CS.REJECTED else RESOLUTIONS.get(category, DEFAULT_RESOLUTION)
            complaint.status, complaint.resolved_at, complaint.resolution = outcome, closed, resolution
            complaint.events.append(
                self._event("status", CS.INVESTIGATING, outcome, closed, self.supervisor, resolution)
            )
        self.complaints.append(complaint)

    @staticmethod
    def _event(action, from_status, to_status, at, user, note="") -> ComplaintEvent:
        return ComplaintEvent(
            action=action,
            from_status=from_status,
            to_status=to_status,
            at=at,
            user_id=user and user.id,
            note=note,
        )

    def leave_the_newest_waiting(self) -> None:
        """Leave the most recent complaint new (not yet picked up), so the demo log always shows one waiting."""
        if not self.complaints or any(c.status == CS.NEW for c in self.complaints):
            return
        newest = max(self.complaints, key=lambda c: c.created_at)
        newest.events[:] = newest.events[:1]
        newest.status, newest.resolved_at, newest.resolution = CS.NEW, None, ""

    def number_lost_property(self) -> None:
        """Give lost-property cases their references, LP-<Persian year>-<number within that year>."""
        counters: dict[int, int] = {}
        lost = [c for c in self.complaints if c.category == C.LOST_PROPERTY]
        for complaint in sorted(lost, key=lambda c: c.created_at):
            year = jdatetime.date.fromgregorian(date=complaint.created_at.astimezone(TEHRAN).date()).year
            counters[year] = counters.get(year, 0) + 1
            complaint.reference = f"LP-{year}-{counters[year]:04d}"
