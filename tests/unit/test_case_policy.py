"""Which events make casework, and the group each folds into."""

import pytest

from abusedesk.cases.policy import category_group


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
