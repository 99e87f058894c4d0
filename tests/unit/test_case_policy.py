"""Which events make casework, and the group each folds into."""

import pytest

from abusedesk.cases.errors import InvalidGrouping
from abusedesk.cases.policy import CaseGroups, category_group


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


def test_a_provider_may_regroup_categories_or_stop_their_casework() -> None:
    """Overrides win over the default groups; None means no case at all."""
    groups = CaseGroups({"fraud": "fraud", "auth_failure": None})

    assert (groups.group_of("fraud"), groups.group_of("auth_failure")) == ("fraud", None)
    assert groups.group_of("phishing") == category_group("phishing")


@pytest.mark.parametrize("bad", ["", "Fraud", "two words", "x" * 41, "drop;table"])
def test_group_names_are_plain_lowercase_words(bad: str) -> None:
    """A group name becomes part of queues, routing rules and URLs: it stays a plain word."""
    with pytest.raises(InvalidGrouping, match="lowercase word"):
        CaseGroups({"fraud": bad})
