"""Property tests for the parsers of hostile input: phone numbers, texted replies, fare rules, coordinates.

Each parser either gives a clean result or refuses with its documented error; nothing else may escape. The
examples are derandomised so CI sees the same ones every run, and few enough that the file stays quick.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crm.phones import PhoneNumberError, to_e164
from fares.models import FareRule
from fares.rules import MAX_AMOUNT, MAX_PERCENT, RuleError, check_rule_values
from fares.services import quote_fare, round_to_step
from feedback.replies import Reply, opt_keyword, read_reply, read_spoken_rating
from geo.points import PointError, check_point
from tests.conftest import csrf_token_of

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PERSIAN = "۰۱۲۳۴۵۶۷۸۹"
ARABIC = "٠١٢٣٤٥٦٧٨٩"


def quick(examples: int) -> settings:
    """Deterministic settings with ``examples`` examples, for tests that may use function-scoped fixtures."""
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def in_script(digits: str, script: str) -> str:
    """ASCII digits written in another script ("latin", "persian" or "arabic")."""
    table = {"latin": "0123456789", "persian": PERSIAN, "arabic": ARABIC}[script]
    return digits.translate(str.maketrans("0123456789", table))


SCRIPTS = st.sampled_from(["latin", "persian", "arabic"])
# Text as hostile callers and customers send it: any Unicode, digits of every script, marks and emoji.
HOSTILE_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩+-() .\u200c\u200f/#*", max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=30, max_size=300),
)


# --- phone numbers -------------------------------------------------------------------------------


@quick(300)
@given(raw=HOSTILE_TEXT)
def test_any_text_is_a_valid_e164_number_or_a_phone_number_error(raw):
    try:
        e164 = to_e164(raw, "IR")
    except PhoneNumberError:
        return
    assert E164.match(e164), e164
    assert to_e164(e164, "IR") == e164  # normalising twice changes nothing


@st.composite
def iranian_mobile_spellings(draw):
    """(a spelling of an Iranian mobile number as people write it, the number in E.164)."""
    national = "912" + draw(st.text(alphabet="0123456789", min_size=7, max_size=7))
    prefix = draw(st.sampled_from(["0", "+98", "0098", "+98 ", "0098 ", "", "+۹۸"]))
    digits = in_script(national, draw(SCRIPTS))
    separator = draw(st.sampled_from(["", " ", "-", "\u200c", ".", " - "]))
    spelled = f"{digits[:3]}{separator}{digits[3:6]}{separator}{digits[6:]}"
    padding = draw(st.sampled_from(["", " ", "\t", "\u200f"]))
    return f"{padding}{prefix}{spelled}{padding}", "+98" + national


@quick(200)
@given(case=iranian_mobile_spellings())
def test_every_spelling_of_a_mobile_number_gives_the_same_e164(case):
    spelling, expected = case
    assert to_e164(spelling, "IR") == expected
    assert to_e164(expected, "IR") == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "0", "+", "00", "abc", "0912", "+98" + "9" * 40, "۰" * 10_000, "1" * 1_000_000, "\x00" * 50]
)
def test_garbage_and_very_long_strings_are_refused_with_the_documented_error(raw):
    with pytest.raises(PhoneNumberError):
        to_e164(raw, "IR")


# --- texted replies --------------------------------------------------------------------------------


@quick(400)
@given(text=HOSTILE_TEXT)
def test_any_reply_reads_as_a_rating_and_comment_or_as_not_understood(text):
    reply = read_reply(text)
    assert isinstance(reply, Reply)
    assert reply.rating in (None, 1, 2, 3, 4, 5)
    assert isinstance(reply.comment, str) and len(reply.comment) <= len(text)
    assert reply.comment == reply.comment.strip()
    assert opt_keyword(text) in (None, "stop", "start")
    assert read_spoken_rating(text) in (None, 1, 2, 3, 4, 5)


COMMENTS = ["great driver", "راننده خوب بود", "ماشین کثیف بود", "thanks 🙏", "😡😡", "late again!!"]


@quick(250)
@given(
    rating=st.integers(1, 5),
    script=SCRIPTS,
    comment=st.sampled_from(COMMENTS),
    layout=st.sampled_from(["alone", "before", "after"]),
    decoration=st.sampled_from(["", " ", "!", ".", "  \n", "!!"]),
)
def test_a_rating_in_any_script_before_or_after_a_comment_is_read(rating, script, comment, layout, decoration):
    digit = in_script(str(rating), script) + decoration
    text = {"alone": digit, "before": f"{digit} - {comment}", "after": f"{comment}، {digit}"}[layout]
    reply = read_reply(text)
    assert reply.rating == rating, text
    assert reply.comment == ("" if layout == "alone" else comment)  # punctuation stuck to the rating goes with it


@pytest.mark.parametrize("rating", [0, 6, 10, 55])
def test_a_number_outside_one_to_five_is_not_a_rating(rating):
    assert read_reply(str(rating)).rating is None
    assert read_reply(in_script(str(rating), "persian")).rating is None


@quick(150)
@given(
    word=st.sampled_from(["stop", "STOP", "Stop", "unsubscribe", "لغو", "انصراف", "start", "START", "شروع"]),
    before=st.sampled_from(["", " ", "\n", "\u200c", "."]),
    after=st.sampled_from(["", " ", "!", ".", " \n"]),
)
def test_stop_and_start_are_read_in_any_case_with_stray_marks(word, before, after):
    expected = "start" if word.lower() in ("start", "شروع") else "stop"
    assert opt_keyword(f"{before}{word}{after}") == expected


@pytest.mark.parametrize("text", ["please stop calling me", "stop 5", "don't stop", "start the car", "stopper"])
def test_stop_or_start_within_other_words_is_no_keyword(text):
    assert opt_keyword(text) is None


@pytest.mark.parametrize(
    "text", ["5 " + "خیلی بد " * 20_000, "🙂" * 100_000, "x" * 1_000_000, "۵" * 50_000, "\u200c" * 100_000]
)
def test_huge_replies_are_read_without_error(text):
    reply = read_reply(text)
    assert reply.rating in (None, 1, 2, 3, 4, 5)
    assert opt_keyword(text) is None
    assert read_spoken_rating(text) in (None, 1, 2, 3, 4, 5)


# --- fare rules ----------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["23:00", "24:00", "25:00", "23:00\n", "۲۳:۰۰", "06:00", "7:00", "night", "D01", "mon", ""]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
WINDOW_ENDS = st.one_of(
    st.sampled_from(["23:00", "06:00", "24:00", "00:00", "25:00", "23:60", "23:00\n", "\n23:00", "23:00 ", "۲۳:۰۰"]),
    st.text(max_size=8),
    st.integers(),
    st.none(),
)
SURCHARGE_ITEMS = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.sampled_from(["night", "rush"]), "from": WINDOW_ENDS, "to": WINDOW_ENDS, "percent": JSON_SCALARS},
        optional={"days": JSON_VALUES},
    ),
    st.fixed_dictionaries({"kind": st.just("zone"), "zone": JSON_SCALARS, "amount": JSON_SCALARS}),
    st.fixed_dictionaries({"kind": st.just("holiday"), "percent": JSON_SCALARS}),
    JSON_VALUES,
)
FIXED_ITEMS = st.one_of(
    st.fixed_dictionaries(
        {"from_zone": JSON_SCALARS, "to_zone": JSON_SCALARS, "amount": JSON_SCALARS},
        optional={"both_ways": JSON_SCALARS},
    ),
    JSON_VALUES,
)
RULE_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "vehicle_class": st.one_of(st.sampled_from(["sedan", "van", "premium"]), JSON_SCALARS),
        "name": st.one_of(st.text(max_size=200), JSON_SCALARS),
        "currency": st.one_of(st.sampled_from(["IRR", "irr", "EUR"]), JSON_SCALARS),
        **{
            key: st.one_of(st.integers(-(10**15), 10**15), JSON_SCALARS)
            for key in (
                "flag_down",
                "per_km",
                "per_minute",
                "minimum_fare",
                "waiting_per_minute",
                "cancellation_fee",
                "rounding_step",
                "waiting_free_minutes",
                "speed_threshold_kmh",
            )
        },
        "surcharges": st.one_of(st.lists(SURCHARGE_ITEMS, max_size=3), JSON_VALUES),
        "fixed_fares": st.one_of(st.lists(FIXED_ITEMS, max_size=3), JSON_VALUES),
        "unexpected": JSON_VALUES,
    },
)


@quick(300)
@given(values=RULE_VALUES)
def test_any_fare_rule_values_are_accepted_in_range_or_refused_with_a_rule_error(tehran_zones, values):
    try:
        clean, _fixed = check_rule_values(values)
    except RuleError as exc:
        assert exc.fields and exc.status == 400
        return
    for key in ("flag_down", "per_km", "per_minute", "minimum_fare", "waiting_per_minute", "cancellation_fee"):
        assert isinstance(clean[key], int) and 0 <= clean[key] <= MAX_AMOUNT
    assert isinstance(clean["rounding_step"], int) and clean["rounding_step"] >= 1
    assert math.isfinite(clean["speed_threshold_kmh"]) and clean["speed_threshold_kmh"] >= 0


@quick(120)
@given(start=WINDOW_ENDS, end=WINDOW_ENDS)
def test_a_night_surcharge_window_is_a_time_of_day_span_or_refused(app, start, end):
    values = {**VALID_RULE, "surcharges": [{"kind": "night", "from": start, "to": end, "percent": 20}]}
    try:
        clean, _fixed = check_rule_values(values)
    except RuleError as exc:
        assert set(exc.fields) == {"surcharges"}
        return
    [surcharge] = clean["surcharges"]
    assert re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", surcharge["from"]), surcharge
    assert re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", surcharge["to"]), surcharge


VALID_RULE = {
    "vehicle_class": "sedan",
    "name": "سواری",
    "currency": "IRR",
    "flag_down": 250_000,
    "per_km": 90_000,
    "per_minute": 15_000,
    "minimum_fare": 500_000,
}
FORM_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["-1", "1e400", "nan", "inf", "9" * 5000, "۱۲۳٬۴۵۶", "²", "0x10", "1.5", "[", "[" * 5000, "{}"]),
    st.integers(-(10**30), 10**30).map(str),
)


@quick(40)
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            key: FORM_TEXT
            for key in (
                "name",
                "currency",
                "flag_down",
                "per_km",
                "per_minute",
                "minimum_fare",
                "rounding_step",
                "speed_threshold_kmh",
                "surcharges",
                "fixed_fares",
                "valid_from",
            )
        },
    )
)
def test_the_fare_rule_form_answers_any_input_with_a_page_never_a_server_error(admin_client, fields):
    token = csrf_token_of(admin_client.get("/admin/fare-rules").get_data(as_text=True))
    response = admin_client.post("/admin/fare-rules", data={"vehicle_class": "sedan", **fields, "csrf_token": token})
    assert response.status_code in (302, 400, 409), response.status_code
    assert response.mimetype == "text/html"


@pytest.fixture
def admin_client(logged_in):
    """A client logged in as an admin."""
    return logged_in("admin")


AMOUNTS = st.integers(0, MAX_AMOUNT)


@st.composite
def valid_rules(draw):
    """Fare rule values the validator accepts: any amounts in range, steps, speeds and surcharges."""
    window = st.sampled_from(["00:00", "06:00", "07:30", "12:00", "16:00", "20:00", "23:00", "24:00"])
    surcharges = draw(
        st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "kind": st.sampled_from(["night", "rush"]),
                        "from": window,
                        "to": window,
                        "percent": st.integers(0, MAX_PERCENT) | st.floats(0, MAX_PERCENT),
                    }
                ).filter(lambda item: item["from"] != item["to"]),
                st.fixed_dictionaries({"kind": st.just("holiday"), "percent": st.integers(0, MAX_PERCENT)}),
                st.fixed_dictionaries(
                    {"kind": st.just("zone"), "zone": st.just("D01"), "amount": st.integers(1, 10**9)}
                ),
            ),
            max_size=4,
        )
    )
    return {
        **VALID_RULE,
        "flag_down": draw(AMOUNTS),
        "per_km": draw(AMOUNTS),
        "per_minute": draw(AMOUNTS),
        "minimum_fare": draw(AMOUNTS),
        "rounding_step": draw(st.integers(1, 10**6) | st.sampled_from([1, 1000, 10_000, 50_000])),
        "speed_threshold_kmh": draw(st.sampled_from([0, 0.0, 12.5, 30, 200])),
        "surcharges": surcharges,
    }


@quick(250)
@given(
    values=valid_rules(),
    distance=st.floats(0, 500),
    duration=st.floats(0, 600),
    pickup_at=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)),
    holiday=st.booleans(),
    in_zone=st.booleans(),
    discount=st.integers(0, 100),
)
def test_the_fare_engine_never_quotes_below_zero_or_the_minimum_and_keeps_to_the_step(
    tehran_zones, values, distance, duration, pickup_at, holiday, in_zone, discount
):
    clean, _fixed = check_rule_values(values)
    rule = FareRule(**clean)
    codes = {"D01"} if in_zone else set()
    fare, lines = quote_fare(rule, distance, duration, pickup_at, codes, "Asia/Tehran", 0, holiday=holiday)
    step = rule.rounding_step
    assert fare >= 0
    assert fare % step == 0
    assert sum(line.amount for line in lines) == fare
    assert fare >= round_to_step(rule.minimum_fare, step)
    if rule.minimum_fare % step == 0:
        assert fare >= rule.minimum_fare
    discounted, _ = quote_fare(rule, distance, duration, pickup_at, codes, "Asia/Tehran", discount, holiday=holiday)
    assert 0 <= discounted <= fare + step and discounted % step == 0


# --- coordinates ---------------------------------------------------------------------------------

COORDINATES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.text(max_size=30),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "۳۵٫۷", "−51.4", "35,7", " 35.7 ", "0x23", "1_0"]),
    st.none(),
    st.booleans(),
    st.lists(st.floats(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@quick(400)
@given(lat=COORDINATES, lon=COORDINATES)
def test_any_coordinates_are_a_point_on_the_globe_or_a_point_error(lat, lon):
    try:
        point = check_point(lat, lon)
    except PointError:
        return
    latitude, longitude = point
    assert isinstance(latitude, float) and isinstance(longitude, float)
    assert -90 <= latitude <= 90 and -180 <= longitude <= 180


@quick(200)
@given(lat=st.floats(-90, 90), lon=st.floats(-180, 180), script=SCRIPTS)
def test_a_point_in_range_is_kept_as_given_in_any_digits(lat, lon, script):
    assert check_point(lat, lon) == (lat, lon)
    spelled = (in_script(repr(lat), script), in_script(repr(lon), script))
    assert check_point(*spelled) == (lat, lon)


@quick(150)
@given(lat=st.floats(allow_nan=True, allow_infinity=True), lon=st.floats(allow_nan=True, allow_infinity=True))
def test_out_of_range_or_non_finite_coordinates_are_refused(lat, lon):
    assume(not (-90 <= lat <= 90 and -180 <= lon <= 180))
    with pytest.raises(PointError):
        check_point(lat, lon)
