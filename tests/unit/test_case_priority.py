"""Case priority: a score from severity, volume, reporters, account size and history."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.cases.priority import PriorityFacts, case_priority

SPAM = PriorityFacts(category_group="spam", event_count=5, reporter_count=1)


def test_phishing_outranks_spam_of_the_same_volume() -> None:
    """Severity puts a phishing case above a spam case with the same counts."""
    phishing = replace(SPAM, category_group="phishing")
    assert case_priority(phishing).score > case_priority(SPAM).score


def test_the_reason_lists_every_factor_strongest_first() -> None:
    """The case page reads each factor with its points; the score is their sum."""
    result = case_priority(PriorityFacts("spam", 150, 4))
    assert (result.score, result.reason) == (
        18,
        "spam case (+10); 150 event(s) (+6); 4 distinct reporter(s) (+2)",
    )


def test_account_facts_count_only_when_given() -> None:
    """Without account facts there are three factors; with them, each adds its own."""
    bare = case_priority(SPAM)
    full = case_priority(
        replace(
            SPAM,
            size_tier="large",
            sent_last_30_days=2000,
            past_actioned_cases=1,
            standing="warned",
        )
    )
    assert ([f.name for f in bare.factors], [(f.name, f.points) for f in full.factors]) == (
        ["severity", "volume", "reporters"],
        [
            ("severity", 10),
            ("volume", 0),
            ("reporters", 0),
            ("complaint_rate", 5),
            ("account_size", 4),
            ("history", 2),
            ("standing", 2),
        ],
    )


def test_a_high_complaint_rate_raises_priority() -> None:
    """Five complaints on 2,000 messages (0.25 %) weigh more than five on 1,000,000."""
    high = case_priority(replace(SPAM, sent_last_30_days=2000)).score
    low = case_priority(replace(SPAM, sent_last_30_days=1_000_000)).score
    assert high > low


def test_an_account_further_down_the_ladder_is_more_urgent() -> None:
    """A suspended account's new case outranks a healthy account's."""
    healthy = case_priority(replace(SPAM, standing="healthy")).score
    suspended = case_priority(replace(SPAM, standing="suspended")).score
    assert suspended > healthy


def test_history_points_are_capped() -> None:
    """Past actions add up to a limit, so history cannot drown out severity."""
    ten = case_priority(replace(SPAM, past_actioned_cases=10))
    assert [f.points for f in ten.factors if f.name == "history"] == [6]


FACTS = st.builds(
    PriorityFacts,
    category_group=st.sampled_from(
        ["spam", "phishing", "malware", "authentication", "other", "new"]
    ),
    event_count=st.integers(min_value=0, max_value=100_000),
    reporter_count=st.integers(min_value=0, max_value=1000),
    size_tier=st.sampled_from([None, "small", "medium", "large", "huge"]),
    sent_last_30_days=st.one_of(st.none(), st.integers(min_value=1, max_value=10**9)),
    past_actioned_cases=st.integers(min_value=0, max_value=50),
    standing=st.sampled_from([None, "healthy", "warned", "suspended", "odd"]),
)


@settings(deadline=None, database=None)
@given(facts=FACTS, more=st.integers(min_value=0, max_value=10_000))
def test_more_reporters_or_history_never_lower_priority(facts: PriorityFacts, more: int) -> None:
    """Adding distinct reporters or past actions never makes a case less urgent."""
    base = case_priority(facts).score
    wider = case_priority(replace(facts, reporter_count=facts.reporter_count + more)).score
    longer = case_priority(
        replace(facts, past_actioned_cases=facts.past_actioned_cases + more)
    ).score
    assert (wider >= base, longer >= base) == (True, True)


@settings(deadline=None, database=None)
@given(facts=FACTS, more=st.integers(min_value=0, max_value=10_000))
def test_more_events_never_lower_priority(facts: PriorityFacts, more: int) -> None:
    """More events raise volume and complaint rate alike, so the score never drops."""
    base = case_priority(facts).score
    assert case_priority(replace(facts, event_count=facts.event_count + more)).score >= base


@settings(deadline=None, database=None)
@given(facts=FACTS)
def test_the_score_is_the_sum_of_the_factors_shown(facts: PriorityFacts) -> None:
    """What the page explains adds up to exactly the score."""
    result = case_priority(facts)
    assert result.score == sum(f.points for f in result.factors)
