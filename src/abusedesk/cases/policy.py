"""Pure decisions about cases: which events make casework, and how urgent a case is."""

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

_SEVERITY = {"phishing": 3, "malware": 3, "spam": 1, "authentication": 1, "other": 1}


def category_group(category: str) -> str | None:
    """Return the case group an event category folds into, or None when it makes no case."""
    if category in _NOT_CASEWORK:
        return None
    return _GROUP_BY_CATEGORY.get(category, "other")


def priority(group: str, event_count: int, reporter_count: int) -> tuple[int, str]:
    """Return a case's priority (higher is more urgent) and the reason in words."""
    severity = _SEVERITY.get(group, 1)
    volume = 0 if event_count < 10 else 1 if event_count < 100 else 2
    breadth = 1 if reporter_count >= 3 else 0
    score = severity * 10 + volume * 3 + breadth * 2
    reason = (
        f"{group} (severity {severity}), {event_count} event(s) from {reporter_count} reporter(s)"
    )
    return score, reason
