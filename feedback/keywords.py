"""Phrases that suggest what a complaint is about, and how serious it sounds, in Persian and English."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from core.text import normalize_persian

# The order breaks ties between categories with as many matched phrases.
CATEGORIES = (
    "driver_behaviour",
    "vehicle_condition",
    "fare_dispute",
    "lateness",
    "route",
    "lost_property",
    "agent_conduct",
    "other",
)
# Their names for people, with the msgids of templates/_labels.html so one translation serves every page.
CATEGORY_NAMES = {
    "driver_behaviour": _l("driver behaviour"),
    "vehicle_condition": _l("vehicle condition"),
    "fare_dispute": _l("fare dispute"),
    "lateness": _l("lateness"),
    "route": _l("route"),
    "lost_property": _l("lost property"),
    "agent_conduct": _l("agent conduct"),
    "other": _l("other"),
}

# What may follow a phrase's last word, so "rude" finds "rudely" and "مسیر" finds "مسیرش" but "late" not "later",
# "دیر" not "دیروز" and "کیف" not "کیفیت". Persian suffixes written apart (with a ZWNJ or a space) are words anyway.
_PERSIAN_SUFFIXES = "ها های ان ی ای یی ه م ت ش مان تان شان ند یم ید تر ترین"
_SUFFIXES = {
    "en": ("", "s", "es", "d", "ed", "ly", "y", "ing", "ment", "ness", "en", "ened", "ening"),
    "fa": ("", *_PERSIAN_SUFFIXES.split()),
}
# A Persian phrase this short hides inside too many words ("بو" in "بوم", "گم" in "گمان"): it must be the whole word.
_SHORT = 2
_APOSTROPHES = frozenset("'’‘`ʼ")
_TATWEEL = "\u0640"

# Ties: a text naming the operator is about the operator even when its other words ("rude") fit a driver;
# a lost item is the most urgent to act on; then the rest, most specific first.
TIE_ORDER = (
    "agent_conduct",
    "lost_property",
    "driver_behaviour",
    "fare_dispute",
    "lateness",
    "vehicle_condition",
    "route",
    "other",
)


@dataclass(frozen=True)
class KeywordRule:
    """A phrase that, found in a complaint, suggests its category and severity."""

    category: str  # one of CATEGORIES; any other ranks after them all
    phrase: str
    language: str  # "fa" or "en": which suffixes the phrase's last word may take; any other takes none
    severity: int = 2  # 1 low, 2 normal, 3 high


@dataclass(frozen=True)
class Suggestion:
    """The category a complaint's text points to, how serious it sounds, and the phrases that said so."""

    category: str
    severity: int
    phrases: tuple[str, ...]


# (category, language, severity, phrases). Each phrase folds to a different string, as the office's own keywords,
# stored folded, must; "بی ادب" then also finds "بی‌ادب" and "بي ادب".
_TABLE = (
    ("driver_behaviour", "fa", 2, ("بی ادب", "بیادب", "بد اخلاق", "بداخلاق", "داد زد", "داد می زد", "بی احترامی")),
    ("driver_behaviour", "fa", 3, ("توهین", "فحش", "مزاحمت", "تهدید", "تصادف", "سرعت زیاد")),
    ("driver_behaviour", "en", 2, ("rude", "shouted", "yell", "impolite", "unprofessional", "argued")),
    ("driver_behaviour", "en", 3, ("insult", "swore at", "harass", "threat", "drunk", "dangerous driving")),
    ("vehicle_condition", "fa", 1, ("کولر", "بو", "بوی")),
    ("vehicle_condition", "fa", 2, ("کثیف", "خراب", "قراضه", "داغون", "کمربند ایمنی")),
    ("vehicle_condition", "fa", 3, ("ترمز",)),
    ("vehicle_condition", "en", 1, ("air conditioning", "smell", "stink")),
    ("vehicle_condition", "en", 2, ("dirty", "filthy", "broken", "seatbelt", "seat belt")),
    ("vehicle_condition", "en", 3, ("brakes",)),
    ("fare_dispute", "fa", 2, ("کرایه", "گران", "گرون", "پول اضافه", "اضافه گرفت", "بیشتر گرفت")),
    ("fare_dispute", "fa", 2, ("باقی پول", "پس نداد")),
    ("fare_dispute", "en", 2, ("overcharged", "overcharging", "fare", "too expensive", "expensive", "price", "refund")),
    ("lateness", "fa", 2, ("دیر", "نیامد", "نیومد", "نرسید", "تاخیر", "تأخیر", "معطل", "منتظر ماندم", "منتظر موندم")),
    ("lateness", "en", 2, ("late", "didn't come", "no show", "never came", "never showed", "delay", "kept me waiting")),
    ("route", "fa", 2, ("مسیر", "دور زد", "راه", "اشتباه رفت", "بلد نبود", "ترافیک", "طولانی تر")),
    ("route", "en", 2, ("wrong way", "longer route", "detour", "route", "wrong turn", "long way", "got lost")),
    ("lost_property", "fa", 2, ("جا گذاشتم", "جا گذاشته", "جا مانده", "جا موند", "گم", "کیف", "مدارک", "وسایل")),
    ("lost_property", "en", 2, ("left my", "left behind", "lost", "forgot", "forgotten", "missing", "wallet")),
    ("agent_conduct", "fa", 2, ("اپراتور", "تلفنچی", "پشت تلفن", "پشت خط", "پشتیبانی", "کارمند", "قطع کرد")),
    ("agent_conduct", "en", 2, ("operator", "the agent", "on the phone", "call centre", "call center", "hung up")),
    ("agent_conduct", "en", 2, ("put me on hold", "dispatcher")),
    ("other", "fa", 2, ("شکایت", "اعتراض", "ناراضی", "افتضاح", "بدترین", "پیگیری", "رسیدگی")),
    ("other", "en", 2, ("complaint", "complain", "unhappy", "disappointed", "terrible", "awful", "worst")),
)
DEFAULT_RULES: tuple[KeywordRule, ...] = tuple(
    KeywordRule(category, phrase, language, severity)
    for category, language, severity, phrases in _TABLE
    for phrase in phrases
)


def fold(text: str) -> str:
    """Fold text as normalize_persian does, with punctuation as spaces and apostrophes and diacritics gone."""
    kept = []
    for char in normalize_persian(text):
        category = unicodedata.category(char)
        if char in _APOSTROPHES or char == _TATWEEL or category in ("Mn", "Me", "Cf"):
            continue  # "didn't" is "didnt", "اصلاً" is "اصلا", a direction mark is nothing
        kept.append(" " if category[0] in "PSCZ" else char)
    return " ".join("".join(kept).split())


def _matches(rule: KeywordRule, words: list[str], places: dict[str, list[int]]) -> bool:
    phrase = fold(rule.phrase).split()
    if not phrase:
        return False
    *head, last = phrase
    whole_word = rule.language == "fa" and len(phrase) == 1 and len(last) <= _SHORT
    endings = {last} if whole_word else {last + suffix for suffix in _SUFFIXES.get(rule.language, ("",))}
    if not head:
        return not endings.isdisjoint(places)
    # Only where the phrase's first word is, so a long transcript costs each rule a look-up, not a walk.
    n = len(head)
    starts = places.get(head[0], ())
    return any(words[i : i + n] == head and i + n < len(words) and words[i + n] in endings for i in starts)


def matching_rules(text: str, rules: Iterable[KeywordRule]) -> list[KeywordRule]:
    """The rules whose phrase is in the text, in the rules' order.

    Text and phrase are compared folded (fold()), word by word: every word of the phrase must be a whole word of
    the text, except that its last word may carry a common suffix of the rule's language ("rude" finds "rudely",
    "مسیر" finds "مسیرش"). A Persian phrase of one or two letters ("بو", "گم") must be a whole word.
    """
    words = fold(text).split()
    places: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        places.setdefault(word, []).append(i)
    return [rule for rule in rules if _matches(rule, words, places)]


def suggest(text: str, rules: Iterable[KeywordRule]) -> Suggestion | None:
    """The category whose phrases the text matches most (ties go by TIE_ORDER), or None."""
    found: dict[str, list[KeywordRule]] = {}
    for rule in matching_rules(text, rules):
        found.setdefault(rule.category, []).append(rule)
    if not found:
        return None

    def rank(category: str) -> tuple[bool, int, int]:
        # One phrase written twice, or in two spellings that fold alike, counts once.
        phrases = {fold(rule.phrase) for rule in found[category]}
        # "other" holds the words that only say it is a complaint: a category that says what about comes first.
        order = TIE_ORDER.index(category) if category in TIE_ORDER else len(TIE_ORDER)
        return category == "other", -len(phrases), order

    category = min(found, key=rank)
    matched = found[category]
    return Suggestion(
        category=category,
        severity=max(rule.severity for rule in matched),
        phrases=tuple(dict.fromkeys(rule.phrase for rule in matched)),
    )
