"""Reading customers' replies to the rating text, and suggesting a complaint's category from its words."""

from __future__ import annotations

import pytest

from core.text import normalize_persian
from feedback.keywords import CATEGORIES, DEFAULT_RULES, KeywordRule, Suggestion, fold, matching_rules, suggest
from feedback.replies import Reply, opt_keyword, read_reply, read_spoken_rating

try:
    from hypothesis import assume, given
    from hypothesis import strategies as st
except ImportError:  # not in requirements-dev.txt yet; the example tests still run
    given = None


@pytest.mark.parametrize(
    ("text", "rating", "comment"),
    [
        ("۲ راننده بی‌ادب بود", 2, "راننده بی‌ادب بود"),
        ("great driver 5", 5, "great driver"),
        ("5", 5, ""),
        ("پنج", 5, ""),
        ("five, thanks!", 5, "thanks!"),
        ("٣ شكرا", 3, "شكرا"),
        ("خمسة", 5, ""),
        ("ثلاثة", 3, ""),
        ("اثنين", 2, ""),
        ("أربعة ممتاز", 4, "ممتاز"),
        ("4/5", 4, ""),
        ("۴/۵ خوب بود", 4, "خوب بود"),
        ("4 out of 5", 4, ""),
        ("۴ از ۵", 4, ""),
        ("5 stars", 5, ""),
        ("۵ ستاره", 5, ""),
        ("rating: 4", 4, ""),
        ("nice ride 4/5 stars", 4, "nice ride"),
        ("great driver - 5", 5, "great driver"),
        ("thanks! 5", 5, "thanks!"),
        ("great driver (5).", 5, "great driver"),
        ("(۵) عالی", 5, "عالی"),
        ("\u200f۵ عالی\u200f", 5, "عالی"),
        ("one - rude driver", 1, "rude driver"),
    ],
)
def test_reads_the_rating_and_keeps_the_comment_as_written(text, rating, comment):
    assert read_reply(text) == Reply(rating, comment)


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "6",
        "10",
        "1.5",
        "5km",
        "5 minutes late",
        "پنج دقیقه دیر آمد",
        "2 hours",
        "۱۰ هزار تومان",
        "3 km",
        "۳ تا چمدان جا گذاشتم",
        "5% discount",
        "2/10 bad",
        "1402/05/03",
        "رسیدم ساعت ۵",
        "یک راننده بی ادب",
        "nice one",
        "great trip",
    ],
)
def test_numbers_that_are_not_ratings_stay_in_the_comment(text):
    assert read_reply(text) == Reply(None, text)


@pytest.mark.parametrize("text", ["", "   ", "\u200f\u200e", "🙂👍", "\u200c", "/", "5" * 10_000 + " great"])
def test_odd_texts_have_no_rating(text):
    assert read_reply(text) == Reply(None, text.strip(" \u200f\u200e\u200c"))


def test_a_very_long_comment_keeps_its_rating():
    comment = "خیلی خوب " * 20_000
    assert read_reply(f"۵ {comment}") == Reply(5, comment.strip())


@pytest.mark.parametrize(
    ("speech", "rating"),
    [
        ("five", 5),
        ("Five.", 5),
        ("پنج", 5),
        ("4", 4),
        ("four stars", 4),
        ("I'd give it a three out of five", 3),
        ("چهار از پنج", 4),
        ("for", 4),
        ("عالی", None),
        ("", None),
        ("three or four", None),
        ("ten", None),
        ("5 minutes", None),
    ],
)
def test_reads_a_spoken_rating(speech, rating):
    assert read_spoken_rating(speech) == rating


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", "stop"),
        (" Stop. ", "stop"),
        ("unsubscribe!", "stop"),
        ("STOPALL", "stop"),
        ("لغو", "stop"),
        ("\u200fتوقف", "stop"),
        ("انصراف", "stop"),
        ("Start", "start"),
        ("UNSTOP", "start"),
        ("شروع", "start"),
        ("please stop calling me", None),
        ("لغو سفر", None),
        ("5", None),
        ("", None),
    ],
)
def test_opt_keywords_are_the_whole_message(text, keyword):
    assert opt_keyword(text) == keyword


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("۲ راننده بی‌ادب بود", "driver_behaviour"),
        ("راننده بي ادب بود", "driver_behaviour"),
        ("the driver was very rude!", "driver_behaviour"),
        ("he spoke rudely", "driver_behaviour"),
        ("I left my phone in the car", "lost_property"),
        ("the fare was too expensive", "fare_dispute"),
        ("کرایه‌اش گرون بود", "fare_dispute"),
        ("He didn’t come", "lateness"),
        ("ماشین بوی سیگار میداد", "vehicle_condition"),
        ("راننده دور زد", "route"),
        ("اپراتور پشت تلفن جواب نداد", "agent_conduct"),
        ("I want to make a complaint", "other"),
        ("شکایت دارم", "other"),
        ("thanks, great trip", None),
        ("ممنون، سفر خوبی بود", None),
        ("دیروز بوق زد", None),  # not "دیر" (late) nor "بو" (smell)
        ("گمان کنم عالی بود", None),  # not "گم" (lost)
        ("see you later", None),
    ],
)
def test_suggests_a_category(text, category):
    found = suggest(text, DEFAULT_RULES)
    assert (found and found.category) == category


def test_a_tie_goes_to_the_earlier_category_and_other_comes_last():
    found = suggest("شکایت: راننده بی‌ادب بود و دیر آمد", DEFAULT_RULES)
    assert found == Suggestion("driver_behaviour", 2, ("بی ادب",))
    rules = [KeywordRule("other", "x", "en"), KeywordRule("other", "y", "en"), KeywordRule("route", "z", "en")]
    assert suggest("x y z", rules).category == "route"
    assert suggest("x y", rules).category == "other"


def test_more_matched_phrases_beat_the_earlier_category():
    assert suggest("راننده بی ادب بود، کرایه زیاد گرفت و گران بود", DEFAULT_RULES).category == "fare_dispute"


def test_severity_is_the_highest_of_the_winning_category():
    assert suggest("rude and he threatened me", DEFAULT_RULES) == Suggestion("driver_behaviour", 3, ("rude", "threat"))
    assert suggest("راننده توهین کرد", DEFAULT_RULES).severity == 3
    assert suggest("کولر خاموش بود", DEFAULT_RULES).severity == 1


def test_one_phrase_in_two_spellings_counts_once():
    rules = [KeywordRule("driver_behaviour", "بی ادب", "fa"), KeywordRule("driver_behaviour", "بی‌ادب", "fa", 3)]
    rules += [KeywordRule("route", "دور زد", "fa"), KeywordRule("route", "راه", "fa")]
    assert suggest("بی‌ادب بود، دور زد و راه را گم کرد", rules) == Suggestion("route", 2, ("دور زد", "راه"))
    assert suggest("بی ادب", rules) == Suggestion("driver_behaviour", 3, ("بی ادب", "بی‌ادب"))


def test_matching_rules_keeps_the_rules_order_and_folds_both_sides():
    rules = [KeywordRule("route", "wrong way", "en"), KeywordRule("driver_behaviour", "بی ادب", "fa")]
    assert matching_rules("بي‌ادب! WRONG-way", rules) == rules
    assert fold("بي‌ادب، didn't!") == "بی ادب didnt"


def test_every_default_rule_finds_itself_and_folds_to_its_own_phrase():
    assert all(rule in matching_rules(rule.phrase, DEFAULT_RULES) for rule in DEFAULT_RULES)
    assert len({fold(rule.phrase) for rule in DEFAULT_RULES}) == len(DEFAULT_RULES)
    for category in CATEGORIES:
        languages = [rule.language for rule in DEFAULT_RULES if rule.category == category]
        assert languages.count("fa") >= 6 and languages.count("en") >= 6, category


def test_a_rule_with_an_unknown_category_or_language_ranks_last_and_breaks_nothing():
    # The office's rules come from the database: one odd row must not stop every text from being read.
    rules = [KeywordRule("rudeness", "rude", "de"), KeywordRule("other", "complaint", "en")]
    assert suggest("rude, a complaint", rules) == Suggestion("rudeness", 2, ("rude",))
    assert suggest("rudely", rules) is None
    assert suggest("rude", [*rules, KeywordRule("route", "rude", "en")]).category == "route"


# A comment's first word that changes how the number before it reads: a unit, a number, "stars", "out of 5".
_UNITS_NUMBERS_AND_STARS = (
    "min mins minute minutes hr hrs hour hours sec second seconds day days km kms kilometer kilometers kilometre "
    "kilometres meters metres times people toman tomans rial rials thousand star stars out of "
    "one two three four five zero six seven eight nine ten "
    "دقیقه ساعت ثانیه روز کیلومتر کیلو متر هزار تومان تومن ریال تا نفر بار دفعه ستاره از "
    "یک دو سه چهار پنج واحد صفر شش هفت هشت ده اثنان اثنين ثلاثة ثلاث أربعة أربع اربعة اربع خمسة خمس"
)
_READ_WITH_THE_NUMBER = {normalize_persian(word) for word in _UNITS_NUMBERS_AND_STARS.split()}

if given is not None:
    _LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیيكة"
    _WORDS = st.text(alphabet=_LETTERS, min_size=1, max_size=8)

    @given(st.text())
    def test_any_text_is_read_without_error(text):
        reply = read_reply(text)
        assert reply.rating in {None, 1, 2, 3, 4, 5}
        assert set(reply.comment) <= set(text) | {" "}  # the customer's own characters, never the folded ones
        assert read_spoken_rating(text) in {None, 1, 2, 3, 4, 5}
        assert opt_keyword(text) in {None, "stop", "start"}

    @given(st.integers(1, 5), st.sampled_from(["0123456789", "۰۱۲۳۴۵۶۷۸۹", "٠١٢٣٤٥٦٧٨٩"]), st.lists(_WORDS, min_size=1))
    def test_a_digit_then_a_comment_is_read_in_any_script(rating, digits, words):
        assume(normalize_persian(words[0]) not in _READ_WITH_THE_NUMBER)
        comment = " ".join(words)
        assert read_reply(f"{digits[rating]} {comment}") == Reply(rating, comment.strip())

    @given(st.sampled_from(["stop", "STOP", "لغو", "start", "شروع", "unsubscribe"]), _WORDS, st.booleans())
    def test_an_opt_keyword_with_another_word_is_not_one(keyword, word, word_first):
        assert opt_keyword(f"{word} {keyword}" if word_first else f"{keyword} {word}") is None

else:

    def test_properties_need_hypothesis():
        pytest.skip("hypothesis is not installed in this environment")


def test_a_text_naming_the_operator_is_about_the_operator():
    assert suggest("اپراتور بی‌ادب بود", DEFAULT_RULES).category == "agent_conduct"
    assert suggest("the operator was rude", DEFAULT_RULES).category == "agent_conduct"
    assert suggest("I left my phone and the driver was rude", DEFAULT_RULES).category == "lost_property"
