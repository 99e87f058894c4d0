"""Pure decisions about cases: which events make casework, and in which group.

How urgent a case is lives in :mod:`abusedesk.cases.priority`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from abusedesk.cases.errors import InvalidGrouping
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


_GROUP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class CaseGroups:
    """The category groups cases fold by, with a provider's own changes to the defaults.

    *overrides* maps an event category to a group name, or to None for no casework (e.g.
    ``{"fraud": "fraud", "auth_failure": null}`` gives fraud its own cases and stops
    authentication failures from making any).
    """

    overrides: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [
            f"{category} -> {group!r}"
            for category, group in self.overrides.items()
            if group is not None and not _GROUP_NAME.match(group)
        ]
        if bad:
            raise InvalidGrouping(
                "a case group is a lowercase word (letters, digits, _; at most 40): "
                + ", ".join(bad)
            )

    def group_of(self, category: str) -> str | None:
        """Return the group an event of *category* folds into, or None: no casework."""
        if category in self.overrides:
            return self.overrides[category]
        return category_group(category)
