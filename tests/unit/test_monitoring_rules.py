"""The signal rules: what each kind of signal does to casework, and why in words."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from abusedesk.monitoring.rules import (
    DEFAULT_RULES,
    CaseGroup,
    InvalidSignalRules,
    SignalRules,
    draft_problems,
    evidence_figures,
    rate_cause,
)
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step

AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _draft(kind: str = SignalKind.RATE_REVIEW, **changes: object) -> SignalDraft:
    base = SignalDraft(
        kind=kind,
        subject_type="account",
        subject_id="7",
        reason="complaint rate 0.31% over 48,200 messages",
        figures={"metric": "complaint_rate", "rate": 0.0031},
        at=AT,
        dedupe_key=f"{kind}:7",
        account_id=7,
        severity=Severity.MEDIUM,
        step=Step.REVIEW,
    )
    return replace(base, **changes)


def test_every_kind_has_a_default_rule() -> None:
    """No kind of signal falls through to "unknown" by default."""
    kinds = {v for k, v in vars(SignalKind).items() if k.isupper()}
    assert kinds - set(DEFAULT_RULES) == set()


def test_a_rate_review_joins_the_reputation_case_and_proposes_a_review() -> None:
    """Step review proposes review for the complaint-rate cause."""
    decision = SignalRules().decide(_draft())
    assert (decision.case_group, decision.action, decision.cause, decision.higher_tier) == (
        CaseGroup.REPUTATION,
        "review",
        "complaint_rate",
        False,
    )


def test_propose_pause_proposes_a_pause_and_says_the_policy_decides_approval() -> None:
    """Step propose_pause asks the ladder for pause."""
    decision = SignalRules().decide(_draft(SignalKind.RATE_PENDING_PAUSE, step=Step.PROPOSE_PAUSE))
    assert decision.action == "pause"
    assert "the policy decides whether a second analyst approves it" in decision.sentence()


def test_a_spike_in_phishing_complaints_joins_the_phishing_case() -> None:
    """A category in a spike's figures picks the case group."""
    spike = _draft(SignalKind.SPIKE, step=Step.NONE, figures={"category": "phishing"})
    assert SignalRules().decide(spike).case_group == "phishing"


def test_a_spike_without_a_category_joins_the_spam_case() -> None:
    """Without a category, a spike of complaints goes to the spam case."""
    spike = _draft(SignalKind.SPIKE, step=Step.NONE, figures={"distinct_recipients": 40})
    assert SignalRules().decide(spike).case_group == "spam"


def test_a_high_severity_signal_asks_for_a_higher_tier() -> None:
    """Severity high reaches the default higher-tier severity."""
    assert SignalRules().decide(_draft(severity=Severity.HIGH)).higher_tier is True


def test_a_medium_link_already_asks_for_a_higher_tier() -> None:
    """Linked accounts go to the advanced tier from medium severity on."""
    draft = _draft(SignalKind.LINKED_TO_TERMINATED, step=Step.NONE)
    assert SignalRules().decide(draft).higher_tier is True


def test_a_signal_without_an_account_records_only() -> None:
    """A shared-pool listing names no account: no case, no action."""
    decision = SignalRules().decide(_draft(SignalKind.BLOCKLIST_LISTED, account_id=None))
    assert (decision.record_only, decision.action) == (True, None)


def test_a_delisting_records_an_end() -> None:
    """Delisted and healed signals only end the signal they resolve."""
    decision = SignalRules().decide(
        _draft(SignalKind.BLOCKLIST_DELISTED, step=Step.NONE, resolves="blocklist.listed:1")
    )
    assert (decision.records_end, decision.record_only) == (True, True)
    assert "It ends signal blocklist.listed:1." in decision.sentence()


def test_an_unknown_kind_records_only() -> None:
    """A kind no rule names is recorded and opens nothing."""
    decision = SignalRules().decide(_draft("new_monitor.something"))
    assert (decision.record_only, decision.sentence()) == (
        True,
        "No rule names new_monitor.something: it is recorded only.",
    )


def test_overrides_change_the_group_the_proposal_and_the_tier() -> None:
    """Overrides replace only the settings they name."""
    rules = SignalRules.from_overrides(
        {SignalKind.RATE_REVIEW: {"propose": False, "higher_tier_at": Severity.MEDIUM}}
    )
    decision = rules.decide(_draft())
    assert (decision.case_group, decision.action, decision.higher_tier) == (
        CaseGroup.REPUTATION,
        None,
        True,
    )
    assert "rules propose no action for it" in decision.sentence()


def test_wrong_overrides_name_every_problem_by_place() -> None:
    """Unknown kinds, settings and values are each reported."""
    with pytest.raises(InvalidSignalRules) as raised:
        SignalRules.from_overrides(
            {
                "rate.unknown": {},
                SignalKind.SPIKE: {"case_group": "Not A Group", "colour": "red"},
                SignalKind.CLUSTER: {"higher_tier_at": "urgent", "propose": "yes"},
            }
        )
    assert [p.split(":")[0] for p in raised.value.problems] == [
        "rules.rate.unknown",
        "rules.spike.jump.case_group",
        "rules.spike.jump.colour",
        "rules.link.cluster.higher_tier_at",
        "rules.link.cluster.propose",
    ]


def test_the_cause_is_the_rate_metric_else_the_kind() -> None:
    """Repeat rules count by metric for rates, by kind for the rest."""
    assert (
        rate_cause(_draft()),
        rate_cause(_draft(SignalKind.SMS_PUMPING, figures={"metric": "countries"})),
    ) == ("complaint_rate", SignalKind.SMS_PUMPING)


def test_figures_flatten_into_evidence() -> None:
    """Nested figures take dotted names; lists and booleans become text; None is left out."""
    flat = evidence_figures(
        {"rate": 0.01, "window": {"days": 7}, "lists": ["zen", "dbl"], "ok": True, "none": None}
    )
    assert flat == {"rate": 0.01, "window.days": 7, "lists": "zen, dbl", "ok": "yes"}


def test_draft_problems_name_what_is_wrong() -> None:
    """A draft with a naive time, an unknown step and figures that are no JSON is refused."""
    draft = _draft(
        at=datetime(2026, 11, 2, 8, 0),  # noqa: DTZ001  # a naive time is what is tested
        step="suspend",
        figures={"rate": float("nan")},
    )
    assert draft_problems(draft) == [
        "unknown step 'suspend'; use none, review, propose_pause",
        "the signal's time has no time zone",
        "the figures are not plain JSON (text, numbers, lists, mappings)",
    ]


def test_a_good_draft_has_no_problems() -> None:
    """The drafts monitors raise pass."""
    assert draft_problems(_draft()) == []
