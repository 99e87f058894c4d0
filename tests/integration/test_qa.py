"""Quality assurance as stored, on both databases: sampling, scoring, feedback, disputes,
scorecard versions, calibration agreement and trends."""

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container
from abusedesk.config import QaSettings
from abusedesk.core.errors import NotFound
from abusedesk.insights.qa import Candidate, Criterion, InvalidRatings, Scorecard, unit_draw
from abusedesk.pipeline.qa_sampling import qa_sampling_tender, sample_now, sampling_rules
from abusedesk.storage import qa
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import QaSample
from tests.support.casework import MONDAY, make_queue, new_account, subject_tags
from tests.support.databases import wait_for_a_lock_waiter
from tests.support.qa import analyst, closed_cases, decided_appeal, executed_action, set_team

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ALL_MET = {
    "attribution": "met",
    "decision": "met",
    "evidence": "met",
    "list_hygiene": "met",
    "notice": "met",
    "timeliness": "met",
    "notes": "met",
}


@pytest.fixture
def session(container: Container) -> Iterator[Session]:
    """Yield one session whose work is committed at the end (the test's transaction)."""
    with unit_of_work(container.sessions) as opened:
        yield opened


def _settings(**changes: object) -> QaSettings:
    base: dict[str, object] = {
        "tier_rates": {"basic": 0.1, "advanced": 0.3},
        "default_rate": 0.05,
        "new_analyst_rate": 0.5,
        "new_analyst_days": 30,
        "first_lookback_days": 7,
    }
    return QaSettings.model_validate({**base, **changes})


def test_sampling_honours_tier_and_new_analyst_rates(container: Container) -> None:
    """Seeded: 800 basic and 500 advanced cases of an old hand, 400 basic of a new analyst.

    Each reason's count is within four standard deviations of the binomial expectation:
    80 (sd 8.5), 150 (sd 10.2) and 200 (sd 10).
    """
    closed = MONDAY + HOUR
    with unit_of_work(container.sessions) as session:
        analyst(session, "olga", joined=MONDAY - 400 * DAY)
        analyst(session, "nina", joined=MONDAY - 5 * DAY)
        basic = make_queue(session, "basic-spam")
        advanced = make_queue(session, "advanced-spam", tier="advanced")
        account = new_account(session)
        old_basic = closed_cases(session, account, "olga", 800, closed_at=closed, queue_id=basic)
        old_adv = closed_cases(session, account, "olga", 500, closed_at=closed, queue_id=advanced)
        new_basic = closed_cases(session, account, "nina", 400, closed_at=closed, queue_id=basic)

    result = sample_now(container.sessions, _settings(), MONDAY + DAY, seed=1129, force=True)

    assert result is not None
    assert result.considered == 1700
    with read_only(container.sessions) as session:
        units = qa.sampled_units(session)
    sampled = {case_id: reason for case_id, _, reason in units}
    for ids, reason, n, rate in (
        (old_basic, "random", 800, 0.1),
        (old_adv, "random", 500, 0.3),
        (new_basic, "new_analyst", 400, 0.5),
    ):
        got = sum(1 for case_id in ids if sampled.get(case_id) == reason)
        assert abs(got - n * rate) <= 4 * (n * rate * (1 - rate)) ** 0.5, (reason, got)
        # No chance at run time: the draws are the seed's hash of each case.
        drawn = {c for c in ids if unit_draw(1129, Candidate("case", c, None, "", "")) < rate}
        assert {c for c in ids if c in sampled} == drawn
    assert len(units) == result.total == sum(result.picked.values())


def test_every_overturned_appeal_is_sampled_and_nothing_else_at_rate_0(
    container: Container,
) -> None:
    """Rates 0: overturned and partial appeals put their actions in the queue; an upheld
    one does not, nor an overturned action nobody but the system took."""
    at = MONDAY + HOUR
    with unit_of_work(container.sessions) as session:
        analyst(session, "ana", joined=MONDAY - 400 * DAY)
        account = new_account(session)
        cases = closed_cases(session, account, "ana", 4, closed_at=at)
        actions = [
            executed_action(session, account, cases[0], at=at, proposer="ana"),
            executed_action(
                session, account, cases[1], at=at, proposer="system:policy", approver="ben"
            ),
            executed_action(session, account, cases[2], at=at, proposer="ana"),
            executed_action(
                session,
                account,
                cases[3],
                at=at,
                proposer="system:policy",
                executor="system:enforcement",
            ),
        ]
        for action_id, case_id, state in zip(
            actions, cases, ("overturned", "partial", "upheld", "overturned"), strict=True
        ):
            decided_appeal(session, account, case_id, action_id, state, decided_at=at + HOUR)
    zero = _settings(tier_rates={}, default_rate=0.0, new_analyst_rate=0.0)

    result = sample_now(container.sessions, zero, MONDAY + DAY, force=True)

    assert result is not None
    with read_only(container.sessions) as session:
        units = qa.sampled_units(session)
        lines = qa.queue(session)
    assert units == [
        (cases[0], actions[0], "overturned_appeal"),
        (cases[1], actions[1], "overturned_appeal"),
    ]
    assert [line.analyst for line in lines] == ["ana", "ben"]
    assert result.without_analyst == 2  # the system's action, counted as executed and overturned


def test_the_sweep_reads_only_what_was_closed_since_its_mark(container: Container) -> None:
    """Rate 1: the first sweep takes case A; before the interval it does nothing; the next
    takes case B (closed after the first sweep) and not A again."""
    with unit_of_work(container.sessions) as session:
        analyst(session, "ana", joined=MONDAY - 400 * DAY)
        account = new_account(session)
        (first,) = closed_cases(session, account, "ana", 1, closed_at=MONDAY + HOUR)
    everything = _settings(tier_rates={}, default_rate=1.0, interval_seconds=3600)
    tend = qa_sampling_tender(container.sessions, everything)

    one = tend(MONDAY + 2 * HOUR)
    with unit_of_work(container.sessions) as session:
        (second,) = closed_cases(session, account, "ana", 1, closed_at=MONDAY + 3 * HOUR)
    early = sample_now(
        container.sessions, everything, MONDAY + 2 * HOUR + 30 * 60 * timedelta(seconds=1)
    )
    two = tend(MONDAY + 4 * HOUR)

    assert one is not None
    assert early is None
    assert two is not None
    assert (one.start, one.end) == (MONDAY + 2 * HOUR - 7 * DAY, MONDAY + 2 * HOUR)
    assert (two.start, two.end) == (MONDAY + 2 * HOUR, MONDAY + 4 * HOUR)
    with read_only(container.sessions) as session:
        assert [u[0] for u in qa.sampled_units(session)] == [first, second]
        assert subject_tags(session, "qa_sampling", qa.MARK) == ["qa:sample:sweep"] * 2


def test_a_case_closed_by_the_system_is_its_assignees_work(container: Container) -> None:
    """Closed by system:aggregation but assigned to ana: ana's; with nobody assigned: skipped."""
    with unit_of_work(container.sessions) as session:
        ana = analyst(session, "ana", joined=MONDAY - 400 * DAY)
        account = new_account(session)
        (mine,) = closed_cases(
            session, account, "system:aggregation", 1, closed_at=MONDAY + HOUR, assignee_id=ana
        )
        closed_cases(session, account, "system:aggregation", 1, closed_at=MONDAY + HOUR)

    result = sample_now(
        container.sessions, _settings(default_rate=1.0, tier_rates={}), MONDAY + DAY, force=True
    )

    assert result is not None
    assert result.without_analyst == 1
    with read_only(container.sessions) as session:
        assert [(line.case_id, line.analyst) for line in qa.queue(session)] == [(mine, "ana")]


def _one_sample(
    container: Container, analyst_name: str = "ana", role: str = "analyst_basic"
) -> tuple[int, int]:
    """Make a closed spam case of *analyst_name* and target it; return (case, sample)."""
    with unit_of_work(container.sessions) as session:
        if session.scalar(select(QaSample.id).limit(1)) is None:
            analyst(session, analyst_name, joined=MONDAY - 400 * DAY, role=role)
        account = new_account(session, 100 + len(qa.sampled_units(session)))
        (case_id,) = closed_cases(session, account, analyst_name, 1, closed_at=MONDAY)
        sample_id = qa.target_case(
            session, case_id, actor="quinn", now=MONDAY + HOUR, note="spot check"
        )
    return case_id, sample_id


def test_targeting_refuses_open_cases_and_doubles(container: Container) -> None:
    """Only closed cases are sampled; work already waiting is not added twice."""
    case_id, sample_id = _one_sample(container)
    with unit_of_work(container.sessions) as session:
        with pytest.raises(
            qa.QaConflict, match=f"already waiting in the QA queue as sample {sample_id}"
        ):
            qa.target_case(session, case_id, actor="quinn", now=MONDAY + HOUR)
        with pytest.raises(NotFound, match="no case 999999"):
            qa.target_case(session, 999999, actor="quinn", now=MONDAY + HOUR)
    with read_only(container.sessions) as session:
        assert subject_tags(session, "qa_sample", sample_id) == ["qa:sample:target"]


def test_scoring_stores_the_shipped_card_and_refuses_own_work_and_a_second_score(
    container: Container,
) -> None:
    """The spam card is stored as v1 on first use; every criterion met but notes (weight 1
    of 14): 13 / 14 = 92.9. The analyst cannot score their own work; nobody scores twice."""
    _, sample_id = _one_sample(container)
    ratings = {**ALL_MET, "notes": "not_met"}
    with unit_of_work(container.sessions) as session, pytest.raises(qa.OwnWork):
        qa.score_sample(session, sample_id, reviewer="ana", ratings=ratings, now=MONDAY)
    with unit_of_work(container.sessions) as session:
        review = qa.score_sample(
            session,
            sample_id,
            reviewer="quinn",
            ratings=ratings,
            comments={"notes": "say why no action"},
            comment="good work",
            now=MONDAY + 2 * HOUR,
        )
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(qa.QaConflict, match="scored, not waiting"),
    ):
        qa.score_sample(session, sample_id, reviewer="rita", ratings=ratings, now=MONDAY)

    assert (review.score, review.critical_failure, review.feedback) == (92.9, False, "sent")
    assert (review.scorecard_version, review.card.case_type) == (1, "spam")
    assert review.comment_on("notes") == "say why no action"
    with read_only(container.sessions) as session:
        assert qa.sample(session, sample_id).state == "scored"
        assert [v.author for v in qa.scorecard_versions(session, "spam")] == ["abusedesk"]
        assert subject_tags(session, "qa_review", review.id) == ["qa:review:score"]


def test_two_reviewers_scoring_one_sample_at_once_take_turns(container: Container) -> None:
    """PostgreSQL: while quinn's scoring is not committed, rita's waits on the sample; once
    quinn's commits, rita's is refused: the sample keeps one review, sent once."""
    if container.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer by design")
    _, sample_id = _one_sample(container)
    holder = container.sessions()
    qa.score_sample(holder, sample_id, reviewer="quinn", ratings=ALL_MET, now=MONDAY + HOUR)
    refused: list[Exception] = []

    def second() -> None:
        try:
            with unit_of_work(container.sessions) as session:
                qa.score_sample(
                    session, sample_id, reviewer="rita", ratings=ALL_MET, now=MONDAY + HOUR
                )
        except qa.QaConflict as problem:
            refused.append(problem)

    rival = threading.Thread(target=second)
    rival.start()
    waited = wait_for_a_lock_waiter(container.engine)
    holder.commit()
    holder.close()
    rival.join(timeout=60)
    assert (waited, [str(p) for p in refused]) == (
        True,
        [f"sample {sample_id} is scored, not waiting to be scored"],
    )
    with read_only(container.sessions) as session:
        assert [r.reviewer for r in qa.reviews_of_sample(session, sample_id)] == ["quinn"]


def test_bad_ratings_leave_the_sample_waiting(container: Container) -> None:
    """A missing criterion is refused, naming it; the sample still waits."""
    _, sample_id = _one_sample(container)
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(InvalidRatings, match="not rated: Notes"),
    ):
        qa.score_sample(
            session,
            sample_id,
            reviewer="quinn",
            ratings={k: v for k, v in ALL_MET.items() if k != "notes"},
            now=MONDAY,
        )
    with read_only(container.sessions) as session:
        assert qa.sample(session, sample_id).state == "waiting"


def test_feedback_acknowledge_dispute_and_settlement(container: Container) -> None:
    """Only the analyst answers; a dispute is settled by someone who is neither analyst nor
    reviewer; amended with decision (critical) not met scores 0 with a critical failure."""
    _, sample_id = _one_sample(container)
    with unit_of_work(container.sessions) as session:
        review = qa.score_sample(session, sample_id, reviewer="quinn", ratings=ALL_MET, now=MONDAY)
    with unit_of_work(container.sessions) as session:
        with pytest.raises(qa.NotYourReview):
            qa.acknowledge(session, review.id, analyst="ben", now=MONDAY)
        with pytest.raises(qa.InvalidQaInput, match="say what you dispute"):
            qa.dispute(session, review.id, analyst="ana", reason="  ", now=MONDAY)
        qa.dispute(session, review.id, analyst="ana", reason="the decision was wrong", now=MONDAY)
    with unit_of_work(container.sessions) as session:
        with pytest.raises(qa.QaConflict, match="disputed already"):
            qa.acknowledge(session, review.id, analyst="ana", now=MONDAY)
        with pytest.raises(qa.OwnWork):
            qa.settle(
                session, review.id, actor="quinn", outcome="upheld", settlement="no", now=MONDAY
            )
        with pytest.raises(qa.InvalidQaInput, match="needs the new ratings"):
            qa.settle(
                session, review.id, actor="lea", outcome="amended", settlement="x", now=MONDAY
            )
    with unit_of_work(container.sessions) as session:
        settled = qa.settle(
            session,
            review.id,
            actor="lea",
            outcome="amended",
            settlement="the pause was premature",
            ratings={**ALL_MET, "decision": "not_met"},
            now=MONDAY + HOUR,
        )

    assert (settled.feedback, settled.score, settled.critical_failure) == ("amended", 0.0, True)
    assert (settled.settled_by, settled.dispute_reason) == ("lea", "the decision was wrong")
    with read_only(container.sessions) as session:
        assert subject_tags(session, "qa_review", review.id) == [
            "qa:review:score",
            "qa:review:dispute",
            "qa:review:settle",
        ]
        assert [r.id for r in qa.open_disputes(session)] == []
        assert [r.feedback for r in qa.feedback_of(session, "ana")] == ["amended"]


def test_acknowledging_closes_the_answer(container: Container) -> None:
    """An acknowledged review cannot be disputed afterwards."""
    _, sample_id = _one_sample(container)
    with unit_of_work(container.sessions) as session:
        review = qa.score_sample(session, sample_id, reviewer="quinn", ratings=ALL_MET, now=MONDAY)
        qa.acknowledge(session, review.id, analyst="ana", now=MONDAY + HOUR)
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(qa.QaConflict, match="acknowledged already"),
    ):
        qa.dispute(session, review.id, analyst="ana", reason="changed my mind", now=MONDAY)


def test_scorecards_are_versioned_and_reviews_keep_their_version(container: Container) -> None:
    """Saving twice makes v1 and v2; a review scored on v1 still reads v1's criteria."""
    first = Scorecard("spam", (Criterion("decision", "Decision", 2, critical=True),))
    second = Scorecard(
        "spam", (Criterion("decision", "Decision", 2), Criterion("notes", "Notes", 1))
    )
    _, sample_id = _one_sample(container)
    with unit_of_work(container.sessions) as session:
        qa.save_scorecard(session, first, actor="lea", note="one criterion", now=MONDAY)
        review = qa.score_sample(
            session, sample_id, reviewer="quinn", ratings={"decision": "met"}, now=MONDAY
        )
        stored = qa.save_scorecard(session, second, actor="lea", note="notes matter", now=MONDAY)
        with pytest.raises(qa.InvalidQaInput, match="say in a note"):
            qa.save_scorecard(session, second, actor="lea", note=" ", now=MONDAY)

    assert stored.version == 2
    with read_only(container.sessions) as session:
        assert [v.version for v in qa.scorecard_versions(session, "spam")] == [2, 1]
        assert qa.review(session, review.id).card == first
        assert qa.effective_scorecard(session, "spam")[1] == second
        assert qa.effective_scorecard(session, "other")[0] is None
        assert subject_tags(session, "qa_scorecard", "spam") == ["qa:scorecard:save"] * 2


def test_a_calibration_round_is_blind_and_reports_kappa_per_criterion(container: Container) -> None:
    """Two reviewers, four samples; on decision A met, met, not, met and B met, not, not, met:
    Cohen 0.5, Fleiss 14/30 (worked in the unit test). Notes all met: undefined kappa."""
    card = Scorecard("spam", (Criterion("decision", "Decision", 3), Criterion("notes", "Notes", 1)))
    with unit_of_work(container.sessions) as session:
        analyst(session, "ana", joined=MONDAY - 400 * DAY)
        for name in ("quinn", "rita"):
            analyst(session, name, joined=MONDAY - 400 * DAY, role="qa")
        analyst(session, "tom", joined=MONDAY - 400 * DAY, role="analyst_basic")
        qa.save_scorecard(session, card, actor="lea", note="short card", now=MONDAY)
        account = new_account(session)
        cases = closed_cases(session, account, "ana", 4, closed_at=MONDAY)
        sources = [qa.target_case(session, c, actor="lea", now=MONDAY) for c in cases]
        with pytest.raises(qa.InvalidQaInput, match="two or more reviewers"):
            qa.open_calibration(
                session, title="t", reviewers=["quinn"], sample_ids=sources, actor="lea", now=MONDAY
            )
        with pytest.raises(
            qa.InvalidQaInput, match="not an active user allowed to review: tom, ghost"
        ):
            qa.open_calibration(
                session,
                title="t",
                reviewers=["quinn", "tom", "ghost"],
                sample_ids=sources,
                actor="lea",
                now=MONDAY,
            )
        round_id = qa.open_calibration(
            session,
            title="November round",
            reviewers=["quinn", "rita"],
            sample_ids=sources,
            actor="lea",
            now=MONDAY,
        )
    with read_only(container.sessions) as session:
        copies = [s.id for s in qa.calibration(session, round_id).samples]
    a = ["met", "met", "not_met", "met"]
    b = ["met", "not_met", "not_met", "met"]
    with unit_of_work(container.sessions) as session:
        with pytest.raises(qa.QaConflict, match="not a reviewer"):
            qa.score_sample(
                session,
                copies[0],
                reviewer="lea",
                ratings={"decision": "met", "notes": "met"},
                now=MONDAY,
            )
        for i, sample_id in enumerate(copies):
            qa.score_sample(
                session,
                sample_id,
                reviewer="quinn",
                ratings={"decision": a[i], "notes": "met"},
                now=MONDAY,
            )
    with read_only(container.sessions) as session:
        assert qa.calibration(session, round_id).progress("quinn") == 4
        assert qa.sample(session, copies[0]).state == "waiting"  # rita has not scored it
        assert qa.feedback_of(session, "ana") == []  # calibration reviews are not feedback
    with unit_of_work(container.sessions) as session:
        for i, sample_id in enumerate(copies):
            qa.score_sample(
                session,
                sample_id,
                reviewer="rita",
                ratings={"decision": b[i], "notes": "met"},
                now=MONDAY,
            )
        qa.close_calibration(session, round_id, actor="lea", now=MONDAY + DAY)

    with read_only(container.sessions) as session:
        (part,) = qa.calibration_agreement(session, round_id)
        assert qa.sample(session, copies[0]).state == "scored"
        assert qa.queue(session) == qa.queue(session, state="waiting")
        assert {s.id for s in qa.queue(session)} == set(sources)  # the originals still wait
    decision, notes = part.criteria
    assert (decision.items, decision.percent_agreement) == (4, 0.75)
    assert decision.cohen == pytest.approx(0.5)
    assert decision.fleiss == pytest.approx(14 / 30)
    assert (notes.cohen, notes.fleiss, notes.percent_agreement) == (None, None, 1.0)


def test_a_reviewer_cannot_calibrate_on_their_own_work(container: Container) -> None:
    """Samples of a reviewer's own work are refused for their round."""
    _, sample_id = _one_sample(container, "quinn", "lead")
    with unit_of_work(container.sessions) as session:
        analyst(session, "rita", joined=MONDAY, role="qa")
        with pytest.raises(qa.InvalidQaInput, match="quinn \\(sample"):
            qa.open_calibration(
                session,
                title="t",
                reviewers=["quinn", "rita"],
                sample_ids=[sample_id],
                actor="lea",
                now=MONDAY,
            )


def test_trends_read_scores_per_analyst_with_their_team(container: Container) -> None:
    """Two reviews of ana (team red) read back with her team and their scores."""
    _, first = _one_sample(container)
    _, second = _one_sample(container)
    with unit_of_work(container.sessions) as session:
        set_team(session, "ana", "red")
        qa.score_sample(session, first, reviewer="quinn", ratings=ALL_MET, now=MONDAY + HOUR)
        qa.score_sample(
            session,
            second,
            reviewer="quinn",
            ratings={
                **ALL_MET,
                "evidence": "not_met",
                "list_hygiene": "not_met",
                "timeliness": "na",
            },
            now=MONDAY + DAY,
        )
    with read_only(container.sessions) as session:
        rows = qa.scored_reviews(session, start=MONDAY, end=MONDAY + 7 * DAY)
    # Spam card weights: attribution 3, decision 3, evidence 2, hygiene 2, notice 2,
    # timeliness 1 (na), notes 1: met 3 + 3 + 2 + 1 = 9 of rated 13 = 69.2.
    assert [(r.analyst, r.team, r.score) for r in rows] == [
        ("ana", "red", 100.0),
        ("ana", "red", 69.2),
    ]


def test_sampling_rules_follow_the_settings() -> None:
    """The sweep's rules are the settings' rates, days and overturn states."""
    rules = sampling_rules(_settings(overturn_states=["overturned"]))
    assert rules.policy.tier_rate("advanced") == 0.3
    assert rules.overturn_states == ("overturned",)
    assert rules.new_analyst_days == 30
    assert (rules.seed, sampling_rules(_settings(seed=4), seed=9).seed) == (0, 9)
