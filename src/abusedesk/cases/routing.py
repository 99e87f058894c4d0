"""Queues and routing rules: rules are data, the first match wins, else the default queue.

A rule set is a versioned document (version, author, note) of ordered rules. Each rule
names a queue and the conditions, all of which must hold, on the facts of a case. The
JSON form is what admins edit; :meth:`RuleSet.from_dict` checks it and reports every
problem with its place (``rules[2].when[0].op: ...``).
"""

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any

from abusedesk.cases.errors import InvalidQueue, InvalidRuleSet


class Tier:
    """Who works a queue: basic for SOP decisions, advanced for rings, appeals and judgement."""

    BASIC = "basic"
    ADVANCED = "advanced"

    ALL = (BASIC, ADVANCED)


class Department:
    """The teams that own queues and receive escalations."""

    TRUST_SAFETY = "trust_safety"
    SERVICE_TEAM = "service_team"
    SECURITY = "security"
    LEGAL = "legal"
    APPEALS = "appeals"

    ALL = (TRUST_SAFETY, SERVICE_TEAM, SECURITY, LEGAL, APPEALS)


@dataclass(frozen=True)
class Queue:
    """Where cases wait: a unique name, a tier and the department that owns it."""

    name: str
    tier: str = Tier.BASIC
    department: str = Department.TRUST_SAFETY

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidQueue("a queue needs a name")
        if self.tier not in Tier.ALL:
            raise InvalidQueue(
                f"queue {self.name}: unknown tier {self.tier!r}; use {', '.join(Tier.ALL)}"
            )
        if self.department not in Department.ALL:
            raise InvalidQueue(
                f"queue {self.name}: unknown department {self.department!r};"
                f" use {', '.join(Department.ALL)}"
            )


@dataclass(frozen=True)
class CaseFacts:
    """What routing may look at: the case, its account and where its evidence came from.

    ``source`` is ``report`` for complaints or ``monitor:<kind>`` for a monitor's signal.
    """

    category_group: str
    service: str | None = None
    priority: int = 0
    account_tier: str | None = None
    account_tags: frozenset[str] = frozenset()
    reporter: str | None = None
    source: str = "report"


# The facts a condition may test, and their kind.
_TEXT, _NUMBER, _SET = "text", "number", "set"
FIELDS: Mapping[str, str] = {
    "category_group": _TEXT,
    "service": _TEXT,
    "priority": _NUMBER,
    "account_tier": _TEXT,
    "account_tags": _SET,
    "reporter": _TEXT,
    "source": _TEXT,
}
# The operators each kind of fact allows.
OPERATORS: Mapping[str, tuple[str, ...]] = {
    _TEXT: ("equals", "in", "matches"),
    _NUMBER: ("equals", "in", "gte", "lte"),
    _SET: ("equals", "in", "matches"),
}
_MAX_PATTERN = 200

Scalar = str | int


@dataclass(frozen=True)
class Condition:
    """One test on a fact: ``field op value``; on account tags it holds if any tag passes."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...]
    _pattern: re.Pattern[str] | None = dataclass_field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.value, list):
            object.__setattr__(self, "value", tuple(self.value))
        problems = _condition_problems(self.field, self.op, self.value)
        if problems:
            raise InvalidRuleSet(problems)
        if self.op == "matches":
            object.__setattr__(self, "_pattern", re.compile(str(self.value)))

    def holds(self, facts: CaseFacts) -> bool:
        """Tell whether the condition holds for *facts*; a missing fact never matches."""
        fact = getattr(facts, self.field)
        if FIELDS[self.field] == _SET:
            return any(self._test(item) for item in fact)
        return fact is not None and self._test(fact)

    def _test(self, fact: Scalar) -> bool:
        if self.op == "equals":
            return fact == self.value
        if self.op == "in":
            return isinstance(self.value, tuple) and fact in self.value
        if self.op == "gte":
            return isinstance(fact, int) and isinstance(self.value, int) and fact >= self.value
        if self.op == "lte":
            return isinstance(fact, int) and isinstance(self.value, int) and fact <= self.value
        assert self._pattern is not None  # noqa: S101  # compiled for every "matches"
        return self._pattern.search(str(fact)) is not None

    def describe(self, facts: CaseFacts | None = None) -> str:
        """Return the condition in words, with the case's value when *facts* is given."""
        words = {"equals": "is", "in": "is one of", "gte": "≥", "lte": "≤", "matches": "matches"}
        if FIELDS[self.field] == _SET:
            words = {"equals": "include", "in": "include one of", "matches": "include one matching"}
        value = (
            ", ".join(map(str, self.value)) if isinstance(self.value, tuple) else str(self.value)
        )
        name = self.field.replace("_", " ")
        if facts is None:
            return f"{name} {words[self.op]} {value}"
        fact = getattr(facts, self.field)
        shown = ", ".join(sorted(fact)) if isinstance(fact, frozenset) else fact
        return f"{name} {shown} {words[self.op]} {value}"

    def to_dict(self) -> dict[str, Any]:
        """Return the condition in its JSON form."""
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, "op": self.op, "value": value}


def _scalar_ok(kind: str, value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if kind == _NUMBER else isinstance(value, str)


def _condition_problems(name: str, op: str, value: object) -> list[str]:
    kind = FIELDS.get(name)
    if kind is None:
        return [f"field: unknown field {name!r}; use {', '.join(FIELDS)}"]
    if op not in OPERATORS[kind]:
        return [f"op: {name} allows {', '.join(OPERATORS[kind])}, not {op!r}"]
    wanted = "a whole number" if kind == _NUMBER else "text"
    if op == "in":
        if not isinstance(value, tuple | list) or not value:
            return [f"value: 'in' needs a non-empty list of {wanted}"]
        if not all(_scalar_ok(kind, v) for v in value):
            return [f"value: every item of the list must be {wanted}"]
        return []
    if op == "matches":
        if not isinstance(value, str) or not value or len(value) > _MAX_PATTERN:
            return [
                f"value: 'matches' needs a regular expression of 1 to {_MAX_PATTERN} characters"
            ]
        try:
            re.compile(value)
        except re.error as exc:
            return [f"value: {value!r} is not a regular expression ({exc})"]
        return []
    if not _scalar_ok(kind, value):
        return [f"value: {op} on {name} needs {wanted}"]
    return []


@dataclass(frozen=True)
class RoutingRule:
    """Send a case to *queue* when every condition holds (no conditions: every case)."""

    name: str
    queue: str
    conditions: tuple[Condition, ...] = ()

    def matches(self, facts: CaseFacts) -> bool:
        """Tell whether every condition holds for *facts*."""
        return all(c.holds(facts) for c in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        """Return the rule in its JSON form."""
        return {
            "name": self.name,
            "queue": self.queue,
            "when": [c.to_dict() for c in self.conditions],
        }


@dataclass(frozen=True)
class RuleSet:
    """One version of the routing rules: ordered rules, a default queue, who wrote it and why."""

    version: int
    author: str
    note: str
    rules: tuple[RoutingRule, ...]
    default_queue: str

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, queues: Collection[str] | None = None
    ) -> "RuleSet":
        """Build a rule set from its JSON form; raise InvalidRuleSet naming every problem.

        When *queues* is given, every queue a rule or the default names must be in it.
        """
        problems: list[str] = []
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            problems.append("version: give a whole number from 1 up")
        author = data.get("author")
        if not isinstance(author, str) or not author.strip():
            problems.append("author: say who wrote this version")
        note = data.get("note", "")
        if not isinstance(note, str):
            problems.append("note: give the change in words")
        default = data.get("default_queue")
        if not isinstance(default, str) or not default.strip():
            problems.append("default_queue: name the queue for cases no rule matches")
        elif queues is not None and default not in queues:
            problems.append(f"default_queue: unknown queue {default!r}")
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            problems.append("rules: give a list of rules")
            raw_rules = []
        placed = []
        for index, raw in enumerate(raw_rules):
            rule = _rule(raw, f"rules[{index}]", queues, problems)
            if rule is not None:
                placed.append((index, rule))
        problems += _order_problems(placed, len(raw_rules))
        rules = [rule for _, rule in placed]
        if problems:
            raise InvalidRuleSet(problems)
        return cls(int(str(version)), str(author).strip(), str(note), tuple(rules), str(default))

    def to_dict(self) -> dict[str, Any]:
        """Return the rule set in the JSON form :meth:`from_dict` reads."""
        return {
            "version": self.version,
            "author": self.author,
            "note": self.note,
            "default_queue": self.default_queue,
            "rules": [r.to_dict() for r in self.rules],
        }

    def revise(
        self,
        *,
        author: str,
        note: str,
        rules: Sequence[RoutingRule] | None = None,
        default_queue: str | None = None,
    ) -> "RuleSet":
        """Return the next version with new rules or default queue, by *author*, because *note*."""
        if not author.strip() or not note.strip():
            raise InvalidRuleSet(["a new version needs an author and a note saying what changed"])
        revised = replace(
            self,
            version=self.version + 1,
            author=author.strip(),
            note=note.strip(),
            rules=self.rules if rules is None else tuple(rules),
            default_queue=default_queue or self.default_queue,
        )
        problems = _order_problems(list(enumerate(revised.rules)), len(revised.rules))
        if problems:
            raise InvalidRuleSet(problems)
        return revised


def _rule(
    raw: object, where: str, queues: Collection[str] | None, problems: list[str]
) -> RoutingRule | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: give {{name, queue, when}}")
        return None
    found = len(problems)
    name, queue, when = raw.get("name"), raw.get("queue"), raw.get("when", [])
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}.name: give the rule a name")
    if not isinstance(queue, str) or not queue.strip():
        problems.append(f"{where}.queue: name the queue the rule sends cases to")
    elif queues is not None and queue not in queues:
        problems.append(f"{where}.queue: unknown queue {queue!r}")
    strangers = sorted(set(raw) - {"name", "queue", "when"})
    if strangers:
        problems.append(f"{where}: unknown key(s) {strangers}; a rule has name, queue, when")
    if not isinstance(when, list):
        problems.append(f"{where}.when: give a list of conditions")
        when = []
    conditions = []
    for index, item in enumerate(when):
        place = f"{where}.when[{index}]"
        if not isinstance(item, Mapping) or set(item) != {"field", "op", "value"}:
            problems.append(f"{place}: give exactly {{field, op, value}}")
            continue
        value = item["value"]
        value = tuple(value) if isinstance(value, list) else value
        issues = _condition_problems(str(item["field"]), str(item["op"]), value)
        if issues:
            problems += [f"{place}.{issue}" for issue in issues]
            continue
        conditions.append(Condition(str(item["field"]), str(item["op"]), value))
    if len(problems) > found:
        return None
    return RoutingRule(str(name).strip(), str(queue), tuple(conditions))


def _order_problems(placed: Sequence[tuple[int, RoutingRule]], count: int) -> list[str]:
    """Find repeated rule names and rules hidden behind a rule without conditions."""
    problems = []
    seen: dict[str, int] = {}
    for index, rule in placed:
        if rule.name in seen:
            problems.append(
                f"rules[{index}].name: {rule.name!r} is already rules[{seen[rule.name]}]"
            )
        seen.setdefault(rule.name, index)
    catch_all = next((i for i, r in placed if not r.conditions), None)
    if catch_all is not None and catch_all < count - 1:
        problems.append(
            f"rules[{catch_all + 1}:] can never match: rules[{catch_all}] has no conditions"
            " and takes every case; move it last or use default_queue"
        )
    return problems


@dataclass(frozen=True)
class RoutingDecision:
    """The queue a case goes to, the rule that chose it (None: the default) and why."""

    queue: str
    rule: RoutingRule | None
    version: int
    explanation: str


def route(facts: CaseFacts, ruleset: RuleSet) -> RoutingDecision:
    """Return the queue for a case with *facts*: the first matching rule's, else the default."""
    for position, rule in enumerate(ruleset.rules, start=1):
        if rule.matches(facts):
            because = (
                " and ".join(c.describe(facts) for c in rule.conditions) or "it has no conditions"
            )
            return RoutingDecision(
                rule.queue,
                rule,
                ruleset.version,
                f"rule {position} {rule.name!r} of routing version {ruleset.version} sends it"
                f" to {rule.queue}: {because}",
            )
    return RoutingDecision(
        ruleset.default_queue,
        None,
        ruleset.version,
        f"none of the {len(ruleset.rules)} rules of routing version {ruleset.version}"
        f" matched; it goes to the default queue {ruleset.default_queue}",
    )
