"""Merging cases and splitting events off a case, on cases the pipeline made."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.cases.errors import MergeNotAllowed, ReasonRequired, SplitNotAllowed
from abusedesk.cases.escalations import EscalationState, EscalationTarget, TargetKind
from abusedesk.cases.routing import Tier
from abusedesk.cases.states import CaseState, CloseReason
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import NotFound
from abusedesk.storage import case_history, case_merge, escalations
from abusedesk.storage.case_history import Step
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.queues import save_rules
from abusedesk.storage.tables import Case, Event
from tests.factories.arf import arf_report
from tests.factories.inventory import make_account, make_sent_mail
from tests.support.casework import (
    MONDAY,
    audit_tags,
    case_row,
    kinds,
    make_case,
    make_queue,
    new_account,
    restore_defaults,
)
from tests.support.unattributed import ingest

DOMAIN = "news.example.com"
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Folded:
    """An account whose reports the pipeline folded into a spam and a phishing case."""

    account_id: int
    spam: int
    phishing: int


@pytest.fixture(autouse=True)
def _defaults(container: Container) -> None:
    """Start every test with the queue and routing version the migration writes."""
    with unit_of_work(container.sessions) as session:
        restore_defaults(session)


@pytest.fixture
def folded(container: Container) -> Folded:
    """Ingest three spam complaints (two reporters) and two fraud reports for one account."""
    with unit_of_work(container.sessions) as session:
        account_id, resource_id = make_account(session, domain=DOMAIN)
        mails = [
            make_sent_mail(session, account_id, resource_id, n, domain=DOMAIN) for n in range(5)
        ]
    feedback = ["abuse", "abuse", "abuse", "fraud", "fraud"]
    reporters = ["fbl.example.net", "fbl.example.net", "isp.example.org", "cert.example.org"] * 2
    ingest(
        container,
        [
            arf_report(
                message_id=mail.message_id,
                from_domain=DOMAIN,
                feedback_type=feedback[n],
                reporter=reporters[n],
                serial=n,
            )
            for n, mail in enumerate(mails)
        ],
    )
    with read_only(container.sessions) as session:
        cases = dict(
            session.execute(
                select(Case.category_group, Case.id).where(Case.account_id == account_id)
            ).all()
        )
    return Folded(account_id, cases["spam"], cases["phishing"])


def _events(container: Container, case_id: int) -> list[int]:
    with read_only(container.sessions) as session:
        return list(
            session.scalars(select(Event.id).where(Event.case_id == case_id).order_by(Event.id))
        )


def _counts(container: Container, case_id: int) -> tuple[int, int, str]:
    with read_only(container.sessions) as session:
        row = case_row(session, case_id)
    return row.event_count, row.reporter_count, row.status


# --- merge --------------------------------------------------------------------------


def test_merge_moves_every_event_to_the_survivor_and_closes_the_rest(
    container: Container, folded: Folded
) -> None:
    """The spam case keeps all five events and three reporters; the phishing case closes
    as merged and points at it."""
    phishing_events = _events(container, folded.phishing)
    with unit_of_work(container.sessions) as session:
        plan = case_merge.merge_cases(
            session,
            [folded.spam, folded.phishing],
            survivor_id=folded.spam,
            reason="one campaign sent from both",
            actor="alice",
            now=utcnow(),
        )
    with read_only(container.sessions) as session:
        absorbed = case_row(session, folded.phishing)
        absorbed_steps = kinds(session, folded.phishing)[-2:]
        survivor_step = case_history.history(session, folded.spam)[-1]
        tags = audit_tags(session, folded.phishing)
    assert (plan.survivor_id, plan.absorbed_ids) == (folded.spam, (folded.phishing,))
    assert (_counts(container, folded.spam), _counts(container, folded.phishing)) == (
        (5, 3, CaseState.NEW),
        (0, 0, CaseState.CLOSED),
    )
    assert set(phishing_events) <= set(_events(container, folded.spam))
    assert (absorbed.close_reason, absorbed.merged_into_id) == (CloseReason.MERGED, folded.spam)
    assert absorbed_steps == [Step.TRANSITION, Step.MERGE]
    assert (survivor_step.kind, survivor_step.to_value) == (
        Step.MERGE,
        f"absorbed case(s) {folded.phishing}",
    )
    assert tags[-2:] == ["case:case:close", "case:case:merge"]


def test_the_earliest_opened_case_survives_by_default(container: Container) -> None:
    """Without a named survivor, the case opened first keeps the events."""
    with unit_of_work(container.sessions) as session:
        account = new_account(session)
        late = make_case(session, account, "spam", opened_at=MONDAY)
        early = make_case(session, account, "malware", opened_at=MONDAY - HOUR)
        plan = case_merge.merge_cases(session, [late, early], reason="same", actor="a", now=MONDAY)
    assert (plan.survivor_id, plan.absorbed_ids) == (early, (late,))


def test_merge_withdraws_the_escalations_of_absorbed_cases(container: Container) -> None:
    """An absorbed case's active escalation is withdrawn, naming the survivor."""
    with unit_of_work(container.sessions) as session:
        account = new_account(session)
        survivor = make_case(session, account, "spam", opened_at=MONDAY - HOUR)
        absorbed = make_case(session, account, "phishing", status=CaseState.INVESTIGATING)
        escalation_id = escalations.escalate(
            session,
            absorbed,
            EscalationTarget(TargetKind.DEPARTMENT, "legal"),
            reason="subpoena",
            within=HOUR,
            actor="a",
            now=MONDAY,
        )
    with unit_of_work(container.sessions) as session:
        case_merge.merge_cases(
            session, [survivor, absorbed], reason="same sender", actor="a", now=MONDAY + HOUR
        )
    with read_only(container.sessions) as session:
        (view,) = escalations.case_escalations(session, absorbed, now=MONDAY)
        status = case_row(session, absorbed).status
    assert (view.id, view.state, view.outcome, status) == (
        escalation_id,
        EscalationState.WITHDRAWN,
        f"case {absorbed} was merged into case {survivor}",
        CaseState.CLOSED,
    )


def test_merges_that_cannot_be_are_refused_and_change_nothing(
    container: Container, folded: Folded
) -> None:
    """Other accounts, closed cases, a missing reason and unknown cases are refused."""
    with unit_of_work(container.sessions) as session:
        stranger = make_case(session, new_account(session, 2), "spam")
        closed = make_case(session, folded.account_id, "malware", status=CaseState.CLOSED)
    pair = [folded.spam, folded.phishing]
    attempts = {
        "accounts": ([folded.spam, stranger], "why", MergeNotAllowed),
        "closed": ([folded.spam, closed], "why", MergeNotAllowed),
        "reason": (pair, "  ", ReasonRequired),
        "unknown": ([folded.spam, 777_777], "why", NotFound),
    }
    for case_ids, reason, error in attempts.values():
        with unit_of_work(container.sessions) as session, pytest.raises(error):
            case_merge.merge_cases(session, case_ids, reason=reason, actor="a", now=utcnow())
    assert (_counts(container, folded.spam), _counts(container, folded.phishing)) == (
        (3, 2, CaseState.NEW),
        (2, 2, CaseState.NEW),
    )


# --- split --------------------------------------------------------------------------


def test_split_opens_a_routed_case_with_the_chosen_events(
    container: Container, folded: Folded
) -> None:
    """One spam event split into a malware case: both recounted, the new one routed by the
    current rules and its history says where it came from."""
    with unit_of_work(container.sessions) as session:
        make_queue(session, "tier2", tier=Tier.ADVANCED)
        save_rules(
            session,
            {
                "note": "malware to tier 2",
                "default_queue": "triage",
                "rules": [
                    {
                        "name": "malware",
                        "queue": "tier2",
                        "when": [{"field": "category_group", "op": "equals", "value": "malware"}],
                    }
                ],
            },
            actor="admin",
            now=utcnow(),
        )
    moved = _events(container, folded.spam)[-1]
    with unit_of_work(container.sessions) as session:
        result = case_merge.split_case(
            session,
            folded.spam,
            [moved],
            category_group="malware",
            reason="this one carried an attachment",
            actor="alice",
            now=utcnow(),
        )
    with read_only(container.sessions) as session:
        new = case_row(session, result.case_id)
        new_kinds = kinds(session, result.case_id)
        source_step = case_history.history(session, folded.spam)[-1]
    assert (result.queue, new.category_group, new.account_id, new.routing_version) == (
        "tier2",
        "malware",
        folded.account_id,
        2,
    )
    assert (_counts(container, folded.spam), _counts(container, result.case_id)) == (
        (2, 1, CaseState.NEW),
        (1, 1, CaseState.NEW),
    )
    assert _events(container, result.case_id) == [moved]
    assert new_kinds == [Step.OPEN, Step.SPLIT, Step.ROUTE]
    assert (source_step.kind, source_step.to_value) == (
        Step.SPLIT,
        f"events split off into case {result.case_id}",
    )


def test_split_into_a_group_the_account_has_open_names_that_case(
    container: Container, folded: Folded
) -> None:
    """The account already has an open phishing case: the split is refused and names it."""
    moved = _events(container, folded.spam)[:1]
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(SplitNotAllowed, match=f"case {folded.phishing} open in phishing"),
    ):
        case_merge.split_case(
            session,
            folded.spam,
            moved,
            category_group="phishing",
            reason="looks like phishing",
            actor="alice",
            now=utcnow(),
        )
    assert _counts(container, folded.spam) == (3, 2, CaseState.NEW)


def test_splits_that_cannot_be_are_refused(container: Container, folded: Folded) -> None:
    """Every event, another case's event, or the same group cannot be split off."""
    spam_events = _events(container, folded.spam)
    phishing_event = _events(container, folded.phishing)[0]
    attempts = [
        (spam_events, "malware", "would empty"),
        ([phishing_event], "malware", "not in case"),
        (spam_events[:1], "spam", "other than 'spam'"),
    ]
    for event_ids, group, words in attempts:
        with (
            unit_of_work(container.sessions) as session,
            pytest.raises(SplitNotAllowed, match=words),
        ):
            case_merge.split_case(
                session,
                folded.spam,
                event_ids,
                category_group=group,
                reason="why",
                actor="a",
                now=utcnow(),
            )
    with read_only(container.sessions) as session:
        count = len(session.scalars(select(Case.id)).all())
    assert count == 2
