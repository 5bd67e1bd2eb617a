"""Caller PII detectors: what is replaced, what is left, and the properties that hold."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxplane.observability import pii
from voxplane.observability.pii import luhn_valid, mask_number, redact_pii

VISA = "4111111111111111"
AMEX = "378282246310005"


@pytest.mark.parametrize(
    ("said", "stored"),
    [
        ("my card is 4111 1111 1111 1111, exp 12/26", "my card is [card], exp 12/26"),
        ("it's 4111-1111-1111-1111.", "it's [card]."),
        (f"amex {AMEX}", "amex [card]"),
        ("four one one one one one one one one one one one one one one one", "[card]"),
        ("4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 thanks", "[card] thanks"),
        ("social 123-45-6789 ok", "social [ssn] ok"),
        ("social 123 45 6789", "social [ssn]"),
        ("mail ann.lee+x@mail.example.com now", "mail [email] now"),
        ("it is ann dot lee at example dot com", "it is [email]"),
        ("bob at gmail.com please", "[email] please"),
        ("call (415) 555-0123 or 415-555-0123", "call [phone] or [phone]"),
        ("my cell is +1 415 555 0123", "my cell is [phone]"),
        ("try 1 415 555 0123 or 555-0123", "try [phone] or [phone]"),
        ("London 020 7946 0958 or +44 20 7946 0958", "London [phone] or [phone]"),
        ("from abroad 0044 20 7946 0958", "from abroad [phone]"),
        ("account 12345678, policy four two seven one nine nine one",
         "account [number], policy [number]"),
        ("ssn-shaped but invalid 000-12-3456", "ssn-shaped but invalid [number]"),
        ("unseparated 4155550123", "unseparated [number]"),
    ],
)  # fmt: skip
def test_detected_items_become_typed_placeholders(said: str, stored: str) -> None:
    assert redact_pii(said) == stored


@pytest.mark.parametrize(
    "said",
    [
        "my patient number is 4271",
        "four two seven one",
        "Next Tuesday at 10:30, or 14:04:03",
        "on 2026-11-30, 11/30/2026, 30.11.2026 or 11 30 2026",
        "it costs 1,250,000 dollars, or 3.14159265",
        "zip 94107, pin 1234, the last four are 1111",
        "the server is 192.168.100.200",
        "the call cal_01JD1234567000ABCDEFGHJKMN and key sk12345678",
        "I have 2 kids and 3 dogs, one of them is nine",
        "meet me at the station",
        "sip:alice@example.com",
    ],
)
def test_dates_times_amounts_ids_and_short_numbers_stay(said: str) -> None:
    assert redact_pii(said) == said


def test_a_luhn_invalid_card_length_number_is_a_number_not_a_card() -> None:
    assert not luhn_valid("4111111111111112")
    assert redact_pii("card 4111 1111 1111 1112") == "card [number]"
    assert luhn_valid(VISA) and luhn_valid(AMEX)


def test_logs_keep_a_phone_prefix_and_its_last_two_digits() -> None:
    said = "call +44 20 7946 0958 or (415) 555-0123, card 4111 1111 1111 1111"
    assert redact_pii(said, mask_phones=True) == "call +4420••••••58 or 415•••••23, card [card]"
    masked = redact_pii("sip:+4930123456789@pbx.example.com", mask_phones=True)
    assert masked == "sip:+4930•••••••89@pbx.example.com"


def test_stored_numbers_are_masked_whatever_their_shape() -> None:
    assert mask_number("+14155550199") == "+1415•••••99"
    assert mask_number("4155550199") == "415•••••99"
    assert mask_number("sip:+4930123456789@pbx") == "sip:+4930•••••••89@pbx"
    assert mask_number("anonymous") == "anonymous"
    assert mask_number("1234") == "1234"
    assert mask_number(None) is None


# --- properties -------------------------------------------------------------------------

_luhn_cards = st.from_regex(r"[3-6][0-9]{12,18}", fullmatch=True).map(
    lambda body: body[:-1] + str((10 - _luhn_sum(body[:-1] + "0")) % 10)
)


def _luhn_sum(digits: str) -> int:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10


def _spaced(card: str, separator: str) -> str:
    return separator.join(card[i : i + 4] for i in range(0, len(card), 4))


_EMAIL_SHAPE = r"[a-z][a-z0-9._+-]{0,15}@[a-z][a-z0-9]{0,10}\.(com|org|io)"
_emails = st.from_regex(_EMAIL_SHAPE, fullmatch=True)
_filler = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(_luhn_cards, st.sampled_from(["", " ", "-"]), _emails, st.tuples(_filler, _filler, _filler))
def test_no_card_or_email_survives_whatever_surrounds_it(
    card: str, separator: str, email: str, fillers: tuple[str, str, str]
) -> None:
    assert luhn_valid(card)
    before, middle, after = fillers
    text = f"{before} {_spaced(card, separator)} {middle} {email} {after}"
    out = redact_pii(text)
    assert card not in re.sub(r"[ -]", "", out)
    assert email not in out
    assert redact_pii(text, mask_phones=True).count("@") <= out.count("@")


@given(st.text(max_size=200))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact_pii(text)
    assert redact_pii(once) == once
    masked = redact_pii(text, mask_phones=True)
    assert redact_pii(masked, mask_phones=True) == masked


_SOUP = ["1", "22", "4444", "one", "oh", "Two", " ", "-", ", ", "(", ")", "+", "a", "_"]
_digits_text = st.lists(st.sampled_from(_SOUP), max_size=30).map("".join)


@given(_digits_text)
def test_redaction_is_idempotent_on_digit_soup(text: str) -> None:
    if not pii._may_hold_a_run(text):  # the shortcut only skips text the patterns leave
        assert pii._RUN.sub(pii._placeholder_run, text) == text
    once = redact_pii(text)
    assert redact_pii(once) == once
    masked = redact_pii(text, mask_phones=True)
    assert redact_pii(masked, mask_phones=True) == masked


@given(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True))
def test_a_masked_number_never_shows_more_than_six_digits(number: str) -> None:
    masked = mask_number(number)
    assert masked is not None
    assert sum(c.isdigit() for c in masked) <= 6
    assert masked.count("•") >= min(5, len(number) - 3)
    assert masked.endswith(number[-2:])
    assert masked == redact_pii(number, mask_phones=True)  # logs and storage agree


def test_a_hostile_run_is_taken_in_pieces_and_still_redacted() -> None:
    out = redact_pii("4 " * 1000 + "end")
    assert out.endswith("end") and "[number]" in out
    assert out.count("4") <= 6  # at most the tail of the last piece stays
