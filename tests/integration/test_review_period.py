"""The end of a review period: the sweep proposes a pause or the end of the review.

An account under review for longer than the policy's review period gets one proposal,
by ``system:review-period``: pause when a rate is still at or above its review
threshold, end the review when the rates healed or too little mail was sent to judge.
"""

from datetime import datetime, timedelta

from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.storage import enforcement
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.enforcement import REVIEW_ACTOR, ActionRecord
from abusedesk.storage.tables import Resource
from tests.support.casework import MONDAY, make_case, new_account
from tests.support.enforcement import account_standing, executed, propose
from tests.support.notices import add_sending, hours_ago

DAY = timedelta(days=1)
# The default policy's review period is 14 days.
AFTER_PERIOD = MONDAY + 15 * DAY


def _under_review(container: Container) -> tuple[int, int]:
    """Return (account id, case id) of an account put under review on MONDAY."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        case_id = make_case(session, account_id)
        executed(session, account_id, "review", case_id=case_id, approver=None)
    assert account_standing(container, account_id) == "under_review"
    return account_id, case_id


def _sent(container: Container, account_id: int, *, complaints: int, at: datetime) -> None:
    """Record 12,000 messages to feedback-loop domains over the last days before *at*."""
    with unit_of_work(container.sessions) as session:
        for day in range(6):
            add_sending(
                session,
                account_id,
                hours_ago(at, 24 * day + 3),
                sent=2000,
                fbl_sent=2000,
                complaints=complaints,
            )


def _endings(container: Container, now: datetime) -> list[ActionRecord]:
    with unit_of_work(container.sessions) as session:
        ids = enforcement.propose_review_endings(session, now=now)
        return [enforcement.action_record(session, action_id) for action_id in ids]


def test_nothing_is_proposed_within_the_review_period(container: Container) -> None:
    """Thirteen days in, the review still runs."""
    account_id, _ = _under_review(container)
    _sent(container, account_id, complaints=6, at=MONDAY + 13 * DAY)
    assert _endings(container, MONDAY + 13 * DAY) == []


def test_a_rate_still_over_the_review_threshold_proposes_a_pause(container: Container) -> None:
    """0.30% complaints after the period: a pause, citing the review's case and the figures."""
    account_id, case_id = _under_review(container)
    _sent(container, account_id, complaints=6, at=AFTER_PERIOD)

    (pause,) = _endings(container, AFTER_PERIOD)
    again = _endings(container, AFTER_PERIOD + DAY)

    assert (pause.action, pause.state, pause.proposed_by) == ("pause", "proposed", REVIEW_ACTOR)
    assert pause.needs_approval, "the default policy wants a second analyst for a pause"
    assert "complaint_rate 0.30% is still at or above the review threshold" in pause.policy_reason
    assert (pause.case_id, pause.evidence["case_ids"]) == (case_id, [case_id])
    assert pause.evidence["figures"]["complaint_rate"] == 0.003
    assert pause.cause == "complaint_rate"
    assert again == [], "a pending proposal is not proposed twice"
    assert account_standing(container, account_id) == "under_review"


def test_healed_rates_end_the_review(container: Container) -> None:
    """0.05% complaints after the period: the review ends, once executed."""
    account_id, _ = _under_review(container)
    _sent(container, account_id, complaints=1, at=AFTER_PERIOD)

    (ending,) = _endings(container, AFTER_PERIOD)
    with unit_of_work(container.sessions) as session:
        done = enforcement.execute(
            session, ending.id, enforcement.LocalConnector(), actor="ana", now=AFTER_PERIOD
        )

    assert (ending.action, ending.needs_approval) == ("end_review", False)
    assert "every rate is below its review threshold" in ending.policy_reason
    assert done.state == "executed"
    assert account_standing(container, account_id) == "healthy"


def test_too_little_mail_to_judge_is_no_reason_to_pause(container: Container) -> None:
    """Only 600 messages since the review: no representative rate, so the review ends."""
    account_id, _ = _under_review(container)
    with unit_of_work(container.sessions) as session:
        add_sending(
            session,
            account_id,
            hours_ago(AFTER_PERIOD, 5),
            sent=600,
            fbl_sent=600,
            complaints=30,
        )
    (ending,) = _endings(container, AFTER_PERIOD)
    assert ending.action == "end_review"


def test_a_rejected_ending_is_not_proposed_again(container: Container) -> None:
    """The analyst's rejection stands: the sweep does not keep proposing."""
    account_id, _ = _under_review(container)
    _sent(container, account_id, complaints=6, at=AFTER_PERIOD)
    (pause,) = _endings(container, AFTER_PERIOD)
    with unit_of_work(container.sessions) as session:
        enforcement.reject(
            session, pause.id, reason="fixed; a new list", actor="lee", now=AFTER_PERIOD
        )
    assert _endings(container, AFTER_PERIOD + 2 * DAY) == []


def test_a_pending_resource_action_does_not_hold_the_review_open(container: Container) -> None:
    """A block on one identity waiting for its retry is no decision about the review."""
    account_id, case_id = _under_review(container)
    _sent(container, account_id, complaints=1, at=AFTER_PERIOD)
    with unit_of_work(container.sessions) as session:
        identity = session.scalar(select(Resource.id).where(Resource.account_id == account_id))
        propose(session, account_id, "block_identity", case_id=case_id, resource_id=identity)
    (ending,) = _endings(container, AFTER_PERIOD)
    assert ending.action == "end_review"
