"""Casework as stored: routing, the next-case pull, assignment, transitions, snoozes, SLAs."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.errors import (
    InvalidCloseReason,
    InvalidQueue,
    InvalidRuleSet,
    InvalidSnooze,
    ReasonRequired,
    TransitionNotAllowed,
)
from abusedesk.cases.routing import CaseFacts, Department, Queue, Tier
from abusedesk.cases.sla import SlaState
from abusedesk.cases.states import TRANSITIONS, CaseState, CloseReason
from abusedesk.core.errors import NotFound
from abusedesk.storage import case_history, case_notes, casework, queues
from abusedesk.storage.case_history import Step
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry
from tests.support.casework import (
    MONDAY,
    audit_tags,
    berlin_calendar,
    case_row,
    kinds,
    make_case,
    make_queue,
    make_user,
    new_account,
    restore_defaults,
    signals_about,
)

HOUR = timedelta(hours=1)
PHISHING_TO_TIER2 = {
    "note": "phishing goes to tier 2",
    "default_queue": "triage",
    "rules": [
        {
            "name": "phishing",
            "queue": "tier2",
            "when": [{"field": "category_group", "op": "equals", "value": "phishing"}],
        }
    ],
}


@pytest.fixture(autouse=True)
def _defaults(container: Container) -> None:
    """Start every test with the queue and routing version the migration writes."""
    with unit_of_work(container.sessions) as session:
        restore_defaults(session)


@pytest.fixture
def account(container: Container) -> int:
    """Return an account with no cases."""
    with unit_of_work(container.sessions) as session:
        return new_account(session)


def _route(container: Container, case_id: int, group: str) -> str:
    with unit_of_work(container.sessions) as session:
        decision = casework.route_case(
            session, case_id, CaseFacts(category_group=group), now=MONDAY, actor="system:route"
        )
        return decision.queue


def _queue_of(container: Container, case_id: int) -> str | None:
    with read_only(container.sessions) as session:
        queue_id = case_row(session, case_id).queue_id
        return None if queue_id is None else queues.queue_by_id(session, queue_id).name


# --- routing ------------------------------------------------------------------------


def test_first_matching_rule_routes_and_the_rest_go_to_the_default(
    container: Container, account: int
) -> None:
    """A phishing case follows its rule to tier2, a spam case goes to the default queue."""
    with unit_of_work(container.sessions) as session:
        make_queue(session, "tier2", tier=Tier.ADVANCED)
        queues.save_rules(session, PHISHING_TO_TIER2, actor="admin", now=MONDAY)
        phishing = make_case(session, account, "phishing")
        spam = make_case(session, account, "spam")
    _route(container, phishing, "phishing")
    _route(container, spam, "spam")
    with read_only(container.sessions) as session:
        routed = case_row(session, phishing)
        reason, version = routed.routing_reason or "", routed.routing_version
    assert (_queue_of(container, phishing), _queue_of(container, spam), version) == (
        "tier2",
        "triage",
        2,
    )
    assert "rule 1 'phishing' of routing version 2" in reason


def test_a_new_routing_version_changes_where_the_next_case_goes(
    container: Container, account: int
) -> None:
    """Cases routed before a new version stay put; the next case follows the new rules."""
    with unit_of_work(container.sessions) as session:
        make_queue(session, "tier2", tier=Tier.ADVANCED)
        make_queue(session, "security", department=Department.SECURITY)
        queues.save_rules(session, PHISHING_TO_TIER2, actor="admin", now=MONDAY)
        first = make_case(session, account, "phishing")
    _route(container, first, "phishing")
    with unit_of_work(container.sessions) as session:
        rules = queues.current_rules(session).to_dict()
        rules["rules"][0]["queue"] = "security"
        queues.save_rules(
            session,
            {**rules, "version": 3, "note": "phishing to security"},
            actor="admin",
            now=MONDAY,
        )
        second = make_case(session, new_account(session, 2), "phishing")
    _route(container, second, "phishing")
    assert (_queue_of(container, first), _queue_of(container, second)) == ("tier2", "security")


def test_an_edit_made_from_an_older_routing_version_is_refused(container: Container) -> None:
    """Saving rules that say they are version 2 when version 2 exists already is refused."""
    with unit_of_work(container.sessions) as session:
        make_queue(session, "tier2", tier=Tier.ADVANCED)
        queues.save_rules(session, {**PHISHING_TO_TIER2, "version": 2}, actor="alice", now=MONDAY)
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(InvalidRuleSet, match="changed meanwhile"),
    ):
        queues.save_rules(session, {**PHISHING_TO_TIER2, "version": 2}, actor="bob", now=MONDAY)
    with read_only(container.sessions) as session:
        assert [saved.rules.version for saved in queues.rule_versions(session)] == [2, 1]


def test_rules_naming_an_unknown_queue_are_refused(container: Container) -> None:
    """A rule set that sends cases to a queue that does not exist is refused with its place."""
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(InvalidRuleSet, match=r"rules\[0\]\.queue: unknown queue 'tier2'"),
    ):
        queues.save_rules(session, PHISHING_TO_TIER2, actor="admin", now=MONDAY)


def test_members_must_be_existing_users(container: Container) -> None:
    """Adding an unknown user to a queue is refused, naming them."""
    with unit_of_work(container.sessions) as session:
        make_user(session, "alice")
        with pytest.raises(InvalidQueue, match="no users named ghost"):
            queues.set_members(session, "triage", ["alice", "ghost"], actor="admin", now=MONDAY)


def test_a_saved_calendar_is_replaced_whole_and_audited(container: Container) -> None:
    """Saving a calendar again replaces it, with before and after in the audit log."""
    calendar = berlin_calendar()
    with unit_of_work(container.sessions) as session:
        first = queues.save_calendar(session, calendar, actor="admin", now=MONDAY)
        always = BusinessCalendar.always("Europe/Berlin", name=calendar.name)
        second = queues.save_calendar(session, always, actor="admin", now=MONDAY + HOUR)
    with read_only(container.sessions) as session:
        stored = queues.calendars(session)
        audited = session.execute(
            select(AuditEntry.before, AuditEntry.after)
            .where(AuditEntry.tag == "case:calendar:save")
            .order_by(AuditEntry.id)
        ).all()
    assert (first, stored) == (second, {calendar.name: always})
    assert [(before, after) for before, after in audited] == [
        (None, calendar.to_dict()),
        (calendar.to_dict(), always.to_dict()),
    ]


def test_a_queue_on_an_unknown_calendar_is_refused(container: Container) -> None:
    """A queue cannot name a calendar that was never saved."""
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(InvalidQueue, match="no calendar"),
    ):
        queues.save_queue(
            session,
            Queue("office"),
            response=HOUR,
            resolution=8 * HOUR,
            calendar="nowhere",
            actor="admin",
            now=MONDAY,
        )


def test_queue_loads_count_open_unassigned_and_breached_cases(
    container: Container, account: int
) -> None:
    """The queue list counts a queue's open, unassigned, breached and snoozed cases."""
    with unit_of_work(container.sessions) as session:
        make_user(session, "alice")
        old = make_case(session, account, "spam", opened_at=MONDAY - 10 * HOUR, queue="triage")
        held = make_case(session, account, "phishing", queue="triage")
        make_case(session, account, "malware", status="closed", queue="triage")
        casework.assign(session, held, "alice", actor="alice", now=MONDAY)
        casework.refresh_sla(session, old, now=MONDAY)
        snoozed = make_case(session, account, "other", queue="triage")
        casework.snooze(
            session, snoozed, until=MONDAY + HOUR, until_reply=False, actor="alice", now=MONDAY
        )
        for_reply = make_case(session, account, "authentication", queue="triage")
        casework.snooze(session, for_reply, until=None, until_reply=True, actor="alice", now=MONDAY)
    with read_only(container.sessions) as session:
        (load,) = queues.queue_loads(session, now=MONDAY)
    assert (load.open_cases, load.unassigned, load.breached, load.snoozed) == (4, 3, 1, 2)


# --- the next case ------------------------------------------------------------------


def test_pull_next_gives_breached_then_higher_priority_then_earlier_due(
    container: Container, account: int
) -> None:
    """The pull order is: a breached clock first, then priority, then the earlier due time."""
    with unit_of_work(container.sessions) as session:
        make_user(session, "alice")
        queues.set_members(session, "triage", ["alice"], actor="admin", now=MONDAY)
        low_late = make_case(session, account, "g1", priority=10, opened_at=MONDAY, queue="triage")
        low_early = make_case(
            session, account, "g2", priority=10, opened_at=MONDAY - HOUR, queue="triage"
        )
        high = make_case(session, account, "g3", priority=50, queue="triage")
        breached = make_case(
            session, account, "g4", priority=1, opened_at=MONDAY - 5 * HOUR, queue="triage"
        )
        casework.refresh_sla(session, breached, now=MONDAY)
    pulled = []
    for _ in range(5):
        with unit_of_work(container.sessions) as session:
            got = casework.pull_next(session, "alice", now=MONDAY)
            pulled.append(None if got is None else got.case_id)
    assert pulled == [breached, high, low_early, low_late, None]


def test_pull_next_skips_held_snoozed_and_customer_owed_cases(
    container: Container, account: int
) -> None:
    """Assigned, snoozed and waiting-on-customer cases are not pulled."""
    with unit_of_work(container.sessions) as session:
        make_user(session, "alice")
        make_user(session, "bob")
        queues.set_members(session, "triage", ["alice"], actor="admin", now=MONDAY)
        held = make_case(session, account, "g1", queue="triage")
        casework.assign(session, held, "bob", actor="bob", now=MONDAY)
        snoozed = make_case(session, account, "g2", queue="triage")
        casework.snooze(session, snoozed, until=None, until_reply=True, actor="bob", now=MONDAY)
        make_case(session, account, "g3", status=CaseState.WAITING_ON_CUSTOMER, queue="triage")
    with unit_of_work(container.sessions) as session:
        assert casework.pull_next(session, "alice", now=MONDAY) is None


def test_pulling_with_no_queue_says_so(container: Container) -> None:
    """An analyst in no queue gets a clear refusal, not an empty result."""
    with unit_of_work(container.sessions) as session:
        make_user(session, "alice")
        with pytest.raises(casework.NoQueues, match="member of no queue"):
            casework.pull_next(session, "alice", now=MONDAY)


def _pull_together(container: Container, usernames: list[str]) -> list[list[int]]:
    """Let each analyst pull from their own thread and session until nothing is left."""
    start = threading.Barrier(len(usernames))
    results: dict[str, list[int]] = {name: [] for name in usernames}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            start.wait(timeout=30)
            while True:
                with unit_of_work(container.sessions) as session:
                    got = casework.pull_next(session, name, now=MONDAY)
                if got is None:
                    return
                results[name].append(got.case_id)
        except BaseException as problem:  # handed back to the test below
            errors.append(problem)

    threads = [threading.Thread(target=work, args=(name,)) for name in usernames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return [results[name] for name in usernames]


def test_two_analysts_pulling_at_once_never_get_the_same_case(
    container: Container, account: int
) -> None:
    """Two concurrent pullers share the queue's cases between them, each case once."""
    with unit_of_work(container.sessions) as session:
        for name in ("alice", "bob"):
            make_user(session, name)
        queues.set_members(session, "triage", ["alice", "bob"], actor="admin", now=MONDAY)
        cases = [make_case(session, account, f"g{n}", queue="triage") for n in range(12)]
    alice, bob = _pull_together(container, ["alice", "bob"])
    assert (sorted(alice + bob), set(alice) & set(bob)) == (cases, set())
    with read_only(container.sessions) as session:
        assigned = [kinds(session, case_id).count(Step.ASSIGN) for case_id in cases]
    assert assigned == [1] * len(cases)


def test_two_analysts_pulling_the_only_case_one_wins(container: Container, account: int) -> None:
    """With one case waiting, one of two concurrent pullers gets it and the other nothing."""
    with unit_of_work(container.sessions) as session:
        for name in ("alice", "bob"):
            make_user(session, name)
        queues.set_members(session, "triage", ["alice", "bob"], actor="admin", now=MONDAY)
        only = make_case(session, account, "spam", queue="triage")
    alice, bob = _pull_together(container, ["alice", "bob"])
    assert sorted([alice, bob]) == [[], [only]]
    with read_only(container.sessions) as session:
        assert kinds(session, only).count(Step.ASSIGN) == 1


# --- assignment and transfer --------------------------------------------------------


def test_taking_over_a_held_case_needs_take_over_and_a_reason(
    container: Container, account: int
) -> None:
    """Bob cannot take Alice's case silently; with take-over and a reason he can."""
    with unit_of_work(container.sessions) as session:
        make_user(session, "alice")
        make_user(session, "bob")
        case_id = make_case(session, account, queue="triage")
        casework.assign(session, case_id, "alice", actor="alice", now=MONDAY)
    with unit_of_work(container.sessions) as session:
        with pytest.raises(casework.CaseTaken, match="assigned to alice"):
            casework.assign(session, case_id, "bob", actor="bob", now=MONDAY)
        with pytest.raises(ReasonRequired):
            casework.assign(session, case_id, "bob", actor="bob", now=MONDAY, take_over=True)
    with unit_of_work(container.sessions) as session:
        casework.assign(
            session,
            case_id,
            "bob",
            actor="bob",
            now=MONDAY,
            take_over=True,
            reason="alice is on leave",
        )
    with read_only(container.sessions) as session:
        last = case_history.history(session, case_id)[-1]
    assert (last.kind, last.from_value, last.to_value, last.reason) == (
        Step.ASSIGN,
        "alice",
        "bob",
        "alice is on leave",
    )


def test_assigning_to_an_unknown_user_is_refused(container: Container, account: int) -> None:
    """A case cannot be given to someone who is not an active user."""
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account, queue="triage")
        with pytest.raises(NotFound, match="ghost"):
            casework.assign(session, case_id, "ghost", actor="lead", now=MONDAY)


def test_transfer_moves_the_case_unassigned_with_its_reason(
    container: Container, account: int
) -> None:
    """A transfer to another department's queue clears the assignee and records why."""
    with unit_of_work(container.sessions) as session:
        make_user(session, "alice")
        make_queue(session, "security", department=Department.SECURITY)
        case_id = make_case(session, account, queue="triage")
        casework.assign(session, case_id, "alice", actor="alice", now=MONDAY)
        with pytest.raises(ReasonRequired):
            casework.transfer(session, case_id, "security", actor="alice", now=MONDAY, reason=" ")
    with unit_of_work(container.sessions) as session:
        casework.transfer(
            session, case_id, "security", actor="alice", now=MONDAY, reason="credential theft"
        )
    with read_only(container.sessions) as session:
        moved = case_row(session, case_id)
        last = case_history.history(session, case_id)[-1]
        tags = audit_tags(session, case_id)
    assert (moved.assignee_id, _queue_of(container, case_id)) == (None, "security")
    assert (last.from_value, last.to_value, last.reason) == (
        "triage (trust_safety)",
        "security (security)",
        "credential theft",
    )
    assert tags[-1] == "case:case:transfer"


# --- transitions --------------------------------------------------------------------

ALL_MOVES = sorted(
    (current, target) for current, targets in TRANSITIONS.items() for target in targets
)


VERBS = {
    CaseState.TRIAGED: "triage",
    CaseState.INVESTIGATING: "investigate",
    CaseState.WAITING_ON_CUSTOMER: "wait_on_customer",
    CaseState.ESCALATED: "escalate",
    CaseState.ACTIONED: "action",
    CaseState.RESOLVED: "resolve",
    CaseState.CLOSED: "close",
}


def _expected_tag(current: str, target: str) -> str:
    reopening = current in (CaseState.RESOLVED, CaseState.CLOSED) and target != CaseState.CLOSED
    return "case:case:" + ("reopen" if reopening else VERBS[target])


def test_every_allowed_transition_is_made_and_audited(container: Container, account: int) -> None:
    """Each move the table allows lands, with its history step and audit tag."""
    made = []
    with unit_of_work(container.sessions) as session:
        for n, (current, target) in enumerate(ALL_MOVES):
            case_id = make_case(session, account, f"g{n}", status=current, queue="triage")
            close = None
            if target == CaseState.CLOSED:
                resolvable = current in (CaseState.ACTIONED, CaseState.RESOLVED)
                close = CloseReason.RESOLVED if resolvable else CloseReason.NO_ACTION
            casework.move(
                session, case_id, target, actor="alice", now=MONDAY + HOUR, close_reason=close
            )
            step = case_history.history(session, case_id)[-1]
            status = case_row(session, case_id).status
            tag = audit_tags(session, case_id)[-1]
            made.append((current, status, step.kind, step.from_value, step.to_value, tag))
    assert made == [
        (current, target, Step.TRANSITION, current, target, _expected_tag(current, target))
        for current, target in ALL_MOVES
    ]


def test_a_move_the_table_does_not_allow_is_refused_and_changes_nothing(
    container: Container, account: int
) -> None:
    """A new case cannot be resolved straight away; its state and history stay."""
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account, queue="triage")
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(TransitionNotAllowed, match="cannot go from new to resolved"),
    ):
        casework.move(session, case_id, CaseState.RESOLVED, actor="alice", now=MONDAY)
    with read_only(container.sessions) as session:
        assert (case_row(session, case_id).status, kinds(session, case_id)) == (
            CaseState.NEW,
            [Step.OPEN],
        )


def test_closing_needs_a_fitting_close_reason(container: Container, account: int) -> None:
    """No reason, or 'resolved' for work never done, is refused; a fitting one is stored."""
    with unit_of_work(container.sessions) as session:
        busy = make_case(session, account, "spam", status=CaseState.INVESTIGATING)
        done = make_case(session, account, "phishing", status=CaseState.ACTIONED)
        with pytest.raises(InvalidCloseReason, match="needs a close reason"):
            casework.move(session, busy, CaseState.CLOSED, actor="alice", now=MONDAY)
        with pytest.raises(InvalidCloseReason, match="cannot be closed as resolved"):
            casework.move(
                session,
                busy,
                CaseState.CLOSED,
                actor="alice",
                now=MONDAY,
                close_reason=CloseReason.RESOLVED,
            )
        casework.move(
            session,
            busy,
            CaseState.CLOSED,
            actor="alice",
            now=MONDAY,
            close_reason=CloseReason.FALSE_POSITIVE,
        )
        casework.move(
            session,
            done,
            CaseState.CLOSED,
            actor="alice",
            now=MONDAY,
            close_reason=CloseReason.RESOLVED,
        )
    with read_only(container.sessions) as session:
        stored = [
            (case_row(session, c).close_reason, case_row(session, c).closed_at)
            for c in (busy, done)
        ]
    assert stored == [(CloseReason.FALSE_POSITIVE, MONDAY), (CloseReason.RESOLVED, MONDAY)]


def test_bulk_close_closes_what_it_can_and_reports_the_rest(
    container: Container, account: int
) -> None:
    """Open cases close as duplicates; a closed one and an unknown id are reported."""
    with unit_of_work(container.sessions) as session:
        first = make_case(session, account, "g1", queue="triage")
        second = make_case(session, account, "g2", status=CaseState.INVESTIGATING)
        closed = make_case(session, account, "g3", status=CaseState.CLOSED)
    with unit_of_work(container.sessions) as session:
        outcomes = casework.bulk_close(
            session,
            [first, second, closed, 999_999, first],
            CloseReason.DUPLICATE,
            reason="same campaign as case 1",
            actor="lead",
            now=MONDAY,
        )
    assert [(o.case_id, o.closed) for o in outcomes] == [
        (first, True),
        (second, True),
        (closed, False),
        (999_999, False),
    ]
    assert "cannot go from closed to closed" in (outcomes[2].problem or "")
    with read_only(container.sessions) as session:
        reasons = [case_row(session, c).close_reason for c in (first, second, closed)]
        reason = case_history.history(session, first)[-1].reason
    assert reasons == [CloseReason.DUPLICATE, CloseReason.DUPLICATE, CloseReason.NO_ACTION]
    assert reason == "closed as duplicate: same campaign as case 1"


def test_bulk_close_refuses_reasons_meant_for_single_cases(
    container: Container, account: int
) -> None:
    """Bulk close offers duplicate, false positive and no action only, and needs words."""
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account)
        with pytest.raises(TransitionNotAllowed):
            casework.bulk_close(
                session, [case_id], CloseReason.RESOLVED, reason="done", actor="lead", now=MONDAY
            )
        with pytest.raises(ReasonRequired):
            casework.bulk_close(
                session, [case_id], CloseReason.NO_ACTION, reason="", actor="lead", now=MONDAY
            )


def test_reopening_counts_every_reopen_and_clears_the_close(
    container: Container, account: int
) -> None:
    """A closed case reopened, resolved and reopened again has been reopened twice."""
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account, status=CaseState.CLOSED, queue="triage")
        first = casework.move(session, case_id, CaseState.TRIAGED, actor="alice", now=MONDAY)
        casework.move(session, case_id, CaseState.RESOLVED, actor="alice", now=MONDAY + HOUR)
        casework.move(
            session, case_id, CaseState.INVESTIGATING, actor="alice", now=MONDAY + 2 * HOUR
        )
    with read_only(container.sessions) as session:
        row = case_row(session, case_id)
        tags = audit_tags(session, case_id)
    assert (first.is_reopen, row.reopen_count, row.closed_at, row.close_reason) == (
        True,
        2,
        None,
        None,
    )
    assert tags.count("case:case:reopen") == 2


# --- follow-ups ---------------------------------------------------------------------


def test_a_snooze_pauses_the_clock_and_wake_due_brings_the_case_back(
    container: Container, account: int
) -> None:
    """Snoozed for four hours, the response falls due four hours later; wake_due ends it."""
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account, queue="triage")
        due_before = case_row(session, case_id).response_due_at
        casework.snooze(
            session,
            case_id,
            until=MONDAY + 5 * HOUR,
            until_reply=False,
            actor="alice",
            now=MONDAY + HOUR,
        )
        due_snoozed = case_row(session, case_id).response_due_at
    with unit_of_work(container.sessions) as session:
        early = casework.wake_due(session, now=MONDAY + 4 * HOUR)
        woken = casework.wake_due(session, now=MONDAY + 5 * HOUR)
    with read_only(container.sessions) as session:
        row = case_row(session, case_id)
        step = case_history.history(session, case_id)[-1]
    assert (due_before, due_snoozed, row.response_due_at) == (
        MONDAY + 4 * HOUR,
        MONDAY + 8 * HOUR,
        MONDAY + 8 * HOUR,
    )
    assert (early, woken, row.snoozed_until, step.kind, step.reason) == (
        [],
        [case_id],
        None,
        Step.WAKE,
        "the snooze time came",
    )


def test_a_snooze_must_end_after_it_starts(container: Container, account: int) -> None:
    """A snooze into the past is refused before anything is written."""
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account, queue="triage")
        with pytest.raises(InvalidSnooze):
            casework.snooze(
                session, case_id, until=MONDAY - HOUR, until_reply=False, actor="a", now=MONDAY
            )


def test_the_customer_replying_wakes_a_snooze_waiting_for_it(
    container: Container, account: int
) -> None:
    """A reply ends a reply snooze; a reply to a case snoozed until a time changes nothing."""
    with unit_of_work(container.sessions) as session:
        waiting = make_case(session, account, "spam", queue="triage")
        timed = make_case(session, account, "phishing", queue="triage")
        casework.snooze(session, waiting, until=None, until_reply=True, actor="a", now=MONDAY)
        casework.snooze(
            session, timed, until=MONDAY + 9 * HOUR, until_reply=False, actor="a", now=MONDAY
        )
    with unit_of_work(container.sessions) as session:
        casework.customer_replied(session, waiting, now=MONDAY + HOUR)
        casework.customer_replied(session, timed, now=MONDAY + HOUR)
    with read_only(container.sessions) as session:
        states = [
            (case_row(session, c).snoozed_for_reply, case_row(session, c).snoozed_until)
            for c in (waiting, timed)
        ]
        last = case_history.history(session, waiting)[-1]
    assert states == [(False, None), (False, MONDAY + 9 * HOUR)]
    assert (last.kind, last.actor, last.reason) == (
        Step.WAKE,
        "system:followup",
        "the customer replied",
    )


# --- SLA clocks ---------------------------------------------------------------------


def test_due_times_follow_a_business_calendar_with_a_holiday(
    container: Container, account: int
) -> None:
    """Opened Monday 15:00 Berlin with Tuesday a holiday: 4 h response due Wednesday 11:00,
    16 h resolution due Thursday 15:00 (Berlin time)."""
    opened = MONDAY + 6 * HOUR  # 15:00 in Berlin
    with unit_of_work(container.sessions) as session:
        make_queue(
            session,
            "office",
            response=4 * HOUR,
            resolution=16 * HOUR,
            calendar=berlin_calendar(),
        )
        case_id = make_case(session, account, opened_at=opened, queue="office")
    with read_only(container.sessions) as session:
        row = case_row(session, case_id)
    assert (row.response_due_at, row.resolution_due_at) == (
        datetime(2026, 11, 4, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 5, 14, 0, tzinfo=UTC),
    )


def test_waiting_on_the_customer_pauses_the_resolution_clock(
    container: Container, account: int
) -> None:
    """Two hours waiting on the customer push the resolution due time two hours out."""
    with unit_of_work(container.sessions) as session:
        make_queue(session, "fast", response=HOUR, resolution=10 * HOUR)
        case_id = make_case(session, account, status=CaseState.TRIAGED, queue="fast")
        casework.move(session, case_id, CaseState.WAITING_ON_CUSTOMER, actor="a", now=MONDAY + HOUR)
        casework.move(session, case_id, CaseState.INVESTIGATING, actor="a", now=MONDAY + 3 * HOUR)
    with read_only(container.sessions) as session:
        row = case_row(session, case_id)
    assert (row.first_response_at, row.resolution_due_at) == (MONDAY + HOUR, MONDAY + 12 * HOUR)


def test_sla_sweep_raises_one_signal_per_breach_and_records_it(
    container: Container, account: int
) -> None:
    """Two cases past their response target breach once each, however often the sweep runs."""
    with unit_of_work(container.sessions) as session:
        late = [make_case(session, account, f"g{n}", queue="triage") for n in range(2)]
        answered = make_case(session, account, "g9", queue="triage")
        casework.move(session, answered, CaseState.TRIAGED, actor="a", now=MONDAY + HOUR)
    with unit_of_work(container.sessions) as session:
        first = casework.sweep_sla(session, now=MONDAY + 5 * HOUR)
    with unit_of_work(container.sessions) as session:
        again = casework.sweep_sla(session, now=MONDAY + 6 * HOUR)
    with read_only(container.sessions) as session:
        signals = signals_about(session, "sla_breach")
        steps = [case_history.history(session, c)[-1] for c in late]
        states = [case_row(session, c).sla_state for c in (*late, answered)]
        tags = session.scalars(
            select(AuditEntry.tag).where(AuditEntry.subject_id == str(late[0]))
        ).all()
    assert (sorted(first), again, sorted(signals)) == (late, [], sorted(map(str, late)))
    assert [(s.kind, s.to_value) for s in steps] == [(Step.SLA, SlaState.BREACHED)] * 2
    assert states == [SlaState.BREACHED, SlaState.BREACHED, SlaState.OK]
    assert "case:case:sla" in tags


def test_closing_a_snoozed_case_ends_the_snooze_for_the_clocks(
    container: Container, account: int
) -> None:
    """A case snoozed for a reply, closed and reopened, has running clocks again."""
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account, status=CaseState.TRIAGED, queue="triage")
        casework.snooze(session, case_id, until=None, until_reply=True, actor="a", now=MONDAY)
        casework.move(
            session,
            case_id,
            CaseState.CLOSED,
            actor="a",
            now=MONDAY + HOUR,
            close_reason=CloseReason.NO_ACTION,
        )
        casework.move(session, case_id, CaseState.TRIAGED, actor="a", now=MONDAY + 2 * HOUR)
    with read_only(container.sessions) as session:
        row = case_row(session, case_id)
    # Snoozed for the first hour and closed for the second: three days from 02:00 on.
    assert row.resolution_due_at == MONDAY + 2 * HOUR + timedelta(days=3)


def test_a_breach_found_outside_the_sweep_still_raises_its_signal(
    container: Container, account: int
) -> None:
    """A note after the response target breaches the case: one signal, one history step,
    and the sweep adds none."""
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account, queue="triage")
    with unit_of_work(container.sessions) as session:
        case_notes.add_note(
            session, case_id, "sorry for the wait", author="a", now=MONDAY + 5 * HOUR
        )
    with unit_of_work(container.sessions) as session:
        swept = casework.sweep_sla(session, now=MONDAY + 6 * HOUR)
    with read_only(container.sessions) as session:
        signals = signals_about(session, "sla_breach")
        sla_steps = [
            s.to_value for s in case_history.history(session, case_id) if s.kind == Step.SLA
        ]
        state = case_row(session, case_id).sla_state
    assert (signals, sla_steps, swept, state) == (
        [str(case_id)],
        [SlaState.BREACHED],
        [],
        SlaState.BREACHED,
    )


def test_time_spent_closed_does_not_count_after_a_reopen(
    container: Container, account: int
) -> None:
    """Closed after an hour and reopened ten days later, the case has its resolution time
    left minus that hour, not an instant breach."""
    reopened = MONDAY + timedelta(days=10)
    with unit_of_work(container.sessions) as session:
        case_id = make_case(session, account, status=CaseState.TRIAGED, queue="triage")
        casework.move(
            session,
            case_id,
            CaseState.CLOSED,
            actor="a",
            now=MONDAY + HOUR,
            close_reason=CloseReason.NO_ACTION,
        )
        casework.move(session, case_id, CaseState.TRIAGED, actor="a", now=reopened)
    with read_only(container.sessions) as session:
        row = case_row(session, case_id)
    assert (row.resolution_due_at, row.sla_state) == (
        reopened + timedelta(days=3) - HOUR,
        SlaState.OK,
    )
