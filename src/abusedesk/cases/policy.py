"""Pure decisions about cases: which events make casework, and in which group.

How urgent a case is lives in :mod:`abusedesk.cases.priority`.
"""

from abusedesk.parsing.model import Category

# Events that feed monitoring (rates, authentication) rather than an analyst's queue.
_NOT_CASEWORK = frozenset({Category.NOT_SPAM, Category.BOUNCE, Category.DMARC_AGGREGATE})

_GROUP_BY_CATEGORY = {
    Category.SPAM: "spam",
    Category.SMS_SPAM: "spam",
    Category.PHISHING: "phishing",
    Category.FRAUD: "phishing",
    Category.MALWARE: "malware",
    Category.AUTH_FAILURE: "authentication",
}


def category_group(category: str) -> str | None:
    """Return the case group an event category folds into, or None when it makes no case."""
    if category in _NOT_CASEWORK:
        return None
    return _GROUP_BY_CATEGORY.get(category, "other")
