"""What each kind of signal does to casework: record, open or join a case, escalate, propose.

Per kind of signal a :class:`SignalRule` says which category group of the account's cases
it opens or joins (None: it only records), whether the ladder step it asks for is
proposed (``review`` proposes ``review``; ``propose_pause`` proposes ``pause``, which the
enforcement policy makes wait for a second analyst), and from which severity its case goes
to an advanced-tier queue. A provider changes the defaults with overrides (settings,
``ABUSEDESK_MONITORING__RULES``), e.g.::

    {"spike.jump": {"case_group": "spam", "higher_tier_at": "medium"},
     "rate.spam_trap": {"case_group": null},
     "rate.pending_pause": {"propose": false}}

:meth:`SignalRules.decide` returns the decision with every reason in words, which storage
keeps on the signal and writes into the case's history. Storage applies it; the ladder
and the policy still have the last word on any action proposed.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final

from abusedesk.cases.policy import CaseGroups
from abusedesk.core.errors import AbuseDeskError
from abusedesk.enforcement.ladder import AccountAction
from abusedesk.enforcement.policy import METRICS
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step


class InvalidSignalRules(AbuseDeskError):
    """Raise when overrides of the signal rules are wrong; lists every problem by place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class CaseGroup:
    """The category groups monitors' signals open cases in, besides the event groups."""

    # Rates, spam traps, blocklist listings, sending bursts: how the account's mail is received.
    REPUTATION = "reputation"
    # An account linked to terminated ones or run by the same operator as a ring.
    LINKED_ACCOUNTS = "linked_accounts"
    # A hosted mailbox sending unlike itself: its owner has most likely lost it.
    COMPROMISED_MAILBOX = "compromised_mailbox"
    # Artificially inflated SMS traffic.
    SMS_PUMPING = "sms_pumping"


# The ladder action each step proposes.
STEP_ACTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {Step.REVIEW: AccountAction.REVIEW, Step.PROPOSE_PAUSE: AccountAction.PAUSE}
)
# Priority points an open signal of each severity adds to its case (see storage/cases.py).
SEVERITY_POINTS: Final[Mapping[str, int]] = MappingProxyType(
    {Severity.LOW: 2, Severity.MEDIUM: 6, Severity.HIGH: 12}
)
_RANK: Final = {severity: rank for rank, severity in enumerate(Severity.ALL)}
_GROUP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_KEY = 200
_MAX_SUBJECT = 200
_MAX_FIGURE_TEXT = 500


@dataclass(frozen=True)
class SignalRule:
    """What one kind of signal does.

    *case_group* is the group of the account's case it opens or joins (None: record
    only); *from_category* lets a ``category`` in the figures pick the group instead
    (a spike of phishing complaints joins the phishing case); *propose* proposes the
    ladder action of the signal's step; from *higher_tier_at* severity on (None: never)
    the case goes to an advanced-tier queue; *records_end* marks signals that only end
    another (healed, delisted): they are resolved as they are recorded.
    """

    case_group: str | None
    propose: bool = True
    higher_tier_at: str | None = Severity.HIGH
    from_category: bool = False
    records_end: bool = False


_R = SignalRule
_K = SignalKind
DEFAULT_RULES: Final[Mapping[str, SignalRule]] = MappingProxyType(
    {
        _K.RATE_REVIEW: _R(CaseGroup.REPUTATION),
        _K.RATE_PENDING_PAUSE: _R(CaseGroup.REPUTATION),
        _K.RATE_HEALED: _R(None, propose=False, records_end=True),
        _K.SPAM_TRAP: _R(CaseGroup.REPUTATION),
        _K.BLOCKLIST_LISTED: _R(CaseGroup.REPUTATION),
        _K.BLOCKLIST_DELISTED: _R(None, propose=False, records_end=True),
        _K.SPIKE: _R("spam", from_category=True),
        _K.SENDING_BURST: _R(CaseGroup.REPUTATION),
        # A reporter's volume collapsing is a parser or feed problem, not an account's.
        _K.REPORTER_COLLAPSE: _R(None, propose=False),
        _K.LINKED_TO_TERMINATED: _R(CaseGroup.LINKED_ACCOUNTS, higher_tier_at=Severity.MEDIUM),
        # A cluster is about no one account: it shows on the dashboard and cluster pages;
        # its members' own link.terminated_account signals open their cases.
        _K.CLUSTER: _R(None, propose=False, higher_tier_at=None),
        _K.LINK_ENDED: _R(None, propose=False, records_end=True),
        _K.MAILBOX_COMPROMISE: _R(CaseGroup.COMPROMISED_MAILBOX),
        _K.SMS_PUMPING: _R(CaseGroup.SMS_PUMPING),
        _K.ACTIVITY_ENDED: _R(None, propose=False, records_end=True),
    }
)
# A kind no rule names (a new monitor) records only, until a rule says otherwise.
UNKNOWN_KIND_RULE: Final = SignalRule(None, propose=False, higher_tier_at=None)
_OVERRIDABLE = ("case_group", "propose", "higher_tier_at")


@dataclass(frozen=True)
class Decision:
    """What a signal does: the case group it opens or joins (None: record only), the
    action it proposes (None: none) with the cause the policy counts repeats by, whether
    its case goes to a higher tier, and why, in sentences an analyst reads."""

    kind: str
    case_group: str | None
    action: str | None
    cause: str
    higher_tier: bool
    records_end: bool
    severity_points: int
    reasons: tuple[str, ...] = field(default=())

    @property
    def record_only(self) -> bool:
        """Tell whether the signal only records: no case, no action."""
        return self.case_group is None

    def sentence(self) -> str:
        """Return the reasons as one paragraph."""
        return " ".join(self.reasons)


@dataclass(frozen=True)
class SignalRules:
    """The rule for every kind of signal: the defaults with a provider's overrides.

    *groups* are the provider's case groups (``ABUSEDESK_CASES__CATEGORY_GROUPS``): a
    signal whose rule takes its group from its ``category`` folds as events do.
    """

    rules: Mapping[str, SignalRule] = field(default_factory=lambda: DEFAULT_RULES)
    groups: CaseGroups = field(default_factory=CaseGroups)

    @classmethod
    def from_overrides(
        cls, overrides: Mapping[str, Mapping[str, Any]], *, groups: CaseGroups | None = None
    ) -> "SignalRules":
        """Return the defaults changed by *overrides*, with the provider's case *groups*;
        raise InvalidSignalRules naming every problem by place
        (``rules.spike.jump.higher_tier_at: ...``)."""
        problems: list[str] = []
        rules = dict(DEFAULT_RULES)
        known = sorted(DEFAULT_RULES)
        for kind, changes in overrides.items():
            where = f"rules.{kind}"
            if kind not in DEFAULT_RULES:
                problems.append(f"{where}: unknown kind of signal; known: {', '.join(known)}")
                continue
            if not isinstance(changes, Mapping):
                problems.append(f"{where}: give {{case_group, propose, higher_tier_at}}")
                continue
            rule = rules[kind]
            values: dict[str, Any] = {}
            for name, value in changes.items():
                problem = _override_problem(name, value)
                if problem:
                    problems.append(f"{where}.{name}: {problem}")
                else:
                    values[name] = value
            if rule.records_end and values.get("case_group"):
                problems.append(f"{where}.case_group: {kind} only ends another signal")
                continue
            rules[kind] = replace(rule, **values)
        if problems:
            raise InvalidSignalRules(problems)
        return cls(MappingProxyType(rules), groups or CaseGroups())

    def rule_for(self, kind: str) -> SignalRule:
        """Return the rule for *kind*; an unknown kind only records."""
        return self.rules.get(kind, UNKNOWN_KIND_RULE)

    def decide(self, draft: SignalDraft) -> Decision:
        """Decide what *draft* does to the account's casework, with the reasons in words."""
        rule = self.rule_for(draft.kind)
        points = SEVERITY_POINTS.get(draft.severity, 0)
        cause = rate_cause(draft)
        end = f" It ends signal {draft.resolves}." if draft.resolves else ""
        if rule.records_end:
            return Decision(
                draft.kind,
                None,
                None,
                cause,
                higher_tier=False,
                records_end=True,
                severity_points=0,
                reasons=(f"{draft.kind} records an end; it is resolved as it is recorded.{end}",),
            )
        if rule.case_group is None:
            why = (
                f"Rules record {draft.kind} only: it opens no case."
                if draft.kind in self.rules
                else f"No rule names {draft.kind}: it is recorded only."
            )
            return Decision(draft.kind, None, None, cause, False, False, 0, (why + end,))
        if draft.account_id is None:
            return Decision(
                draft.kind,
                None,
                None,
                cause,
                False,
                False,
                0,
                (
                    f"It concerns {draft.subject_type} {draft.subject_id}, held by no one"
                    f" account, so it opens no case; it stays on the monitoring page.{end}",
                ),
            )
        group = rule.case_group
        reasons = [f"Rules send {draft.kind} to the account's {group} case."]
        if rule.from_category:
            category = draft.figures.get("category")
            chosen = self.groups.group_of(category) if isinstance(category, str) else None
            if chosen is not None:
                group = chosen
                reasons = [f"A {draft.kind} in {category} goes to the account's {group} case."]
        reasons.append(f"Severity {draft.severity} adds {points} to the case's priority.")
        higher = rule.higher_tier_at is not None and _RANK.get(draft.severity, -1) >= _RANK.get(
            rule.higher_tier_at, len(_RANK)
        )
        if higher:
            reasons.append(
                f"Severity {draft.severity} reaches {rule.higher_tier_at}: the case goes to an"
                " advanced-tier queue."
            )
        action = STEP_ACTIONS.get(draft.step)
        if action is not None and not rule.propose:
            reasons.append(f"It asks for {draft.step}, but rules propose no action for it.")
            action = None
        elif action is not None:
            approval = (
                " (the policy decides whether a second analyst approves it)"
                if action == AccountAction.PAUSE
                else ""
            )
            reasons.append(f"It asks for {draft.step}: {action} is proposed{approval}.")
        return Decision(
            draft.kind,
            group,
            action,
            cause,
            higher_tier=higher,
            records_end=False,
            severity_points=points,
            reasons=tuple(reasons) + ((end.strip(),) if end else ()),
        )


def rate_cause(draft: SignalDraft) -> str:
    """Return the cause an action is proposed for: the rate's metric, else the kind.

    The policy's repeat rules count earlier actions by cause, so a complaint-rate review
    and a later complaint-rate review are the same cause however the signal was raised.
    """
    metric = draft.figures.get("metric")
    if isinstance(metric, str) and metric in METRICS:
        return metric
    return draft.kind


def draft_problems(draft: SignalDraft) -> list[str]:
    """Return what is wrong with *draft* (empty when it can be recorded)."""
    problems = []
    if not draft.kind.strip():
        problems.append("the signal has no kind")
    if not draft.dedupe_key.strip() or len(draft.dedupe_key) > _MAX_KEY:
        problems.append(f"a dedupe key is 1 to {_MAX_KEY} characters")
    if not draft.subject_type.strip() or not draft.subject_id.strip():
        problems.append("the signal names no subject")
    if len(draft.subject_id) > _MAX_SUBJECT:
        problems.append(f"a subject id is at most {_MAX_SUBJECT} characters")
    if not draft.reason.strip():
        problems.append("the signal gives no reason")
    if draft.severity not in Severity.ALL:
        problems.append(f"unknown severity {draft.severity!r}; use {', '.join(Severity.ALL)}")
    if draft.step not in Step.ALL:
        problems.append(f"unknown step {draft.step!r}; use {', '.join(Step.ALL)}")
    if draft.at.tzinfo is None:
        problems.append("the signal's time has no time zone")
    if draft.account_id is not None and (
        isinstance(draft.account_id, bool) or draft.account_id < 1
    ):
        problems.append("an account id is a whole number from 1 up")
    for name, value in (("figures", draft.figures), ("evidence", draft.evidence)):
        if not _json_able(value):
            problems.append(f"the {name} are not plain JSON (text, numbers, lists, mappings)")
    return problems


def evidence_figures(figures: Mapping[str, Any]) -> dict[str, float | int | str]:
    """Flatten *figures* into what an action's evidence holds: ``name: number or text``.

    Nested mappings become dotted names (``window.days``), lists and booleans become
    text, missing values are left out, and long text is cut.
    """
    flat: dict[str, float | int | str] = {}

    def add(name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            flat[name] = "yes" if value else "no"
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                flat[name] = str(value)
            else:
                flat[name] = value
        elif isinstance(value, Mapping):
            for key, inner in value.items():
                add(f"{name}.{key}", inner)
        elif isinstance(value, list | tuple):
            flat[name] = ", ".join(str(item) for item in value)[:_MAX_FIGURE_TEXT]
        else:
            flat[name] = str(value)[:_MAX_FIGURE_TEXT]

    for key, value in figures.items():
        add(str(key), value)
    return flat


def _override_problem(name: str, value: Any) -> str | None:
    if name not in _OVERRIDABLE:
        return f"unknown setting; use {', '.join(_OVERRIDABLE)}"
    if name == "case_group":
        if value is not None and not (isinstance(value, str) and _GROUP_NAME.match(value)):
            return "a case group is a lowercase word (letters, digits, _; at most 40) or null"
    elif name == "propose":
        if not isinstance(value, bool):
            return "give true or false"
    elif value is not None and value not in Severity.ALL:
        return f"give one of {', '.join(Severity.ALL)}, or null for never"
    return None


def _json_able(value: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _json_able(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_json_able(item, depth + 1) for item in value)
    return False
