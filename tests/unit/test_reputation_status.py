"""Reputation status of each rate and of the account, and the ladder step each change asks for."""

from datetime import UTC, datetime

import pytest

from abusedesk.enforcement.errors import UnknownStanding
from abusedesk.enforcement.ladder import AccountAction, Standing, allowed_actions
from abusedesk.enforcement.policy import Policy, Threshold
from abusedesk.reputation.rates import BOUNCE_RATE, COMPLAINT_RATE, AccountFigures, Rate
from abusedesk.reputation.status import (
    MIN_MESSAGES_TO_ACT,
    Status,
    Step,
    account_status,
    metric_status,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
COMPLAINTS = Threshold(review=0.001, pause=0.005)  # 0.1% review, 0.5% pause
BOUNCES = Threshold(review=0.05, pause=0.10)
POLICY = Policy(version=3, author="mara")

H, W, R, T = Standing.HEALTHY, Standing.WARNED, Standing.UNDER_REVIEW, Standing.THROTTLED
P, S, X = Standing.PAUSED, Standing.SUSPENDED, Standing.TERMINATED


def complaints(count: int, eligible: int = 100_000) -> Rate:
    """A complaint rate of *count* over *eligible* feedback-loop messages."""
    return Rate(COMPLAINT_RATE, count, eligible, SINCE if eligible else None, NOW, 7)


def bounces(count: int, eligible: int = 100_000) -> Rate:
    """A bounce rate of *count* hard bounces over *eligible* messages sent."""
    return Rate(BOUNCE_RATE, count, eligible, SINCE if eligible else None, NOW, 7)


# (complaints per 100,000, standing, pause proposed, caused the review) -> (status, step)
CASES = [
    # healthy and warned accounts: below review, at review, between, at pause, above
    (0, H, False, True, Status.HEALTHY, Step.NONE),
    (99, H, False, True, Status.HEALTHY, Step.NONE),
    (100, H, False, True, Status.UNDER_REVIEW, Step.REVIEW),
    (499, H, False, True, Status.UNDER_REVIEW, Step.REVIEW),
    (500, H, False, True, Status.PENDING_PAUSE, Step.PROPOSE_PAUSE),
    (2_000, H, False, True, Status.PENDING_PAUSE, Step.PROPOSE_PAUSE),
    (99, W, False, True, Status.HEALTHY, Step.NONE),
    (100, W, False, True, Status.UNDER_REVIEW, Step.REVIEW),
    (500, W, False, True, Status.PENDING_PAUSE, Step.PROPOSE_PAUSE),
    # a pause already proposed is not proposed again
    (500, H, True, True, Status.PENDING_PAUSE, Step.NONE),
    (100, R, True, True, Status.PENDING_PAUSE, Step.NONE),
    (99, R, True, True, Status.ALMOST_HEALED, Step.NONE),
    # under review / throttled: no second review; a caused rate back below is almost healed
    (99, R, False, True, Status.ALMOST_HEALED, Step.NONE),
    (99, R, False, False, Status.HEALTHY, Step.NONE),
    (100, R, False, True, Status.UNDER_REVIEW, Step.NONE),
    (499, T, False, True, Status.UNDER_REVIEW, Step.NONE),
    (500, R, False, True, Status.PENDING_PAUSE, Step.PROPOSE_PAUSE),
    (500, T, False, True, Status.PENDING_PAUSE, Step.PROPOSE_PAUSE),
    (0, T, False, True, Status.ALMOST_HEALED, Step.NONE),
    # stopped accounts: paused while the rate is still high, never another step
    (100, P, False, True, Status.PAUSED, Step.NONE),
    (5_000, P, False, True, Status.PAUSED, Step.NONE),
    (5_000, S, True, True, Status.PAUSED, Step.NONE),
    (500, X, False, False, Status.PAUSED, Step.NONE),
    (99, P, False, True, Status.ALMOST_HEALED, Step.NONE),
    (99, S, False, False, Status.HEALTHY, Step.NONE),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_each_status_and_boundary(case: tuple[int, str, bool, bool, str, str]) -> None:
    """Thresholds count from the threshold itself (>=); the standing decides the step."""
    count, standing, proposed, caused, status, step = case
    result = metric_status(
        complaints(count), COMPLAINTS, standing, pause_proposed=proposed, caused_review=caused
    )
    assert (result.status, result.step) == (status, step)
    assert result.acted_on


def test_every_status_is_covered() -> None:
    """The table above reaches every status and every step."""
    assert {case[4] for case in CASES} == set(Status.ALL)
    assert {case[5] for case in CASES} == set(Step.ALL)


@pytest.mark.parametrize("standing", Standing.ALL)
@pytest.mark.parametrize("count", [0, 100, 500, 5_000])
def test_the_step_is_always_allowed_by_the_ladder(standing: str, count: int) -> None:
    """A review or pause is only asked of an account the ladder lets it run from."""
    step = metric_status(complaints(count), COMPLAINTS, standing).step
    ladder = {Step.REVIEW: AccountAction.REVIEW, Step.PROPOSE_PAUSE: AccountAction.PAUSE}
    if step != Step.NONE:
        assert ladder[step] in allowed_actions(standing)


def test_the_reason_quotes_the_figures_and_the_threshold() -> None:
    """One sentence an analyst can check: the rate, its messages, since when, the threshold."""
    result = metric_status(complaints(620), COMPLAINTS, H)
    assert result.reason == (
        "complaint rate 0.62% over the last 100,000 messages to feedback-loop domains since 2 Nov"
        " is at or above the 0.50% pause threshold; propose a pause"
    )
    review = metric_status(bounces(5_000), BOUNCES, W)
    assert review.reason == (
        "bounce rate 5.00% over the last 100,000 messages sent since 2 Nov"
        " is at or above the 5.00% review threshold; open a review (the account is warned)"
    )
    healed = metric_status(bounces(4_999), BOUNCES, T)
    assert healed.words == "almost healed"
    assert "back below the 5.00% review threshold" in healed.reason
    assert "stays throttled" in healed.reason


@pytest.mark.parametrize(
    ("eligible", "standing", "caused", "status", "acted_on"),
    [
        (MIN_MESSAGES_TO_ACT - 1, H, True, Status.HEALTHY, False),
        (MIN_MESSAGES_TO_ACT - 1, W, True, Status.HEALTHY, False),
        (MIN_MESSAGES_TO_ACT - 1, R, True, Status.UNDER_REVIEW, False),
        (MIN_MESSAGES_TO_ACT - 1, T, False, Status.HEALTHY, False),
        (MIN_MESSAGES_TO_ACT - 1, P, True, Status.PAUSED, False),
        (MIN_MESSAGES_TO_ACT, H, True, Status.PENDING_PAUSE, True),
    ],
)
def test_thin_volume_is_shown_but_never_acted_on(
    eligible: int, standing: str, caused: bool, status: str, acted_on: bool
) -> None:
    """Half the mail complaining over 999 messages asks nothing; over 1,000 it proposes a pause."""
    rate = complaints(eligible // 2, eligible)
    result = metric_status(rate, COMPLAINTS, standing, caused_review=caused)
    assert (result.status, result.acted_on) == (status, acted_on)
    assert (result.step == Step.NONE) is not acted_on
    assert result.reason.startswith(rate.sentence())  # the figures are still shown
    if not acted_on:
        assert "too few to act on" in result.reason


def test_no_mail_at_all_is_not_a_clean_bill() -> None:
    """An account under review that sent nothing stays under review, with no step."""
    result = metric_status(complaints(0, eligible=0), COMPLAINTS, R)
    assert (result.status, result.step, result.acted_on) == (Status.UNDER_REVIEW, Step.NONE, False)
    assert result.reason.startswith("complaint rate unknown")


def test_a_mere_representative_short_rate_is_acted_on() -> None:
    """Between 1,000 and 10,000 messages the rate is not representative, yet it counts."""
    rate = bounces(600, eligible=5_000)
    assert not rate.representative
    assert metric_status(rate, BOUNCES, H).step == Step.PROPOSE_PAUSE


def test_an_unknown_standing_is_refused() -> None:
    """A misspelt standing is an error, not a healthy account."""
    with pytest.raises(UnknownStanding):
        metric_status(complaints(0), COMPLAINTS, "on_hold")


def _figures(complaint: Rate, bounce: Rate) -> AccountFigures:
    return AccountFigures(account_id=42, at=NOW, complaint=complaint, bounce=bounce)


@pytest.mark.parametrize(
    ("complaint", "bounce", "standing", "status", "step"),
    [
        (complaints(0), bounces(0), H, Status.HEALTHY, Step.NONE),
        (complaints(100), bounces(0), H, Status.UNDER_REVIEW, Step.REVIEW),
        (complaints(0), bounces(10_000), H, Status.PENDING_PAUSE, Step.PROPOSE_PAUSE),
        (complaints(100), bounces(10_000), H, Status.PENDING_PAUSE, Step.PROPOSE_PAUSE),
        (complaints(0), bounces(4_000), R, Status.ALMOST_HEALED, Step.NONE),
        (complaints(100), bounces(4_000), R, Status.UNDER_REVIEW, Step.NONE),
        (complaints(0), bounces(6_000), P, Status.PAUSED, Step.NONE),
        # a thin, alarming rate never drives the account
        (complaints(400, 800), bounces(100), H, Status.HEALTHY, Step.NONE),
    ],
)
def test_the_account_takes_the_worst_of_its_rates(
    complaint: Rate, bounce: Rate, standing: str, status: str, step: str
) -> None:
    """The account's status is its worst rate's; its step the strongest any rate asks."""
    result = account_status(_figures(complaint, bounce), POLICY, standing)
    assert (result.status, result.step) == (status, step)
    assert result.standing == standing
    assert result.account_id == 42
    assert [m.metric for m in result.metrics] == [COMPLAINT_RATE, BOUNCE_RATE]


def test_the_account_reason_names_the_worst_rate_and_the_policy() -> None:
    """The sentence starts with the status and policy version and quotes the worst rate only."""
    result = account_status(_figures(complaints(100), bounces(10_000)), POLICY, H)
    assert result.reason.startswith("pending pause (policy v3): bounce rate 10.00%")
    assert "complaint rate" not in result.reason
    assert result.metric(COMPLAINT_RATE).status == Status.UNDER_REVIEW


def test_review_causes_decide_which_rate_is_almost_healed() -> None:
    """Under a complaint review, bounces that never caused it are healthy, complaints healing."""
    figures = _figures(complaints(50), bounces(100))
    result = account_status(figures, POLICY, R, review_causes={COMPLAINT_RATE})
    assert result.metric(COMPLAINT_RATE).status == Status.ALMOST_HEALED
    assert result.metric(BOUNCE_RATE).status == Status.HEALTHY
    assert result.status == Status.ALMOST_HEALED
    unknown = account_status(figures, POLICY, R)
    assert unknown.metric(BOUNCE_RATE).status == Status.ALMOST_HEALED


def test_the_account_uses_the_policy_thresholds() -> None:
    """A stricter policy version moves the same figures to a higher status."""
    strict = Policy.from_dict(
        {
            "version": 4,
            "author": "mara",
            "thresholds": {"complaint_rate": {"review": 0.0005, "pause": 0.0008}},
        }
    )
    figures = _figures(complaints(80), bounces(0))
    assert account_status(figures, POLICY, H).status == Status.HEALTHY
    stricter = account_status(figures, strict, H)
    assert (stricter.status, stricter.step) == (Status.PENDING_PAUSE, Step.PROPOSE_PAUSE)
    assert "0.08% pause threshold" in stricter.reason
