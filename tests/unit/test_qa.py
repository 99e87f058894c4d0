"""Quality assurance, the pure part: scores, scorecards, the sampling policy, kappa, trends."""

from datetime import UTC, datetime, timedelta

import pytest

from abusedesk.insights.qa import (
    DEFAULT_SCORECARDS,
    Candidate,
    Criterion,
    InvalidRatings,
    InvalidScorecard,
    Reason,
    SamplingPolicy,
    Scorecard,
    ScoredReview,
    analyst_of_action,
    cohen_kappa,
    criterion_agreement,
    default_scorecard,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    score,
    unit_draw,
    weekly_quality,
)
from abusedesk.insights.weeks import week_start

CARD = Scorecard(
    "spam",
    (
        Criterion("attribution", "Right account", 3, critical=True),
        Criterion("evidence", "Evidence cited", 2),
        Criterion("notes", "Notes clear", 1),
        Criterion("timeliness", "In time", 4),
    ),
)


def test_the_score_is_the_weight_met_over_the_weight_rated() -> None:
    """Met 3 + 4 of rated 3 + 2 + 4 (notes does not apply): 7 / 9 = 77.8%."""
    result = score(
        CARD, {"attribution": "met", "evidence": "not_met", "notes": "na", "timeliness": "met"}
    )

    assert (result.score, result.met_weight, result.rated_weight) == (77.8, 7, 9)
    assert not result.critical_failure


def test_every_criterion_met_scores_100() -> None:
    """Everything met is 100, whatever the weights."""
    assert (
        score(CARD, dict.fromkeys(("attribution", "evidence", "notes", "timeliness"), "met")).score
        == 100.0
    )


def test_a_critical_criterion_not_met_scores_0_and_says_which() -> None:
    """Attribution (critical) not met: 0, even though 7 of 10 weight was met."""
    result = score(
        CARD, {"attribution": "not_met", "evidence": "met", "notes": "met", "timeliness": "met"}
    )

    assert (result.score, result.critical_failure, result.failed_critical) == (
        0.0,
        True,
        ("attribution",),
    )
    assert result.met_weight == 7


@pytest.mark.parametrize(
    ("ratings", "words"),
    [
        ({"attribution": "met"}, "not rated: Evidence cited, Notes clear, In time"),
        (
            {"attribution": "met", "evidence": "met", "notes": "met", "timeliness": "maybe"},
            "rate timeliness as met, not met or does not apply",
        ),
        (
            {"attribution": "na", "evidence": "na", "notes": "na", "timeliness": "na"},
            "rate at least one criterion met or not met",
        ),
        (
            {
                "attribution": "met",
                "evidence": "met",
                "notes": "met",
                "timeliness": "met",
                "x": "met",
            },
            "the scorecard has no criterion x",
        ),
    ],
)
def test_ratings_that_do_not_fit_the_scorecard_are_refused_with_the_reason(
    ratings: dict[str, str], words: str
) -> None:
    """Missing, unknown, wrong or all not-applicable ratings are refused, named."""
    with pytest.raises(InvalidRatings, match=words):
        score(CARD, ratings)


def test_a_scorecard_names_every_problem_of_its_criteria() -> None:
    """Bad key, duplicate key, empty label, weight out of range: all in one message."""
    with pytest.raises(InvalidScorecard) as refused:
        Scorecard(
            "Spam!",
            (
                Criterion("Bad Key", "x", 1),
                Criterion("ok", "x", 1),
                Criterion("ok", " ", 0),
                Criterion("big", "x", 101),
            ),
        )

    message = str(refused.value)
    for part in (
        "case type 'Spam!' is not a case group name",
        "criterion 1: the key 'Bad Key' must be a lowercase word",
        "criterion 3: the key 'ok' is used twice",
        "criterion 3: give it a label",
        "criterion 3: the weight must be a whole number from 1 to 100",
        "criterion 4: the weight must be a whole number from 1 to 100",
    ):
        assert part in message


def test_an_empty_scorecard_is_refused() -> None:
    """A scorecard without criteria cannot score anything."""
    with pytest.raises(InvalidScorecard, match="at least one criterion"):
        Scorecard("", ())


def test_a_definition_round_trips_and_a_broken_one_is_refused() -> None:
    """Stored definitions read back equal; a weight that is not a number is refused."""
    assert Scorecard.from_definition("spam", CARD.to_definition()) == CARD
    broken = {"criteria": [{"key": "a", "label": "A", "weight": "heavy"}]}
    with pytest.raises(InvalidScorecard, match="weight must be a whole number"):
        Scorecard.from_definition("spam", broken)
    with pytest.raises(InvalidScorecard, match="no list of criteria"):
        Scorecard.from_definition("spam", {"criteria": "all"})


def test_shipped_scorecards_are_valid_and_unknown_types_get_the_general_one() -> None:
    """Every shipped card has critical criteria; a type without one gets the card for any."""
    for case_type, card in DEFAULT_SCORECARDS.items():
        assert card.case_type == case_type
        assert any(c.critical for c in card.criteria)
    assert default_scorecard("other") is DEFAULT_SCORECARDS[""]
    assert default_scorecard("phishing").criterion("containment") is not None


def _population(n: int, *, tier: str, new: bool = False, start: int = 0) -> list[Candidate]:
    return [
        Candidate("case", start + i, None, "new" if new else "old", tier, new) for i in range(n)
    ]


def test_sampling_honours_the_rate_of_each_tier_and_of_new_analysts() -> None:
    """Seeded: 4,000 basic at 10%, 2,000 advanced at 30%, 2,000 by a new analyst at 50%.

    Each count is within four standard deviations of its expectation (binomial).
    """
    policy = SamplingPolicy(
        tier_rates={"basic": 0.1, "advanced": 0.3}, default_rate=0.05, new_analyst_rate=0.5
    )
    basic = _population(4000, tier="basic")
    advanced = _population(2000, tier="advanced", start=10_000)
    fresh = _population(2000, tier="basic", new=True, start=20_000)
    picks = policy.draw([*basic, *advanced, *fresh], 20261129)

    def count(ids: range, reason: str) -> int:
        return sum(1 for p in picks if p.candidate.case_id in ids and p.reason == reason)

    for n, rate, ids, reason in (
        (4000, 0.1, range(0, 4000), Reason.RANDOM),
        (2000, 0.3, range(10_000, 12_000), Reason.RANDOM),
        (2000, 0.5, range(20_000, 22_000), Reason.NEW_ANALYST),
    ):
        expected = n * rate
        spread = 4 * (n * rate * (1 - rate)) ** 0.5
        assert abs(count(ids, reason) - expected) <= spread, (reason, count(ids, reason))


def test_the_same_seed_draws_the_same_work() -> None:
    """Two draws with one seed pick the same candidates; another seed picks others."""
    policy = SamplingPolicy()
    people = _population(500, tier="basic")
    first = policy.draw(people, 5)
    assert first == policy.draw(people, 5)
    assert first != policy.draw(people, 6)


def test_a_pieces_draw_does_not_depend_on_the_others_or_their_order() -> None:
    """Drawn alone, in reverse or among others, each piece of work is drawn the same way."""
    policy = SamplingPolicy(tier_rates={"basic": 0.5})
    people = _population(200, tier="basic")
    picked = {p.candidate for p in policy.draw(people, 7)}
    assert {p.candidate for p in policy.draw(people[::-1], 7)} == picked
    assert {p.candidate for p in policy.draw(people[:50], 7)} == picked & set(people[:50])
    assert all(0 <= unit_draw(7, c) < 1 for c in people)
    # Case 12 and its action 3 are different work with different draws.
    assert unit_draw(7, Candidate("case", 12, None, "x", "basic")) != unit_draw(
        7, Candidate("action", 12, 3, "x", "basic")
    )


def test_a_new_analyst_keeps_a_higher_tier_rate() -> None:
    """New analysts get the new-analyst rate only when it is higher than their tier's."""
    policy = SamplingPolicy(tier_rates={"advanced": 0.6}, new_analyst_rate=0.25)
    assert policy.rate_for(Candidate("case", 1, None, "x", "advanced", True)) == (
        0.6,
        Reason.RANDOM,
    )
    assert policy.rate_for(Candidate("case", 1, None, "x", "", True)) == (0.25, Reason.NEW_ANALYST)
    assert policy.rate_for(Candidate("case", 1, None, "x", "", False)) == (0.05, Reason.RANDOM)


def test_rates_outside_0_to_1_are_refused() -> None:
    """A rate of 1.5 is a mistake, not a wish to sample everything twice."""
    with pytest.raises(ValueError, match="fraction from 0 to 1"):
        SamplingPolicy(tier_rates={"basic": 1.5})


def test_the_analyst_of_an_action_is_the_first_person_with_a_hand_in_it() -> None:
    """Proposer, else approver (the policy proposed), else executor; system actors are nobody."""
    assert analyst_of_action("ana", "ben", "ben") == "ana"
    assert analyst_of_action("system:policy", "ben", "ben") == "ben"
    assert analyst_of_action("system:policy", None, "cy") == "cy"
    assert analyst_of_action("system:policy", None, "system:enforcement") is None
    assert analyst_of_action("appeal:4", "rev", None) == "rev"


def test_cohens_kappa_of_the_textbook_example_is_0_4() -> None:
    """50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15 (Cohen's example as
    Wikipedia works it): p_o = 0.7, p_e = 0.5, kappa = 0.4."""
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    result = cohen_kappa(pairs)

    assert result.items == 50
    assert result.observed == pytest.approx(0.7)
    assert result.expected == pytest.approx(0.5)
    assert result.kappa == pytest.approx(0.4)


def test_fleiss_kappa_of_the_textbook_example_is_0_210() -> None:
    """Fleiss (1971) as Wikipedia works it: 10 items, 14 raters, 5 categories; P-bar 0.378,
    P_e 0.213, kappa 0.210."""
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    result = fleiss_kappa_from_counts(table)

    assert result.observed == pytest.approx(0.378, abs=5e-4)
    assert result.expected == pytest.approx(0.213, abs=5e-4)
    assert result.kappa == pytest.approx(0.210, abs=5e-4)


def test_kappa_is_undefined_when_everyone_always_gives_the_same_rating() -> None:
    """All met from both: agreement is perfect but chance explains it all; kappa None."""
    assert cohen_kappa([("met", "met")] * 4).kappa is None
    assert fleiss_kappa([["met", "met", "met"]] * 3).kappa is None
    assert cohen_kappa([]).items == 0


def test_perfect_disagreement_on_two_categories_is_minus_1() -> None:
    """A always met where B not met and the reverse, half and half: kappa -1."""
    assert cohen_kappa([("met", "not_met"), ("not_met", "met")] * 5).kappa == pytest.approx(-1)


def test_fleiss_kappa_needs_the_same_number_of_ratings_per_item() -> None:
    """Items rated by different numbers of raters are refused."""
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([["met", "met"], ["met"]])


def test_agreement_per_criterion_worked_by_hand() -> None:
    """Two reviewers, four samples; decision: A met, met, not, met; B met, not, not, met.

    p_o = 3/4; A says met 3/4, B 1/2; p_e = 3/4 * 1/2 + 1/4 * 1/2 = 1/2; Cohen = 0.5.
    Fleiss: P-bar 3/4; met 5/8, not 3/8; P_e = 34/64; kappa = (48 - 34) / 30 = 0.4667.
    A sample only one reviewer rated does not count.
    """
    card = Scorecard("", (Criterion("decision", "Decision", 3), Criterion("notes", "Notes", 1)))
    a = ["met", "met", "not_met", "met"]
    b = ["met", "not_met", "not_met", "met"]
    ratings = {
        i: {"ann": {"decision": a[i], "notes": "met"}, "bob": {"decision": b[i], "notes": "met"}}
        for i in range(4)
    }
    ratings[9] = {"ann": {"decision": "not_met", "notes": "not_met"}}

    decision, notes = criterion_agreement(card, ratings, ["ann", "bob"])

    assert (decision.items, decision.percent_agreement) == (4, 0.75)
    assert decision.cohen == pytest.approx(0.5)
    assert decision.fleiss == pytest.approx(14 / 30)
    assert (notes.percent_agreement, notes.cohen, notes.fleiss) == (1.0, None, None)


def test_three_reviewers_get_fleiss_and_the_mean_of_pairs() -> None:
    """Three reviewers: the Cohen column is the mean of the three pairs' kappas."""
    card = Scorecard("", (Criterion("decision", "Decision", 1),))
    rows = [
        ("met", "met", "not_met"),
        ("not_met", "not_met", "not_met"),
        ("met", "met", "met"),
        ("not_met", "met", "not_met"),
    ]
    ratings = {
        i: {name: {"decision": rows[i][j]} for j, name in enumerate(("a", "b", "c"))}
        for i in range(4)
    }
    (result,) = criterion_agreement(card, ratings, ["a", "b", "c"])
    pairs = [cohen_kappa([(r[x], r[y]) for r in rows]).kappa for x, y in ((0, 1), (0, 2), (1, 2))]

    assert result.cohen == pytest.approx(sum(k for k in pairs if k is not None) / 3)
    assert result.fleiss == pytest.approx(fleiss_kappa([list(r) for r in rows]).kappa)


def test_weekly_quality_per_analyst_and_team() -> None:
    """Means per Monday-to-Sunday week; analysts without a team count for '(no team)'."""
    monday = datetime(2026, 11, 2, tzinfo=UTC)
    reviews = [
        ScoredReview("ana", "red", monday + timedelta(hours=3), 80.0, False),
        ScoredReview("ana", "red", monday + timedelta(days=6, hours=23), 90.0, False),
        ScoredReview("ben", "red", monday + timedelta(days=7), 0.0, True),
        ScoredReview("cy", "", monday + timedelta(days=8), 70.0, False),
    ]

    by_analyst = [
        (q.who, q.week_start.day, q.reviews, q.mean_score)
        for q in weekly_quality(reviews, by="analyst")
    ]
    by_team = [
        (q.who, q.week_start.day, q.reviews, q.mean_score, q.critical_failures)
        for q in weekly_quality(reviews, by="team")
    ]

    assert by_analyst == [("ana", 2, 2, 85.0), ("ben", 9, 1, 0.0), ("cy", 9, 1, 70.0)]
    assert by_team == [("(no team)", 9, 1, 70.0, 0), ("red", 2, 2, 85.0, 0), ("red", 9, 1, 0.0, 1)]
    assert week_start(datetime(2026, 11, 8, 23, 59, tzinfo=UTC)) == monday
