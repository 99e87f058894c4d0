"""Appeals as stored: submitted from the portal, queued with their own SLA, decided by a
reviewer who had no hand in the action, with reversals run through the connector."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container
from abusedesk.config import Settings
from abusedesk.connectors.calls import ActionCall, SuppressionEntry
from abusedesk.core.errors import NotFound
from abusedesk.enforcement.errors import (
    ActionNotAllowed,
    ConflictedReviewer,
    InvalidAppealDecision,
    ReasonRequired,
)
from abusedesk.messaging.keys import NoticeContext
from abusedesk.pipeline.enforcement import notify_customer, tend_enforcement
from abusedesk.storage import appeals, enforcement, notices, queues
from abusedesk.storage.appeals import (
    AppealRefused,
    AppealStateConflict,
    AttachmentLimits,
    InvalidAppeal,
    Upload,
)
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.enforcement import ActionRecord, LocalConnector
from abusedesk.storage.tables import Case, Resource
from tests.support.casework import MONDAY, audit_tags, kinds, make_case, new_account, subject_tags
from tests.support.enforcement import executed, propose, standing_of
from tests.support.notices import CONTACT, context_for, set_contact

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
LIMITS = AttachmentLimits(
    max_count=2,
    max_bytes=2048,
    types=frozenset({"application/pdf", "image/png", "text/plain", "text/csv"}),
)
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
WORDS = {
    "root_cause": "A signup form without confirmation let a list broker add addresses.",
    "fix": "Double opt-in on every form; the broker's addresses are removed.",
    "prevention": "Weekly complaint review and a hard cap on new contacts per day.",
}


class Provider:
    """A connector that keeps the actions it carried out; it fails while ``down`` is set."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.actions: list[str] = []
        self.calls: list[ActionCall] = []

    def apply(self, call: ActionCall) -> None:
        """Carry out one action, or fail as an unreachable provider does."""
        if self.down:
            raise ConnectionError("provider unreachable")
        self.calls.append(call)
        self.actions.append(call.action)

    def push_suppressions(
        self, account_external_id: str, entries: Sequence[SuppressionEntry], idempotency_key: str
    ) -> None:
        """Accept a suppression push (appeals never send one)."""


def _paused_case(session: Session, n: int = 1) -> tuple[int, int, ActionRecord]:
    account_id = new_account(session, n)
    case_id = make_case(session, account_id, queue="triage")
    pause = executed(session, account_id, "pause", case_id=case_id)
    return account_id, case_id, pause


def _appeal(session: Session, action_id: int, **changes: Any) -> appeals.AppealRecord:
    values: dict[str, Any] = {
        **WORDS,
        "uploads": [],
        "limits": LIMITS,
        "now": MONDAY + DAY,
        **changes,
    }
    return appeals.submit_appeal(session, action_id, **values)


def _appealed_pause(container: Container) -> tuple[int, int, ActionRecord, appeals.AppealRecord]:
    """Pause an account on a case and appeal the pause; return (account, case, pause, appeal)."""
    with unit_of_work(container.sessions) as session:
        account_id, case_id, pause = _paused_case(session)
        return account_id, case_id, pause, _appeal(session, pause.id)


def _assert_nothing_changed(
    container: Container, appeal_id: int, account_id: int, provider: Provider
) -> None:
    """The appeal is still open, the account still paused, and no action ran."""
    with unit_of_work(container.sessions) as session:
        assert appeals.appeal(session, appeal_id).state == "open"
        assert standing_of(session, account_id) == "paused"
    assert provider.actions == []


def _decide(
    session: Session,
    appeal_id: int,
    decision: str,
    reason: str,
    *,
    connector: Provider | None = None,
    reviewer: str = "cleo",
    lift: Sequence[int] = (),
    now: datetime = MONDAY + 2 * DAY,
    notices: NoticeContext | None = None,
) -> appeals.AppealRecord:
    return appeals.decide_appeal(
        session,
        appeal_id,
        decision=decision,
        reason=reason,
        reviewer=reviewer,
        lift=lift,
        connector=connector or Provider(),
        now=now,
        notices=notices,
    )


# --- submitting -----------------------------------------------------------------------


def test_an_appeal_lands_in_the_appeals_queue_with_its_own_due_time(
    container: Container,
) -> None:
    """The appeal is open, due two days after submission, the case moves to the appeals queue."""
    with unit_of_work(container.sessions) as session:
        _, case_id, pause = _paused_case(session)
        filed = _appeal(
            session,
            pause.id,
            uploads=[
                Upload("../../etc/evidence.pdf", "application/pdf", PDF),
                Upload('opt-in "form".png', "image/png", PNG),
                Upload("", "application/octet-stream", b""),  # an empty file part
            ],
        )
        case = session.get(Case, case_id)
        assert case is not None
        session.refresh(case)
        queue = queues.queue_by_id(session, case.queue_id or 0)
        steps = kinds(session, case_id)
        tags = subject_tags(session, "appeal", filed.id)
        case_tags = audit_tags(session, case_id)
    assert (filed.state, filed.action_id, filed.case_id) == ("open", pause.id, case_id)
    assert filed.due_at == MONDAY + DAY + appeals.APPEALS_RESOLUTION
    assert (filed.root_cause, filed.fix, filed.prevention) == (
        WORDS["root_cause"],
        WORDS["fix"],
        WORDS["prevention"],
    )
    assert [(a.filename, a.content_type, a.size) for a in filed.attachments] == [
        ("evidence.pdf", "application/pdf", len(PDF)),
        ("opt-in form.png", "image/png", len(PNG)),
    ]
    assert (queue.name, queue.resolution) == ("appeals", appeals.APPEALS_RESOLUTION)
    assert case.assignee_id is None
    # The appeal step, then the move to the appeals queue (the case's own clocks keep their
    # start, so an old case may also show an SLA step after it).
    assert steps[steps.index("appeal") + 1] == "transfer"
    assert tags == ["appeal:appeal:submit"]
    assert "appeal:appeal:submit" in case_tags


def test_a_closed_case_reopens_when_its_action_is_appealed(container: Container) -> None:
    """An appeal is work: a case closed after the action comes back, in the appeals queue."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        case_id = make_case(session, account_id, status="closed", queue="triage")
        pause = executed(session, account_id, "pause", case_id=case_id)
        _appeal(session, pause.id)
        case = session.get(Case, case_id)
        assert case is not None
        session.refresh(case)
        status, queue_id = case.status, case.queue_id
        queue = queues.queue_by_id(session, queue_id or 0).name
    assert (status, queue) == ("triaged", "appeals")


def test_an_action_is_appealed_once(container: Container) -> None:
    """A second appeal of the same action is refused; the first stays as it was."""
    with unit_of_work(container.sessions) as session:
        _, _, pause = _paused_case(session)
        first = _appeal(session, pause.id)
    with unit_of_work(container.sessions) as session, pytest.raises(AppealRefused, match="already"):
        _appeal(session, pause.id)
    with unit_of_work(container.sessions) as session:
        assert appeals.appeal_of_action(session, pause.id) == appeals.appeal(session, first.id)


def test_only_executed_punitive_actions_are_appealed(container: Container) -> None:
    """A proposed action, a reinstatement and an unknown action cannot be appealed."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        case_id = make_case(session, account_id)
        proposed = propose(session, account_id, "pause", case_id=case_id)
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(AppealRefused, match="proposed"),
    ):
        _appeal(session, proposed.id)
    with unit_of_work(container.sessions) as session:
        enforcement.approve(session, proposed.id, approver="ben", now=MONDAY)
        enforcement.execute(session, proposed.id, LocalConnector(), actor="ben", now=MONDAY)
        resume = enforcement.reverse(
            session, proposed.id, reason="paused in error", actor="ana", now=MONDAY + HOUR
        )
        enforcement.execute(session, resume.id, LocalConnector(), actor="ana", now=MONDAY + HOUR)
        reinstate = executed(
            session, account_id, "reinstate", case_id=case_id, now=MONDAY + 2 * HOUR
        )
    with unit_of_work(container.sessions) as session:
        with pytest.raises(AppealRefused, match="reinstate is not an action that can be appealed"):
            _appeal(session, reinstate.id)
        with pytest.raises(AppealRefused, match="resume is not"):
            _appeal(session, resume.id)
        with pytest.raises(AppealRefused, match="reversed"):
            _appeal(session, proposed.id)  # resumed: no longer in force
        with pytest.raises(NotFound):
            _appeal(session, 999_999)


def test_missing_words_and_unfit_files_are_refused_with_every_reason(
    container: Container,
) -> None:
    """Each missing answer and each unfit file is named; nothing is stored."""
    html = b"<!DOCTYPE html><script>alert(1)</script>"
    with unit_of_work(container.sessions) as session:
        _, _, pause = _paused_case(session)
    with unit_of_work(container.sessions) as session, pytest.raises(InvalidAppeal) as refused:
        _appeal(
            session,
            pause.id,
            fix="   ",
            uploads=[
                Upload("page.png", "image/png", html),
                Upload("big.pdf", "application/pdf", PDF + b"x" * 4096),
            ],
        )
    problems = refused.value.problems
    assert problems == (
        "say what you fixed",
        "page.png is text/html; files may be of these types:"
        " application/pdf, image/png, text/csv, text/plain",
        "big.pdf is larger than 2 KB, the most one file may be",
    )
    with unit_of_work(container.sessions) as session, pytest.raises(InvalidAppeal) as refused:
        _appeal(
            session,
            pause.id,
            uploads=[Upload(f"f{i}.txt", "text/plain", b"notes") for i in range(3)],
        )
    assert refused.value.problems == ("attach at most 2 files; 3 were sent",)
    with unit_of_work(container.sessions) as session:
        assert appeals.appeal_of_action(session, pause.id) is None


def test_file_types_are_read_from_the_bytes() -> None:
    """The declared type is believed only where the bytes bear it out."""
    assert appeals.sniff_type(PDF, "image/png") == "application/pdf"
    assert appeals.sniff_type(PNG, "application/pdf") == "image/png"
    assert appeals.sniff_type(b"\xff\xd8\xff\xe0rest", "") == "image/jpeg"
    assert appeals.sniff_type(b"a,b\n1,2\n", "text/csv; charset=utf-8") == "text/csv"
    assert appeals.sniff_type(b"a,b\n1,2\n", "application/pdf") == "text/plain"
    assert appeals.sniff_type(b"hello <svg onload=x>", "text/plain") == "text/html"
    assert appeals.sniff_type(b"MZ\x90\x00\x03\x00", "application/pdf") is None
    assert appeals.sniff_type(b"text with a \x1b escape", "text/plain") is None
    assert appeals.safe_filename("C:\\Users\\x\\..\\report.pdf") == "report.pdf"
    assert appeals.safe_filename('"><script>.txt') == "script.txt"
    assert appeals.safe_filename("...") == "attachment"
    assert appeals.safe_filename("a\r\nb.txt") == "ab.txt"
    assert len(appeals.safe_filename("n" * 500)) == appeals.MAX_FILENAME


# --- deciding -------------------------------------------------------------------------


@pytest.mark.parametrize("reviewer", ["ana", "ben"])
def test_the_proposer_or_approver_cannot_review_the_appeal(
    container: Container, reviewer: str
) -> None:
    """ConflictedReviewer: the appeal stays open and the account paused."""
    account_id, *_, filed = _appealed_pause(container)
    provider = Provider()
    with unit_of_work(container.sessions) as session, pytest.raises(ConflictedReviewer):
        _decide(
            session,
            filed.id,
            "overturn",
            "the opt-in evidence holds",
            reviewer=reviewer,
            connector=provider,
        )
    _assert_nothing_changed(container, filed.id, account_id, provider)


def test_overturn_reinstates_through_the_connector(container: Container) -> None:
    """The reinstatement is proposed in the appeal's name, run by the reviewer; the account
    is healthy again and the pause is marked reversed."""
    account_id, case_id, pause, filed = _appealed_pause(container)
    provider = Provider()
    with unit_of_work(container.sessions) as session:
        decided = _decide(
            session,
            filed.id,
            "overturn",
            "the list broker was removed before the pause; complaints stopped",
            connector=provider,
        )
        (reversal_id,) = decided.reversal_action_ids
        reversal = enforcement.action_record(session, reversal_id)
        original = enforcement.action_record(session, pause.id)
        standing = standing_of(session, account_id)
        tags = subject_tags(session, "appeal", filed.id)
        steps = kinds(session, case_id)
    assert (decided.state, decided.reviewer, decided.lifted_action_ids) == (
        "overturned",
        "cleo",
        (pause.id,),
    )
    assert decided.decision_reason == (
        "the list broker was removed before the pause; complaints stopped"
    )
    assert (reversal.action, reversal.state, reversal.reverses_action_id) == (
        "reinstate",
        "executed",
        pause.id,
    )
    assert (reversal.proposed_by, reversal.executed_by) == (f"appeal:{filed.id}", "cleo")
    assert provider.actions == ["reinstate"]
    assert (provider.calls[0].reverses_action_id, provider.calls[0].case_id) == (pause.id, case_id)
    assert (original.state, standing) == ("reversed", "healthy")
    assert tags == ["appeal:appeal:submit", "appeal:appeal:decide"]
    assert steps[-1] == "appeal"


def test_partial_lifts_the_pause_and_keeps_the_throttle(container: Container) -> None:
    """Throttle then pause on one case: a partial decision resumes; the throttle stays."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        case_id = make_case(session, account_id, queue="triage")
        throttle = executed(session, account_id, "throttle", case_id=case_id)
        pause = executed(session, account_id, "pause", case_id=case_id, now=MONDAY + HOUR)
        filed = _appeal(session, pause.id)
        in_scope = [a.id for a in appeals.appealed_actions(session, filed.id)]
    assert in_scope == [throttle.id, pause.id]
    provider = Provider()
    with unit_of_work(container.sessions) as session:
        decided = _decide(
            session,
            filed.id,
            "partial",
            "sending may resume at the throttled rate while the list is cleaned",
            lift=[pause.id],
            connector=provider,
        )
        standing = standing_of(session, account_id)
        kept = enforcement.action_record(session, throttle.id)
        lifted = enforcement.action_record(session, pause.id)
    assert (decided.state, decided.lifted_action_ids) == ("partial", (pause.id,))
    assert provider.actions == ["resume"]
    assert (standing, kept.state, lifted.state) == ("throttled", "executed", "reversed")


def test_a_partial_decision_must_keep_something_and_lift_only_appealed_actions(
    container: Container,
) -> None:
    """Lifting everything, nothing, or an action outside the appeal is refused."""
    _, _, pause, filed = _appealed_pause(container)
    for lift, words in (
        ([pause.id], "use overturn"),
        ([], "lifts some appealed actions"),
        ([pause.id + 100], "not among the appealed actions"),
    ):
        with (
            unit_of_work(container.sessions) as session,
            pytest.raises(InvalidAppealDecision, match=words),
        ):
            _decide(session, filed.id, "partial", "some of it", lift=lift)
    with unit_of_work(container.sessions) as session, pytest.raises(ReasonRequired):
        _decide(session, filed.id, "uphold", "  ")
    with unit_of_work(container.sessions) as session:
        assert appeals.appeal(session, filed.id).state == "open"


def test_a_partial_decision_the_ladder_forbids_changes_nothing(container: Container) -> None:
    """Lifting an older throttle under a newer pause is refused by the ladder, atomically."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        case_id = make_case(session, account_id, queue="triage")
        throttle = executed(session, account_id, "throttle", case_id=case_id)
        pause = executed(session, account_id, "pause", case_id=case_id, now=MONDAY + HOUR)
        filed = _appeal(session, pause.id)
    provider = Provider()
    with unit_of_work(container.sessions) as session, pytest.raises(ActionNotAllowed):
        _decide(
            session,
            filed.id,
            "partial",
            "the throttle was too strict",
            lift=[throttle.id],
            connector=provider,
        )
    _assert_nothing_changed(container, filed.id, account_id, provider)


def test_uphold_changes_nothing_and_a_decided_appeal_stays_decided(container: Container) -> None:
    """Upholding runs no action; deciding again is refused."""
    account_id, _, pause, filed = _appealed_pause(container)
    provider = Provider()
    with unit_of_work(container.sessions) as session:
        decided = _decide(
            session,
            filed.id,
            "uphold",
            "complaints continued after the claimed fix",
            connector=provider,
        )
    assert (decided.state, decided.reversal_action_ids, provider.actions) == ("upheld", (), [])
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(AppealStateConflict, match="already decided"),
    ):
        _decide(
            session,
            filed.id,
            "overturn",
            "second thoughts",
            reviewer="dan",
            connector=provider,
            now=MONDAY + 3 * DAY,
        )
    with unit_of_work(container.sessions) as session:
        assert standing_of(session, account_id) == "paused"
        assert enforcement.action_record(session, pause.id).state == "executed"


def test_connector_down_the_reversal_fails_and_nothing_is_marked_executed(
    container: Container,
) -> None:
    """The decision stands; the reinstatement is failed (retried later); the account stays."""
    account_id, _, pause, filed = _appealed_pause(container)
    with unit_of_work(container.sessions) as session:
        decided = _decide(
            session, filed.id, "overturn", "wrongly paused", connector=Provider(down=True)
        )
        (reversal_id,) = decided.reversal_action_ids
        reversal = enforcement.action_record(session, reversal_id)
        standing = standing_of(session, account_id)
        original = enforcement.action_record(session, pause.id)
    assert decided.state == "overturned"
    assert (reversal.state, reversal.executed_at, reversal.attempts) == ("failed", None, 1)
    assert "provider unreachable" in (reversal.failure or "")
    assert (standing, original.state) == ("paused", "executed")


def test_a_reversal_needing_a_second_approver_is_approved_by_the_reviewer(
    container: Container,
) -> None:
    """With reinstate on the policy's approval list, the reviewer's decision is the approval."""
    with unit_of_work(container.sessions) as session:
        definition = enforcement.current_policy(session).to_dict()
        definition["approval_required"] = [*definition["approval_required"], "reinstate"]
        definition["note"] = "reinstatements need a second approver"
        definition.pop("version")
        enforcement.save_policy(session, definition, actor="admin", now=MONDAY)
        account_id, _, pause = _paused_case(session)
        filed = _appeal(session, pause.id)
    with unit_of_work(container.sessions) as session:
        decided = _decide(session, filed.id, "overturn", "wrongly paused")
        reversal = enforcement.action_record(session, decided.reversal_action_ids[0])
        standing = standing_of(session, account_id)
    assert reversal.needs_approval
    assert (reversal.proposed_by, reversal.approved_by, reversal.state) == (
        f"appeal:{filed.id}",
        "cleo",
        "executed",
    )
    assert standing == "healthy"


def test_overturning_a_resource_action_runs_its_opposite(container: Container) -> None:
    """A blocked domain is unblocked; the account's standing is not touched."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        resource_id = session.scalar(select(Resource.id).where(Resource.account_id == account_id))
        case_id = make_case(session, account_id, queue="triage")
        block = executed(
            session,
            account_id,
            "block_domain",
            case_id=case_id,
            resource_id=resource_id,
            approver=None,
        )
        filed = _appeal(session, block.id)
    provider = Provider()
    with unit_of_work(container.sessions) as session:
        decided = _decide(
            session,
            filed.id,
            "overturn",
            "the domain belongs to a different customer",
            connector=provider,
        )
        standing = standing_of(session, account_id)
        original = enforcement.action_record(session, block.id)
    assert provider.actions == ["unblock_domain"]
    assert (decided.state, original.state, standing) == ("overturned", "reversed", "healthy")


# --- reading --------------------------------------------------------------------------


def test_open_appeals_list_by_due_time_with_the_overdue_flagged(container: Container) -> None:
    """The list leads with the earliest due; one past due is flagged; decided ones are apart."""
    with unit_of_work(container.sessions) as session:
        _, _, first = _paused_case(session, 1)
        _, _, second = _paused_case(session, 2)
        _, _, third = _paused_case(session, 3)
        late = _appeal(session, second.id, now=MONDAY)
        early = _appeal(session, first.id, now=MONDAY + 3 * DAY)
        done = _appeal(session, third.id, now=MONDAY + DAY)
        _decide(session, done.id, "uphold", "the figures stand", now=MONDAY + DAY)
        listed = appeals.list_appeals(session, now=MONDAY + 4 * DAY)
        decided = appeals.list_appeals(session, now=MONDAY + 4 * DAY, state="upheld")
    assert [(entry.appeal.id, entry.overdue) for entry in listed] == [
        (late.id, True),
        (early.id, False),
    ]
    assert listed[0].account_external_id == "acct-2"
    assert listed[0].action == "pause"
    assert [entry.appeal.id for entry in decided] == [done.id]


def test_reading_an_attachment_is_audited(container: Container) -> None:
    """The bytes come back as sent; who read them is in the audit log."""
    with unit_of_work(container.sessions) as session:
        _, case_id, pause = _paused_case(session)
        filed = _appeal(session, pause.id, uploads=[Upload("proof.pdf", "application/pdf", PDF)])
        (info,) = filed.attachments
        read = appeals.attachment(session, filed.id, info.id, actor="cleo", now=MONDAY + 2 * DAY)
        tags = subject_tags(session, "appeal", filed.id)
        listed = appeals.case_appeals(session, case_id)
    assert (read.data, read.info.sha256) == (PDF, info.sha256)
    assert tags[-1] == "appeal:attachment:download"
    assert [a.id for a in listed] == [filed.id]
    with unit_of_work(container.sessions) as session, pytest.raises(NotFound):
        appeals.attachment(session, filed.id + 1, info.id, actor="cleo", now=MONDAY)


# --- telling the customer -------------------------------------------------------------


def test_the_customer_is_told_of_the_appeal_and_the_decision(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """An appeal_received message on submission, an appeal_decision one with the reason."""
    context = context_for(settings, tmp_path)
    with unit_of_work(container.sessions) as session:
        account_id, case_id, pause = _paused_case(session)
        set_contact(session, account_id)
        filed = _appeal(session, pause.id, notices=context)
        _decide(
            session,
            filed.id,
            "overturn",
            "the broker's list is gone and complaints stopped",
            notices=context,
        )
        sent = [m for m in notices.case_messages(session, case_id) if m.appeal_id == filed.id]
    assert [(m.kind, m.direction, m.to_address) for m in sent] == [
        ("appeal_received", "out", CONTACT),
        ("appeal_decision", "out", CONTACT),
    ]
    received, decision = sent
    assert "3 Nov 2026" in received.body  # submitted on Tuesday; due two days later
    assert "5 Nov 2026" in received.body
    assert "we overturn the action and lift it" in decision.body
    assert "the broker's list is gone and complaints stopped" in decision.body
    assert "pause" in decision.body


# --- what an overturn may lift ----------------------------------------------------------


def test_an_overturn_is_refused_while_a_later_action_outside_the_appeal_is_in_force(
    container: Container,
) -> None:
    """A suspension executed after the appealed pause, on another case, would be lifted by
    the reinstatement: the overturn is refused naming it, and nothing runs; once the
    suspension is dealt with, the overturn reinstates."""
    account_id, _, pause, filed = _appealed_pause(container)
    with unit_of_work(container.sessions) as session:
        other_case = make_case(session, account_id, "phishing", queue="triage")
        suspension = executed(
            session, account_id, "suspend", case_id=other_case, now=MONDAY + DAY + HOUR
        )
        outside = appeals.actions_outside_appeal(session, filed.id)
    assert [a.id for a in outside] == [suspension.id]
    provider = Provider()
    with unit_of_work(container.sessions) as session, pytest.raises(InvalidAppealDecision) as e:
        _decide(session, filed.id, "overturn", "wrongly paused", connector=provider)
    assert f"action {suspension.id} (suspend, case #{other_case}" in str(e.value)
    assert "reinstates the account" in str(e.value)
    with unit_of_work(container.sessions) as session:
        assert appeals.appeal(session, filed.id).state == "open"
        assert standing_of(session, account_id) == "suspended"
        states = {
            a.id: a.state
            for a in (enforcement.action_record(session, i) for i in (pause.id, suspension.id))
        }
    assert states == {pause.id: "executed", suspension.id: "executed"}
    assert provider.actions == []

    # The suspension is lifted on its own (back to paused); now the overturn may reinstate.
    with unit_of_work(container.sessions) as session:
        unsuspend = enforcement.reverse(
            session, suspension.id, reason="suspended in error", actor="ana", now=MONDAY + 2 * DAY
        )
        enforcement.execute(
            session, unsuspend.id, LocalConnector(), actor="ana", now=MONDAY + 2 * DAY
        )
        assert appeals.actions_outside_appeal(session, filed.id) == []
        decided = _decide(session, filed.id, "overturn", "wrongly paused", connector=provider)
        standing = standing_of(session, account_id)
    assert (decided.state, standing, provider.actions) == ("overturned", "healthy", ["reinstate"])


def test_a_partial_decision_is_not_held_up_by_an_action_outside_the_appeal(
    container: Container,
) -> None:
    """A warning on another case does not stop a partial decision, which reverses only the
    lifted action; an overturn would have reinstated over it and is refused."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        earlier_case = make_case(session, account_id, "phishing", queue="triage")
        warning = executed(session, account_id, "warn", case_id=earlier_case, approver=None)
        case_id = make_case(session, account_id, queue="triage")
        throttle = executed(session, account_id, "throttle", case_id=case_id, now=MONDAY + HOUR)
        pause = executed(session, account_id, "pause", case_id=case_id, now=MONDAY + 2 * HOUR)
        filed = _appeal(session, pause.id)
    with unit_of_work(container.sessions) as session, pytest.raises(InvalidAppealDecision) as e:
        _decide(session, filed.id, "overturn", "wrongly paused")
    assert f"action {warning.id} (warn" in str(e.value)
    assert "Decide partial" in str(e.value)
    with unit_of_work(container.sessions) as session:
        decided = _decide(session, filed.id, "partial", "the pause was too much", lift=[pause.id])
        standing = standing_of(session, account_id)
        kept = [enforcement.action_record(session, i).state for i in (warning.id, throttle.id)]
    assert (decided.state, standing, kept) == ("partial", "throttled", ["executed", "executed"])


# --- who may review --------------------------------------------------------------------


def test_the_analyst_who_executed_an_unapproved_action_cannot_review_its_appeal(
    container: Container,
) -> None:
    """The review period proposed the throttle and dan ran it with no second approver: dan
    had a hand in it and is refused; cleo may decide."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        case_id = make_case(session, account_id, queue="triage")
        proposed = propose(
            session, account_id, "throttle", case_id=case_id, actor=enforcement.REVIEW_ACTOR
        )
        assert not proposed.needs_approval
        throttle = enforcement.execute(
            session, proposed.id, LocalConnector(), actor="dan", now=MONDAY
        )
        filed = _appeal(session, throttle.id)
    provider = Provider()
    with unit_of_work(container.sessions) as session, pytest.raises(ConflictedReviewer) as e:
        _decide(
            session, filed.id, "overturn", "wrongly throttled", reviewer="dan", connector=provider
        )
    assert "dan executed action" in str(e.value)
    assert provider.actions == []
    with unit_of_work(container.sessions) as session:
        assert appeals.appeal(session, filed.id).state == "open"
        assert appeals.hands_in(throttle) == {enforcement.REVIEW_ACTOR, "dan"}
        decided = _decide(session, filed.id, "overturn", "wrongly throttled", connector=provider)
    assert (decided.reviewer, provider.actions) == ("cleo", ["reinstate"])


# --- telling the customer what really happened -------------------------------------------


def test_a_message_that_cannot_be_queued_does_not_undo_the_appeal_or_the_decision(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """The notice settings carry a reply domain no reply address can hold, so no message
    can be queued. The appeal is stored all the same; when the provider has reinstated
    the account, the decision, the executed reinstatement and the standing stay; each
    failure is recorded (on the appeal, and on the reinstatement for its notice)."""
    context = context_for(settings, tmp_path, reply_domain="desk_example.test")
    provider = Provider()
    with unit_of_work(container.sessions) as session:
        account_id, case_id, pause = _paused_case(session)
        set_contact(session, account_id)
        filed = _appeal(session, pause.id, notices=context)
    with unit_of_work(container.sessions) as session:
        decided = _decide(
            session, filed.id, "overturn", "wrongly paused", connector=provider, notices=context
        )
    with unit_of_work(container.sessions) as session:
        (reversal_id,) = decided.reversal_action_ids
        reversal = enforcement.action_record(session, reversal_id)
        stored = appeals.appeal(session, filed.id)
        standing = standing_of(session, account_id)
        tags = subject_tags(session, "appeal", filed.id)
        reversal_tags = subject_tags(session, "enforcement_action", reversal_id)
        sent = notices.case_messages(session, case_id)
    assert provider.actions == ["reinstate"]
    assert (stored.state, reversal.state, standing) == ("overturned", "executed", "healthy")
    assert tags == [
        "appeal:appeal:submit",
        "appeal:appeal:notice_failed",
        "appeal:appeal:decide",
        "appeal:appeal:notice_failed",
    ]
    assert reversal_tags[-1] == "enforcement:action:notice_failed"
    assert sent == []


def test_a_reversal_still_waiting_is_told_as_being_lifted_and_notified_once_it_runs(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """Connector down: the decision says the pause is being lifted, not that it was, and
    no action notice goes out; the sweep's later retry executes the reinstatement and then
    the customer gets its notice, as they do when it runs at once."""
    context = context_for(settings, tmp_path)
    account_id, case_id, _, filed = _appealed_pause(container)
    with unit_of_work(container.sessions) as session:
        set_contact(session, account_id)
        decided = _decide(
            session,
            filed.id,
            "overturn",
            "wrongly paused",
            connector=Provider(down=True),
            notices=context,
        )
        (reversal_id,) = decided.reversal_action_ids
        told = notices.case_messages(session, case_id)
    decision = next(m for m in told if m.kind == "appeal_decision")
    assert "being lifted" in decision.body
    assert "pause (being lifted)" in decision.body
    assert "we overturn the action and lift it" not in decision.body
    assert [m.kind for m in told if m.action_id == reversal_id] == []

    later = MONDAY + 3 * DAY
    sweep = tend_enforcement(
        container.sessions,
        Provider(),
        container.settings,
        later,
        notify=notify_customer(context),
    )
    assert sweep.executed == [reversal_id]
    with unit_of_work(container.sessions) as session:
        told = notices.case_messages(session, case_id)
        standing = standing_of(session, account_id)
    assert standing == "healthy"
    assert [m.kind for m in told if m.action_id == reversal_id] == ["reinstate"]


def test_a_reversal_that_runs_at_once_is_told_lifted_with_its_own_notice(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """Connector up: the decision says the pause is lifted, and the reinstatement's notice
    follows it, as on a later retry."""
    context = context_for(settings, tmp_path)
    account_id, case_id, _, filed = _appealed_pause(container)
    with unit_of_work(container.sessions) as session:
        set_contact(session, account_id)
        decided = _decide(session, filed.id, "overturn", "wrongly paused", notices=context)
        (reversal_id,) = decided.reversal_action_ids
        told = [m for m in notices.case_messages(session, case_id) if m.direction == "out"]
    kinds_told = [m.kind for m in told if m.appeal_id == filed.id or m.action_id == reversal_id]
    assert kinds_told == ["appeal_decision", "reinstate"]
    decision = next(m for m in told if m.kind == "appeal_decision")
    assert "we overturn the action and lift it" in decision.body
    assert "being lifted" not in decision.body
