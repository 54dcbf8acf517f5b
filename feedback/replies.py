"""What a customer answers to "rate your trip 1–5": the rating, their comment, a spoken rating, STOP and START.

Customers type in Latin, Persian or Arabic-Indic digits, write the number as a word in English, Persian or
Arabic, and put it before or after whatever else they have to say; these functions read all of those.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from core.text import normalize_persian


@dataclass(frozen=True)
class Reply:
    """A customer's rating, if they gave one, and the rest of their text as they wrote it."""

    rating: int | None
    comment: str


def _folded(*words: str) -> frozenset[str]:
    return frozenset(normalize_persian(word) for word in words)


_RATING_WORDS = {
    word: value
    for value, words in enumerate(
        (
            ("1", "one", "یک", "واحد"),
            ("2", "two", "دو", "اثنان", "اثنين", "إثنان", "إثنين"),
            ("3", "three", "سه", "ثلاثة", "ثلاث"),
            ("4", "four", "چهار", "أربعة", "اربعة", "أربع", "اربع"),
            ("5", "five", "پنج", "خمسة", "خمس"),
        ),
        start=1,
    )
    for word in _folded(*words)
}
# "one" and "یک" are also the article ("یک راننده بی‌ادب" is "a rude driver"), so next to a comment they
# count only when punctuation sets them apart: "one - rude driver", "nice ride, one".
_ARTICLES = _folded("one", "یک", "واحد")
# Only for telling a rating apart from other numbers ("five or six"); never a rating themselves.
_OTHER_NUMBER_WORDS = _folded("zero", "six", "seven", "eight", "nine", "ten", "صفر", "شش", "هفت", "هشت", "ده")
# "5 minutes late" and "۱۰ هزار تومان" are about the trip, not a rating of it.
_UNITS = _folded(
    *("min", "mins", "minute", "minutes", "hr", "hrs", "hour", "hours", "sec", "second", "seconds", "day", "days"),
    *("km", "kms", "kilometer", "kilometers", "kilometre", "kilometres", "meters", "metres", "times", "people"),
    *("toman", "tomans", "rial", "rials", "thousand"),
    *("دقیقه", "ساعت", "ثانیه", "روز", "کیلومتر", "کیلو", "متر", "هزار", "تومان", "تومن", "ریال", "تا", "نفر", "بار"),
    "دفعه",
)
# A number after these is a time or an address ("ساعت ۵", "پلاک ۴"), not a rating.
_ADDRESS_WORDS = _folded("ساعت", "پلاک", "کوچه", "طبقه", "واحد", "خیابان", "at", "floor", "unit", "room", "gate")
_PREFIXES = _folded("rating", "rated", "rate", "score", "امتیاز", "نمره")
_STARS = _folded("star", "stars", "ستاره")
_OVER = ("/", "از", "of")  # "4/5", "۴ از ۵", "4 of 5"; "out of 5" is "of" with "out" before it
# Twilio's speech recogniser writes a lone "four" or "two" as the word it sounds like.
_HOMOPHONES = {"for": 4, "fore": 4, "to": 2, "too": 2, "won": 1}
_KEEP_AT_EDGES = frozenset("%٪‰#@&/")  # "5%" and "#5" are not ratings
# Invisible but not white space to str.strip(): joiners, direction marks, the byte order mark.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u061c\u2066\u2067\u2068\u2069\ufeff")
# Cut where the rating was, so "great driver - 5" leaves "great driver" while "thanks! 5" keeps its "!".
_SEPARATORS = frozenset("-–—:;,،؛|/")
_TOKEN = re.compile(r"/|[^\s/]+")


class _Token(NamedTuple):
    word: str  # folded, for comparing; the comment is cut from the original text by position
    start: int  # with the punctuation stuck to it, which goes when the rating is cut out
    end: int
    core_start: int  # without it, to see whether punctuation sets a word apart from the next
    core_end: int


def _is_edge(char: str) -> bool:
    if char.isspace():
        return True
    category = unicodedata.category(char)
    if category in ("Sc", "Sm") or char in _KEEP_AT_EDGES:
        return False  # "5$", "~5" and "<3" are not ratings
    return category[0] in "PCM" or category in ("So", "Sk")


def _is_trim(char: str) -> bool:
    return char.isspace() or char in _INVISIBLE


def _is_seam(char: str) -> bool:
    return _is_trim(char) or char in _SEPARATORS


def _strip_edges(text: str, is_edge=_is_edge) -> tuple[int, int]:
    start, end = 0, len(text)
    while start < end and is_edge(text[start]):
        start += 1
    while end > start and is_edge(text[end - 1]):
        end -= 1
    return start, end


def _strip(text: str, is_edge=_is_trim) -> str:
    start, end = _strip_edges(text, is_edge)
    return text[start:end]


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        raw = match.group()
        start, end = (0, 1) if raw == "/" else _strip_edges(raw)
        if start < end:
            word = normalize_persian(raw[start:end])
            tokens.append(_Token(word, match.start(), match.end(), match.start() + start, match.start() + end))
    return tokens


def _is_number(word: str) -> bool:
    return (word.isascii() and word.isdigit()) or word in _RATING_WORDS or word in _OTHER_NUMBER_WORDS


def _over_five(words: list[str], i: int) -> int | None:
    """Where "/5", "out of 5" or "از ۵" starting at i ends, or None if there is none."""
    if i + 1 < len(words) and words[i] == "out" and words[i + 1] == "of":
        i += 1
    if i + 1 < len(words) and words[i] in _OVER and _RATING_WORDS.get(words[i + 1]) == 5:
        return i + 2
    return None


def _leading(text: str, tokens: list[_Token]) -> tuple[int, int, int] | None:
    words = [token.word for token in tokens]
    i = 1 if len(words) > 1 and words[0] in _PREFIXES else 0
    rating = _RATING_WORDS.get(words[i])
    if rating is None:
        return None
    j = _over_five(words, i + 1)
    plain = j is None
    j = i + 1 if j is None else j
    if j < len(words) and words[j] in _STARS:
        j, plain = j + 1, False
    if plain and j < len(words):
        if words[j] == "/" or words[j] in _UNITS or _is_number(words[j]):
            return None
        if i == 0 and words[0] in _ARTICLES and not text[tokens[0].core_end : tokens[1].core_start].strip():
            return None
    return rating, tokens[0].start, tokens[j - 1].end


def _trailing(text: str, tokens: list[_Token]) -> tuple[int, int, int] | None:
    words = [token.word for token in tokens]
    last = len(words) - 1
    j = last - 1 if last > 0 and words[last] in _STARS else last
    i = j
    if j >= 2 and _RATING_WORDS.get(words[j]) == 5 and words[j - 1] in _OVER:
        i = j - 3 if words[j - 1] == "of" and words[j - 2] == "out" else j - 2
    elif j >= 1 and words[j - 1] in _OVER:
        return None  # "2/10", a date like "1402/05/03", "بیشتر از ۳"
    rating = _RATING_WORDS.get(words[i]) if i >= 0 else None
    if rating is None:
        return None
    if i > 0 and words[i - 1] in _PREFIXES:
        return rating, tokens[i - 1].start, tokens[last].end
    if i > 0:
        before = words[i - 1]
        if before == "/" or before in _ADDRESS_WORDS or _is_number(before):
            return None
        plain = i == last
        if plain and words[i] in _ARTICLES and not text[tokens[i - 1].core_end : tokens[i].core_start].strip():
            return None
    return rating, tokens[i].start, tokens[last].end


def read_reply(text: str) -> Reply:
    """Read a texted answer to the rating request into its 1–5 rating (first or last word) and comment."""
    tokens = _tokens(text)
    found = (_leading(text, tokens) or _trailing(text, tokens)) if tokens else None
    if found is None:
        return Reply(None, _strip(text))
    rating, start, end = found
    before, after = _strip(text[:start], _is_seam), _strip(text[end:], _is_seam)
    return Reply(rating, f"{before} {after}" if before and after else before or after)


def read_spoken_rating(speech: str) -> int | None:
    """The 1–5 rating in a caller's spoken answer, or None when it holds no number or more than one."""
    words = [token.word for token in _tokens(speech)]
    if len(words) == 1 and words[0] in _HOMOPHONES:
        return _HOMOPHONES[words[0]]
    heard = set()
    for i, word in enumerate(words):
        if not _is_number(word) or (i + 1 < len(words) and words[i + 1] in _UNITS):
            continue
        if i > 0 and words[i - 1] in _OVER and _RATING_WORDS.get(word) == 5:
            continue  # the "five" of "four out of five"
        heard.add(_RATING_WORDS.get(word, word))
    return heard.pop() if len(heard) == 1 and heard <= {1, 2, 3, 4, 5} else None


_OPT_KEYWORDS = {
    **dict.fromkeys(
        _folded("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "لغو", "توقف", "انصراف"), "stop"
    ),
    **dict.fromkeys(_folded("start", "unstop", "شروع"), "start"),
}


def opt_keyword(text: str) -> str | None:
    """Whether the whole text is an opt-out ("stop") or opt-in ("start") keyword; None for anything else."""
    start, end = _strip_edges(text)
    return _OPT_KEYWORDS.get(normalize_persian(text[start:end]))
