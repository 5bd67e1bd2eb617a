"""Sentence chunking of the brain's streamed text."""

from __future__ import annotations

import pytest

from voxplane.pipeline.chunker import SentenceChunker


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


def test_first_long_clause_is_cut_at_a_comma_once() -> None:
    text = "Thank you for calling Acme Dental, we are open Monday to Friday, from nine to five."
    assert chunk(*[w + " " for w in text.split()]) == [
        "Thank you for calling Acme Dental,",
        "we are open Monday to Friday, from nine to five.",
    ]


def test_short_first_sentence_is_not_cut_at_a_comma() -> None:
    assert chunk("Well, yes, that works. ") == ["Well, yes, that works."]


def test_quotes_and_brackets_stay_with_their_sentence() -> None:
    assert chunk('He said "see you soon." Then he left.') == [
        'He said "see you soon."',
        "Then he left.",
    ]
