"""What ends a review whose period is over (`policy.after_review`), in plain Python."""

import pytest

from abusedesk.enforcement.policy import Policy, after_review


@pytest.mark.parametrize(
    ("rates", "action"),
    [
        ({"complaint_rate": 0.0009, "bounce_rate": 0.049}, "end_review"),
        ({"complaint_rate": 0.001, "bounce_rate": 0.01}, "pause"),
        ({"complaint_rate": 0.0002, "bounce_rate": 0.05}, "pause"),
        ({"complaint_rate": None, "bounce_rate": None}, "end_review"),
        ({"complaint_rate": None, "bounce_rate": 0.2}, "pause"),
        ({}, "end_review"),
    ],
)
def test_a_rate_at_the_review_threshold_pauses_and_unknown_rates_do_not(
    rates: dict[str, float | None], action: str
) -> None:
    """At or above the review threshold pauses; below it, or unreadable, ends the review."""
    assert after_review(Policy(version=3, author="mara"), rates).action == action


def test_the_reason_names_the_policy_the_period_and_the_rate() -> None:
    """The sentence an analyst reads on the proposal."""
    policy = Policy(version=3, author="mara", review_period_days=10)
    why = after_review(policy, {"complaint_rate": 0.0042}).why
    assert why == (
        "policy v3: the 10-day review period is over and complaint_rate 0.42% is still"
        " at or above the review threshold"
    )
