"""Sentence chunking of the brain's streamed text."""

from __future__ import annotations

import pytest

from voxplane.pipeline.chunker import SentenceChunker, spoken_pieces


def chunk(*pieces: str, chunker: SentenceChunker | None = None) -> list[str]:
    """Every sentence out of the chunker, the flushed rest included."""
    chunker = chunker or SentenceChunker()
    out = [s for piece in pieces for s in chunker.push(piece)]
    return out + chunker.flush()


def test_sentences_come_out_as_soon_as_they_end() -> None:
    chunker = SentenceChunker()
    assert chunker.push("Your appointment is booked. See") == ["Your appointment is booked."]
    assert chunker.push(" you on Tuesday! ") == ["See you on Tuesday!"]
    assert chunker.flush() == []


def test_word_by_word_stream_gives_the_same_sentences() -> None:
    text = "Your appointment is booked. See you on Tuesday! Anything else? "
    assert chunk(*[w + " " for w in text.split()]) == chunk(text)


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Smith will see you at 9 a.m. on Monday.",
        "Mr. and Mrs. Jones live at No. 5 Main St. downtown.",
        "The cleaning costs 89.50 dollars plus 3.5 percent tax.",
        "I moved here from the U.S. last year, e.g. in May.",
        "Ask for J. R. Smith at the front desk.",
    ],
)
def test_abbreviations_initials_and_decimals_do_not_end_a_sentence(text: str) -> None:
    assert chunk(text + " Thanks a lot!") == [text, "Thanks a lot!"]


def test_only_a_dot_can_abbreviate() -> None:
    assert chunk("We go with plan B! Then we see.") == ["We go with plan B!", "Then we see."]


def test_tiny_sentences_are_merged_with_the_next() -> None:
    assert chunk("Okay. Sure. Which day works for you? ") == [
        "Okay. Sure. Which day works for you?"
    ]
    assert chunk("Yes. ") == ["Yes."]  # the last one is flushed however short


def test_the_first_clause_is_cut_at_a_comma_once() -> None:
    text = "Thank you for calling Acme Dental, we are open Monday to Friday, from nine to five."
    expected = [
        "Thank you for calling Acme Dental,",
        "we are open Monday to Friday, from nine to five.",
    ]
    assert chunk(*[w + " " for w in text.split()]) == expected
    assert chunk(text) == expected == spoken_pieces(text)


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("Your booking is confirmed for Tuesday; we will text you a reminder.", ";"),
        ("Your booking is confirmed for Tuesday - we will text you a reminder.", " -"),
        ("Your booking is confirmed for Tuesday \u2013 we will text you a reminder.", " \u2013"),
        ("Your booking is confirmed for Tuesday\u2014we will text you a reminder.", "\u2014"),
        ("Here is what I found for you: two openings on Tuesday morning.", ":"),
    ],
)
def test_a_semicolon_colon_or_dash_also_ends_the_first_clause(text: str, first: str) -> None:
    head = text[: text.index(first) + len(first)].strip()
    assert chunk(text) == [head, text[len(head) :].strip()]
    assert chunk(*[w + " " for w in text.split(" ")]) == chunk(text)


def test_only_the_first_piece_is_a_clause() -> None:
    text = (
        "Your cleaning is booked for Tuesday, the fourth of June. "
        "Please arrive ten minutes early, and bring your insurance card."
    )
    assert chunk(text) == [
        "Your cleaning is booked for Tuesday,",
        "the fourth of June.",
        "Please arrive ten minutes early, and bring your insurance card.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Well, yes, that works.",  # every clause too short to stand alone
        "Sorry, I didn't catch that.",
        "Your table for four is booked, thanks.",  # the rest would be a fragment
        "It costs 1,000 dollars at 10:30 on a follow-up visit.",  # not clause marks
    ],
)
def test_short_clauses_stay_in_their_sentence(text: str) -> None:
    assert chunk(text + " What else can I do for you?") == [
        text,
        "What else can I do for you?",
    ]


def test_while_streaming_a_clause_waits_until_enough_of_the_rest_is_seen() -> None:
    chunker = SentenceChunker()
    assert chunker.push("Thank you for calling Acme Dental, ") == []
    assert chunker.push("we are open ") == []  # too little seen after the comma yet
    assert chunker.push("every weekday ") == ["Thank you for calling Acme Dental,"]
    assert chunker.push("from nine. Bye now, see you soon. ") == [
        "we are open every weekday from nine.",
        "Bye now, see you soon.",
    ]


def test_quotes_and_brackets_stay_with_their_sentence() -> None:
    assert chunk('He said "see you soon." Then he left.') == [
        'He said "see you soon."',
        "Then he left.",
    ]
