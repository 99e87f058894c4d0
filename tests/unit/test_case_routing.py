"""Routing: queues, rule sets as data, first match wins, default queue, versions."""

import json
from typing import Any

import pytest

from abusedesk.cases.errors import InvalidQueue, InvalidRuleSet
from abusedesk.cases.routing import CaseFacts, Condition, Queue, RoutingRule, RuleSet, route

QUEUES = {"basic", "advanced-phishing", "key-accounts", "security", "monitor"}
DOCUMENT: dict[str, Any] = {
    "version": 3,
    "author": "lead.alice",
    "note": "phishing goes straight to tier 2",
    "default_queue": "basic",
    "rules": [
        {
            "name": "serious phishing",
            "queue": "advanced-phishing",
            "when": [
                {"field": "category_group", "op": "in", "value": ["phishing", "malware"]},
                {"field": "priority", "op": "gte", "value": 30},
            ],
        },
        {
            "name": "key accounts",
            "queue": "key-accounts",
            "when": [{"field": "account_tags", "op": "equals", "value": "key-account"}],
        },
        {
            "name": "monitor signals",
            "queue": "monitor",
            "when": [{"field": "source", "op": "matches", "value": "^monitor:"}],
        },
        {
            "name": "calm spam",
            "queue": "basic",
            "when": [
                {"field": "category_group", "op": "equals", "value": "spam"},
                {"field": "priority", "op": "lte", "value": 12},
            ],
        },
    ],
}
RULES = RuleSet.from_dict(DOCUMENT, queues=QUEUES)


def test_the_first_matching_rule_wins_and_says_why() -> None:
    """A high-priority phishing case of a key account goes to phishing, the earlier rule."""
    facts = CaseFacts("phishing", priority=35, account_tags=frozenset({"key-account"}))
    decision = route(facts, RULES)
    assert (decision.queue, decision.explanation) == (
        "advanced-phishing",
        "rule 1 'serious phishing' of routing version 3 sends it to advanced-phishing:"
        " category group phishing is one of phishing, malware and priority 35 ≥ 30",
    )


def test_every_condition_of_a_rule_must_hold() -> None:
    """Low-priority phishing misses the first rule and falls through to key accounts."""
    facts = CaseFacts("phishing", priority=20, account_tags=frozenset({"key-account", "eu"}))
    assert route(facts, RULES).rule == RULES.rules[1]


def test_a_pattern_matches_the_source() -> None:
    """A monitor's signal is recognised by its source."""
    assert route(CaseFacts("spam", priority=20, source="monitor:spike"), RULES).queue == "monitor"


def test_unmatched_cases_go_to_the_default_queue() -> None:
    """Nothing matches busy spam from a report; the default takes it and the reason says so."""
    decision = route(CaseFacts("spam", priority=20), RULES)
    assert (decision.queue, decision.rule, decision.explanation) == (
        "basic",
        None,
        "none of the 4 rules of routing version 3 matched; it goes to the default queue basic",
    )


def test_a_missing_fact_never_matches() -> None:
    """A rule on the service does not match a case whose service is unknown."""
    rule = RoutingRule("sms", "basic", (Condition("service", "equals", "sms"),))
    assert rule.matches(CaseFacts("spam")) is False


def test_the_json_form_reads_back_the_same_rule_set() -> None:
    """to_dict, JSON and from_dict round-trip."""
    assert RuleSet.from_dict(json.loads(json.dumps(RULES.to_dict()))) == RULES


def test_a_bad_rule_set_lists_every_problem_with_its_place() -> None:
    """Every mistake is reported at once, each with the place to fix it."""
    with pytest.raises(InvalidRuleSet) as caught:
        RuleSet.from_dict(
            {
                "version": 0,
                "author": "",
                "default_queue": "nowhere",
                "rules": [
                    {
                        "name": "a",
                        "queue": "basic",
                        "when": [{"field": "colour", "op": "equals", "value": "red"}],
                    },
                    {
                        "name": "b",
                        "queue": "basic",
                        "when": [{"field": "priority", "op": "gt", "value": 3}],
                    },
                    {
                        "name": "c",
                        "queue": "basic",
                        "when": [{"field": "priority", "op": "gte", "value": "high"}],
                    },
                    {
                        "name": "d",
                        "queue": "basic",
                        "when": [{"field": "reporter", "op": "matches", "value": "("}],
                    },
                    {
                        "name": "e",
                        "queue": "basic",
                        "when": [{"field": "service", "op": "in", "value": []}],
                    },
                    {"name": "f", "queue": "elsewhere", "when": [], "colour": 1},
                ],
            },
            queues=QUEUES,
        )
    assert caught.value.problems == (
        "version: give a whole number from 1 up",
        "author: say who wrote this version",
        "default_queue: unknown queue 'nowhere'",
        "rules[0].when[0].field: unknown field 'colour'; use category_group, service, priority,"
        " account_tier, account_tags, reporter, source",
        "rules[1].when[0].op: priority allows equals, in, gte, lte, not 'gt'",
        "rules[2].when[0].value: gte on priority needs a whole number",
        "rules[3].when[0].value: '(' is not a regular expression"
        " (missing ), unterminated subpattern at position 0)",
        "rules[4].when[0].value: 'in' needs a non-empty list of text",
        "rules[5].queue: unknown queue 'elsewhere'",
        "rules[5]: unknown key(s) ['colour']; a rule has name, queue, when",
    )


def test_repeated_names_and_unreachable_rules_are_refused() -> None:
    """Two rules with one name, or rules after a catch-all, are mistakes."""
    with pytest.raises(InvalidRuleSet) as caught:
        RuleSet.from_dict(
            {
                "version": 1,
                "author": "a",
                "default_queue": "basic",
                "rules": [
                    {"name": "all", "queue": "basic", "when": []},
                    {
                        "name": "all",
                        "queue": "basic",
                        "when": [{"field": "service", "op": "equals", "value": "sms"}],
                    },
                ],
            }
        )
    assert caught.value.problems == (
        "rules[1].name: 'all' is already rules[0]",
        "rules[1:] can never match: rules[0] has no conditions and takes every case;"
        " move it last or use default_queue",
    )


def test_true_is_not_a_number() -> None:
    """JSON booleans are not accepted where a priority is expected."""
    with pytest.raises(InvalidRuleSet):
        Condition("priority", "gte", True)


def test_a_revision_is_the_next_version_with_its_author_and_note() -> None:
    """Revising keeps the rules it is not given and records who changed what."""
    revised = RULES.revise(author="admin.bob", note="drop calm spam", rules=RULES.rules[:3])
    assert (
        revised.version,
        revised.author,
        revised.note,
        len(revised.rules),
        revised.default_queue,
    ) == (
        4,
        "admin.bob",
        "drop calm spam",
        3,
        "basic",
    )


def test_a_revision_needs_a_note() -> None:
    """An unexplained change is refused."""
    with pytest.raises(InvalidRuleSet):
        RULES.revise(author="admin.bob", note=" ")


@pytest.mark.parametrize(
    ("name", "tier", "department"),
    [("", "basic", "trust_safety"), ("q", "expert", "trust_safety"), ("q", "basic", "marketing")],
)
def test_queues_need_a_name_a_tier_and_a_department(name: str, tier: str, department: str) -> None:
    """A queue without a name, or with an unknown tier or department, is refused."""
    with pytest.raises(InvalidQueue):
        Queue(name, tier, department)


def test_a_condition_built_with_a_list_keeps_a_tuple() -> None:
    """A list value is frozen, so conditions stay hashable and compare equal to loaded ones."""
    built = Condition("category_group", "in", ["spam", "phishing"])  # type: ignore[arg-type]  # a list, as JSON gives it
    assert (built.value, built.holds(CaseFacts("phishing"))) == (("spam", "phishing"), True)


BASE: dict[str, Any] = {"version": 1, "author": "a", "default_queue": "basic"}


@pytest.mark.parametrize(
    "changes",
    [
        {"note": 5},
        {"default_queue": ""},
        {"rules": {"name": "x"}},
        {"rules": ["x"]},
        {"rules": [{"name": "", "queue": "basic"}]},
        {"rules": [{"name": "x", "queue": ""}]},
        {"rules": [{"name": "x", "queue": "basic", "when": {"field": "service"}}]},
        {
            "rules": [
                {"name": "x", "queue": "basic", "when": [{"field": "service", "op": "equals"}]}
            ]
        },
        {
            "rules": [
                {
                    "name": "x",
                    "queue": "basic",
                    "when": [{"field": "service", "op": "equals", "value": 3}],
                }
            ]
        },
        {
            "rules": [
                {
                    "name": "x",
                    "queue": "basic",
                    "when": [{"field": "priority", "op": "in", "value": [1, "2"]}],
                }
            ]
        },
        {
            "rules": [
                {
                    "name": "x",
                    "queue": "basic",
                    "when": [{"field": "reporter", "op": "matches", "value": "a" * 201}],
                }
            ]
        },
    ],
)
def test_malformed_rule_set_documents_are_refused(changes: dict[str, Any]) -> None:
    """Wrong shapes and value types anywhere in the document raise InvalidRuleSet."""
    with pytest.raises(InvalidRuleSet):
        RuleSet.from_dict({**BASE, **changes})


def test_a_condition_reads_in_words_without_a_case() -> None:
    """The admin page shows a rule's conditions on their own."""
    assert (
        Condition("account_tags", "in", ("vip", "eu")).describe()
        == "account tags include one of vip, eu"
    )
