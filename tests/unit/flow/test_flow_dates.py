from __future__ import annotations

import pytest

from voxplane.providers.flow.dates import extract_date, extract_time


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Monday.", "Monday"),
        ("On Friday, please.", "Friday"),
        ("Next Tuesday.", "next Tuesday"),
        ("This Thursday", "Thursday"),
        ("Wensday", "Wednesday"),  # misspelt by STT
        ("Tomorrow.", "tomorrow"),
        ("Today if possible", "today"),
        ("The day after tomorrow.", "the day after tomorrow"),
        ("March 3rd.", "March 3"),
        ("March the third", "March 3"),
        ("The 3rd of March.", "March 3"),
        ("On the twenty first of May", "May 21"),
        ("the 15th", "the 15th"),
        ("On the fifteenth.", "the 15th"),
        ("Monday, March the third.", "Monday, March 3"),
        ("Friday the 13th", "Friday the 13th"),
        ("How about Thursday at 10?", "Thursday"),
        ("Sept 22nd", "September 22"),
    ],
)
def test_date(said: str, expected: str) -> None:
    assert extract_date(said) == expected


@pytest.mark.parametrize("said", ["May I come in?", "Whenever.", "", "Next week.", "At 10"])
def test_date_none(said: str) -> None:
    assert extract_date(said) is None


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("10 am", "10:00 AM"),
        ("10 a.m.", "10:00 AM"),
        ("Ten thirty.", "10:30"),
        ("2:30 pm", "2:30 PM"),
        ("2.30 p.m.", "2:30 PM"),
        ("Noon.", "12:00 PM"),
        ("Midnight", "12:00 AM"),
        ("Half past two.", "2:30"),
        ("Quarter past three in the afternoon", "3:15 PM"),
        ("Quarter to three.", "2:45"),
        ("Five to three", "2:55"),
        ("Twenty past four in the afternoon", "4:20 PM"),
        ("At 3.", "3:00"),
        ("Ten o'clock in the morning.", "10:00 AM"),
        ("Three oh five", "3:05"),
        ("14:00", "2:00 PM"),
        ("Twelve forty five", "12:45"),
        ("Tuesday at 10:30 am.", "10:30 AM"),
        ("Thursday the 3rd at 10", "10:00"),
        ("Around nine in the morning.", "9:00 AM"),
        ("1030", "10:30"),
    ],
)
def test_time(said: str, expected: str) -> None:
    assert extract_time(said) == expected


@pytest.mark.parametrize("said", ["I don't know.", "", "Whenever suits.", "From 2 to 4 or so"])
def test_time_none(said: str) -> None:
    assert extract_time(said) is None


@pytest.mark.parametrize(("said", "value"), [("10:30am", "10:30 AM"), ("at 2pm", "2:00 PM")])
def test_am_pm_written_against_the_digits(said: str, value: str) -> None:
    assert extract_time(said) == value
