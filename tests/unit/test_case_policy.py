"""Which events make casework, and how cases are prioritised."""

import pytest

from abusedesk.cases.policy import category_group, priority


@pytest.mark.parametrize(
    ("category", "group"),
    [
        ("spam", "spam"),
        ("sms_spam", "spam"),
        ("phishing", "phishing"),
        ("fraud", "phishing"),
        ("malware", "malware"),
        ("auth_failure", "authentication"),
        ("something_new", "other"),
        ("not_spam", None),
        ("bounce", None),
        ("dmarc_aggregate", None),
    ],
)
def test_category_folds_into_its_group(category: str, group: str | None) -> None:
    """Each event category folds into the expected case group, or into none."""
    assert category_group(category) == group


def test_phishing_outranks_spam_of_the_same_volume() -> None:
    """Severity puts a phishing case above a spam case with the same counts."""
    assert priority("phishing", 5, 1)[0] > priority("spam", 5, 1)[0]


def test_volume_and_reporter_breadth_raise_priority() -> None:
    """More events and more distinct reporters make a case more urgent, and the reason says so."""
    low, _ = priority("spam", 2, 1)
    high, reason = priority("spam", 150, 4)
    assert (high > low, reason) == (True, "spam (severity 1), 150 event(s) from 4 reporter(s)")
