"""Has the caller finished? A text estimate of the end of an utterance.

The pipeline asks this when the end-of-speech silence confirms a turn: an utterance that
stops on a conjunction, a filler, a word that needs a complement, or an unfinished number
("I'd like to book for", "um", "two hundred and") is the caller pausing, not done. The
rules only say *incomplete* when the last words make it clear; anything else is complete,
so a finished answer is never held back.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[\w']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_TRAILING_WORDS = _wordset(
    # conjunctions and clause openers
    "and or but because cause if when whether while although though unless until than "
    "whose plus nor "
    # fillers
    "um umm uh uhh er erm ah hmm uhm "
    # words that need what follows: articles, possessives, prepositions, the infinitive
    "the a an my your our their to of for with from about into onto at by via "
    # a subject and its verb, nothing after ("it's", "I'm")
    "it's i'm that's we're they're you're he's she's there's "
    # an unfinished number, an intensifier with nothing to intensify
    "point dash hyphen very"
)
"""A caller whose words stop on one of these has more to say."""
_AUXILIARIES = _wordset(
    "is are was were am be been being have has had will would can could shall should may "
    "might must does"
)
"""A verb that needs what follows ("Sunday is", "the pencils have") unless its subject is a
pronoun that ends a short answer ("yes it is", "I think we have", "they can")."""
_SUBJECTS = _wordset("i you we they he she it there that this who what which not so too also")
_SO_ENDS = _wordset("think hope guess believe suppose say said do did not is was")
"""``so`` after these ends a sentence ("I think so"); elsewhere it leads into more."""
_TRAILING_PHRASES = (
    ("and", "then"),
    ("name", "is"),
    ("number", "is"),
    ("you", "know"),
    ("i", "mean"),
    ("let", "me", "see"),
    ("let's", "see"),
)
_TRAILING_OFF = re.compile(r"(\.\.\.|…|[-–—,])\s*$")
"""Speech-to-text marks speech that trails off ("my number is...", "four two -")."""


def trails_off(text: str) -> bool:
    """True when the transcript ends on a comma, a dash or an ellipsis."""
    return _TRAILING_OFF.search(text) is not None


def text_turn_complete(text: str) -> bool:
    """False when ``text`` clearly stops mid-utterance; True otherwise (and for nothing)."""
    if trails_off(text):
        return False
    said = _words(text)
    if not said:
        return True
    if said[-1] in _TRAILING_WORDS:
        return False
    if said[-1] == "so" and (len(said) < 2 or said[-2] not in _SO_ENDS):
        return False
    if (
        said[-1] in _AUXILIARIES
        and len(said) >= 2
        and said[-2] not in _SUBJECTS
        and not text.rstrip().endswith("?")
    ):
        return False
    return not any(tuple(said[-len(phrase) :]) == phrase for phrase in _TRAILING_PHRASES)
