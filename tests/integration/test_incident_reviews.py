"""Incident reviews: opened from a spike, a case or a period; timeline, template, follow-ups."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.core.errors import NotFound
from abusedesk.documents.markdown import to_markdown
from abusedesk.documents.pdf import to_pdf
from abusedesk.insights.reviews import (
    FollowUpClosed,
    ReviewClosed,
    ReviewInvalid,
    WindowRules,
    review_document,
)
from abusedesk.storage import incident_reviews as store
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry
from tests.support.access import create_user
from tests.support.pdf import ink_fraction, pdf_pages, pdf_text
from tests.support.reviews import Incident, at, seed_incident

RULES = WindowRules(lead_hours=24, follow_hours=72, max_days=92)


def _seeded(container: Container) -> Incident:
    with unit_of_work(container.sessions) as session:
        return seed_incident(session)


def _spike_review(container: Container, incident: Incident) -> int:
    with unit_of_work(container.sessions) as session:
        review_id, created = store.open_from_signal(
            session, incident.signal_id, rules=RULES, actor="lee", now=at(16)
        )
    assert created
    return review_id


def _rows(container: Container, review_id: int, limit: int = 500) -> list[tuple[str, str, str]]:
    with read_only(container.sessions) as session:
        subject = store.review(session, review_id)
        entries = store.timeline(session, subject, limit=limit).entries
    return [(f"{e.at:%H:%M}", e.source, e.what) for e in entries]


def test_a_spike_review_assembles_the_timeline_from_every_source_in_order(
    container: Container,
) -> None:
    """Events per hour, signal, case history, note, action steps, messages, the signal's end."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    case = f"case #{incident.case_id}"
    signal = f"signal #{incident.signal_id}"
    action = f"action #{incident.action_id} suspend on account 4411"
    assert _rows(container, review_id) == [
        ("10:00", "events", "3 spam events (email) about account 4411"),
        ("10:06", "case", f"{case} opened: new"),
        ("11:00", "events", "1 phishing event (email) about account 4411"),
        ("11:00", "signal", f"{signal} spike.jump (medium) about account 4411"),
        ("11:30", "case", f"{case} assigned: ana"),
        ("11:45", "note", f"note on {case}"),
        ("12:00", "action", f"{action} proposed"),
        ("12:10", "action", f"{action} approved"),
        ("12:11", "action", f"{action} executed"),
        ("12:12", "message", f"action notice to the customer on {case} (sent)"),
        ("13:00", "message", f"the customer wrote on {case} (customer reply)"),
        ("14:00", "signal", f"{signal} spike.jump ended"),
    ]


def test_a_spike_review_looks_a_day_before_the_spike_hour_and_three_days_after(
    container: Container,
) -> None:
    """The spike's hour is 10:00 on 2 November: the window is 1 Nov 10:00 to 5 Nov 11:00."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    with read_only(container.sessions) as session:
        subject = store.review(session, review_id)
    assert (
        subject.starts_at,
        subject.ends_at,
        subject.accounts,
        subject.origin,
        subject.title,
    ) == (
        datetime(2026, 11, 1, 10, tzinfo=UTC),
        datetime(2026, 11, 5, 11, tzinfo=UTC),
        ("4411",),
        "spike",
        "spike.jump on account 4411 at 2026-11-02 10:00 UTC",
    )


def test_the_timeline_counts_events_per_hour_with_their_reporters(container: Container) -> None:
    """Three spam events from two reporters at 10:00, one phishing event at 11:00."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    with read_only(container.sessions) as session:
        assembled = store.timeline(session, store.review(session, review_id), limit=500)
    events = [(e.what, e.detail) for e in assembled.entries if e.source == "events"]
    assert (events, assembled.hourly_events) == (
        [
            (
                "3 spam events (email) about account 4411",
                "in the hour from 10:00 UTC, from 2 reporters",
            ),
            (
                "1 phishing event (email) about account 4411",
                "in the hour from 11:00 UTC, from 1 reporter",
            ),
        ],
        ((at(10), 3.0), (at(11), 1.0)),
    )


def test_a_review_keeps_message_bodies_and_event_indicators_out(container: Container) -> None:
    """The timeline shows a message's subject, never its body, nor a recipient address."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    with read_only(container.sessions) as session:
        entries = store.timeline(session, store.review(session, review_id), limit=500).entries
    text = " ".join(f"{e.what} {e.detail} {e.actor}" for e in entries)
    assert ("We fixed it" in text, "the body stays out" in text, "victim@" in text) == (
        True,
        False,
        False,
    )


def test_a_period_review_without_accounts_covers_every_account(container: Container) -> None:
    """From 10:00 to 11:50 on 2 November: 5522's event, case, note and signal join in."""
    incident = _seeded(container)
    with unit_of_work(container.sessions) as session:
        review_id = store.open_for_period(
            session,
            title="  Morning   of 2 November ",
            starts_at=at(10),
            ends_at=at(11, 50),
            accounts=[],
            rules=RULES,
            actor="lee",
            now=at(16),
        )
    other = f"case #{incident.other_case_id}"
    rows = _rows(container, review_id)
    assert [row for row in rows if "5522" in row[2] or other in row[2]] == [
        ("10:00", "events", "1 spam event (email) about account 5522"),
        (
            "11:05",
            "signal",
            f"signal #{incident.other_signal_id} rate.under_review (low) about account 5522",
        ),
        ("11:46", "note", f"note on {other}"),
    ]
    # 3 event buckets, 2 case history steps, 2 signals, 2 notes; actions start at 12:00.
    assert len(rows) == 9
    with read_only(container.sessions) as session:
        assert store.review(session, review_id).title == "Morning of 2 November"


def test_a_period_review_names_its_accounts_by_id(container: Container) -> None:
    """Accounts are given by their external ids; an unknown one is refused by name."""
    _seeded(container)
    with unit_of_work(container.sessions) as session:
        review_id = store.open_for_period(
            session,
            title="5522 only",
            starts_at=at(0),
            ends_at=at(23),
            accounts=["5522"],
            rules=RULES,
            actor="lee",
            now=at(16),
        )
    with (
        pytest.raises(ReviewInvalid, match="No account 'nobody'"),
        unit_of_work(container.sessions) as session,
    ):
        store.open_for_period(
            session,
            title="t",
            starts_at=at(0),
            ends_at=at(23),
            accounts=["5522", "nobody"],
            rules=RULES,
            actor="lee",
            now=at(16),
        )
    assert [row[1] for row in _rows(container, review_id)] == ["events", "signal", "note"]


@pytest.mark.parametrize(
    ("starts", "ends", "message"),
    [
        (at(12), at(11), "must end after it starts"),
        (at(12), at(12), "must end after it starts"),
        (at(0), at(0) + timedelta(days=93), "at most 92 days"),
    ],
)
def test_a_period_review_refuses_a_window_backwards_empty_or_too_long(
    container: Container, starts: datetime, ends: datetime, message: str
) -> None:
    """A window that ends before it starts, is empty, or runs past 92 days is refused."""
    with pytest.raises(ReviewInvalid, match=message), unit_of_work(container.sessions) as session:
        store.open_for_period(
            session,
            title="t",
            starts_at=starts,
            ends_at=ends,
            accounts=[],
            rules=RULES,
            actor="lee",
            now=at(16),
        )


def test_a_review_of_every_account_is_kept_to_a_short_window(container: Container) -> None:
    """No account named: a week is allowed, a week and a minute refused in words, both on
    opening and on widening; naming an account lifts the bound (up to 92 days)."""
    _seeded(container)
    week = timedelta(days=7)
    with unit_of_work(container.sessions) as session:
        review_id = store.open_for_period(
            session,
            title="t",
            starts_at=at(0),
            ends_at=at(0) + week,
            accounts=[],
            rules=RULES,
            actor="lee",
            now=at(16),
        )
    refusal = "every account covers at most 168 hours; name the accounts"
    for change in (store.open_for_period, store.change_scope):
        which = [review_id] if change is store.change_scope else []
        with (
            pytest.raises(ReviewInvalid, match=refusal),
            unit_of_work(container.sessions) as session,
        ):
            change(
                session,
                *which,
                title="t",
                starts_at=at(0),
                ends_at=at(0) + week + timedelta(minutes=1),
                accounts=[],
                rules=RULES,
                actor="lee",
                now=at(16),
            )
    with unit_of_work(container.sessions) as session:
        store.change_scope(
            session,
            review_id,
            title="t",
            starts_at=at(0),
            ends_at=at(0) + timedelta(days=92),
            accounts=["4411"],
            rules=RULES,
            actor="lee",
            now=at(16),
        )
    with read_only(container.sessions) as session:
        assert store.review(session, review_id).ends_at == at(0) + timedelta(days=92)


def test_a_case_review_covers_the_case_from_a_day_before_to_three_days_after_close(
    container: Container,
) -> None:
    """Case first seen 10:05, closed 15:00: window 1 Nov 10:05 to 5 Nov 15:00, account 4411."""
    incident = _seeded(container)
    with unit_of_work(container.sessions) as session:
        review_id, created = store.open_from_case(
            session, incident.case_id, rules=RULES, actor="lee", now=at(16)
        )
    with read_only(container.sessions) as session:
        subject = store.review(session, review_id)
    assert (created, subject.starts_at, subject.ends_at, subject.accounts, subject.title) == (
        True,
        datetime(2026, 11, 1, 10, 5, tzinfo=UTC),
        datetime(2026, 11, 5, 15, tzinfo=UTC),
        ("4411",),
        f"Case #{incident.case_id}: spam from account 4411",
    )
    assert len(_rows(container, review_id)) == 12


def test_opening_a_review_of_the_same_spike_or_case_again_finds_the_open_one(
    container: Container,
) -> None:
    """A second open of one signal or case returns the review already open, not a new one."""
    incident = _seeded(container)
    with unit_of_work(container.sessions) as session:
        first = store.open_from_signal(
            session, incident.signal_id, rules=RULES, actor="lee", now=at(16)
        )
        again = store.open_from_signal(
            session, incident.signal_id, rules=RULES, actor="max", now=at(17)
        )
        case_first = store.open_from_case(
            session, incident.case_id, rules=RULES, actor="lee", now=at(16)
        )
        case_again = store.open_from_case(
            session, incident.case_id, rules=RULES, actor="lee", now=at(16)
        )
    assert (first[1], again, case_first[1], case_again) == (
        True,
        (first[0], False),
        True,
        (case_first[0], False),
    )


def test_a_review_opens_from_spike_signals_only(container: Container) -> None:
    """A rate signal is refused in words; a missing signal or case is not found."""
    incident = _seeded(container)
    with (
        pytest.raises(ReviewInvalid, match=r"rate\.under_review signal; reviews open from spikes"),
        unit_of_work(container.sessions) as session,
    ):
        store.open_from_signal(
            session, incident.other_signal_id, rules=RULES, actor="lee", now=at(16)
        )
    with pytest.raises(NotFound), unit_of_work(container.sessions) as session:
        store.open_from_signal(session, 999_999, rules=RULES, actor="lee", now=at(16))
    with pytest.raises(NotFound), unit_of_work(container.sessions) as session:
        store.open_from_case(session, 999_999, rules=RULES, actor="lee", now=at(16))


def test_each_source_is_cut_at_the_limit_and_says_so(container: Container) -> None:
    """With two entries a source, events (2 buckets) fit; case history, actions and messages
    do not (2, 3 and 2 entries: case history fits too), and signals (2) fit."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    with read_only(container.sessions) as session:
        assembled = store.timeline(session, store.review(session, review_id), limit=2)
    sources = [entry.source for entry in assembled.entries]
    assert (assembled.truncated, sources.count("action")) == (("action",), 2)


def test_saving_the_template_moves_a_draft_into_review_and_is_audited(
    container: Container,
) -> None:
    """The four texts are kept (line ends made plain); the state goes draft -> in review."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    with unit_of_work(container.sessions) as session:
        store.save_template(
            session,
            review_id,
            {"impact": "  40 complaints\r\nin 2 hours ", "went_well": "The spike fired."},
            actor="lee",
            now=at(17),
        )
    with read_only(container.sessions) as session:
        subject = store.review(session, review_id)
        tags = list(
            session.scalars(
                select(AuditEntry.tag)
                .where(AuditEntry.subject_type == "incident_review")
                .order_by(AuditEntry.id)
            )
        )
    assert (subject.state, subject.impact, subject.went_well, subject.root_cause, tags) == (
        "in_review",
        "40 complaints\nin 2 hours",
        "The spike fired.",
        "",
        ["review:review:open", "review:review:edit"],
    )


def test_a_template_text_past_its_limit_is_refused(container: Container) -> None:
    """Twenty thousand characters fit a field; one more is refused in words."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    with unit_of_work(container.sessions) as session:
        store.save_template(session, review_id, {"impact": "x" * 20_000}, actor="lee", now=at(17))
    with (
        pytest.raises(ReviewInvalid, match="Impact is at most 20,000 characters"),
        unit_of_work(container.sessions) as session,
    ):
        store.save_template(session, review_id, {"impact": "x" * 20_001}, actor="lee", now=at(17))


def test_a_review_closes_only_with_impact_and_root_cause_and_then_refuses_changes(
    container: Container,
) -> None:
    """Closing asks for both texts; a closed review refuses edits until reopened with a reason."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    with (
        pytest.raises(ReviewInvalid, match="Write the impact and the root cause"),
        unit_of_work(container.sessions) as session,
    ):
        store.close_review(session, review_id, actor="lee", now=at(17))
    with unit_of_work(container.sessions) as session:
        store.save_template(
            session,
            review_id,
            {"impact": "40 complaints", "root_cause": "a purchased list"},
            actor="lee",
            now=at(17),
        )
        store.close_review(session, review_id, actor="lee", now=at(18))
    with (
        pytest.raises(ReviewClosed, match="reopen it"),
        unit_of_work(container.sessions) as session,
    ):
        store.save_template(session, review_id, {"impact": "more"}, actor="lee", now=at(19))
    with pytest.raises(ReviewInvalid, match="Say why"), unit_of_work(container.sessions) as session:
        store.reopen_review(session, review_id, reason="  ", actor="lee", now=at(19))
    with unit_of_work(container.sessions) as session:
        store.reopen_review(session, review_id, reason="new facts", actor="lee", now=at(19))
        store.save_template(session, review_id, {"impact": "more"}, actor="lee", now=at(19))
    with read_only(container.sessions) as session:
        subject = store.review(session, review_id)
    assert (subject.state, subject.impact, subject.closed_at) == ("in_review", "more", None)


def test_follow_ups_are_tracked_to_done_or_dropped_with_an_outcome(container: Container) -> None:
    """Two items: one done with what was done, one dropped with why; neither ends twice."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    create_user(container, "ana", "analyst_basic")
    with unit_of_work(container.sessions) as session:
        first = store.add_follow_up(
            session,
            review_id,
            title="Lower the spike threshold for new accounts",
            owner=" ANA ",
            due_at=at(0) + timedelta(days=7),
            actor="lee",
            now=at(17),
        )
        second = store.add_follow_up(
            session,
            review_id,
            title="Ask for list provenance",
            owner="ana",
            due_at=None,
            actor="lee",
            now=at(17),
        )
    with (
        pytest.raises(ReviewInvalid, match="Say what was done"),
        unit_of_work(container.sessions) as session,
    ):
        store.finish_follow_up(
            session, review_id, first, state="done", outcome=" ", actor="ana", now=at(18)
        )
    with unit_of_work(container.sessions) as session:
        store.finish_follow_up(
            session,
            review_id,
            first,
            state="done",
            outcome="threshold 3 -> 2",
            actor="ana",
            now=at(18),
        )
        store.finish_follow_up(
            session,
            review_id,
            second,
            state="dropped",
            outcome="legal says no",
            actor="lee",
            now=at(18),
        )
    with (
        pytest.raises(FollowUpClosed, match="already done"),
        unit_of_work(container.sessions) as session,
    ):
        store.finish_follow_up(
            session, review_id, first, state="dropped", outcome="x", actor="ana", now=at(19)
        )
    with read_only(container.sessions) as session:
        items = store.follow_ups(session, review_id)
        tags = list(
            session.scalars(
                select(AuditEntry.tag)
                .where(AuditEntry.subject_type == "review_followup")
                .order_by(AuditEntry.id)
            )
        )
    assert [(i.title[:10], i.owner, i.state, i.outcome, i.closed_by) for i in items] == [
        ("Lower the ", "ana", "done", "threshold 3 -> 2", "ana"),
        ("Ask for li", "ana", "dropped", "legal says no", "lee"),
    ]
    assert tags == [
        "review:followup:add",
        "review:followup:add",
        "review:followup:done",
        "review:followup:drop",
    ]


def test_a_follow_up_needs_a_known_owner_and_a_state_of_done_or_dropped(
    container: Container,
) -> None:
    """An unknown owner, an empty title and a state of 'open' are each refused in words."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    create_user(container, "ana", "analyst_basic")
    with (
        pytest.raises(ReviewInvalid, match="No user 'ghost'"),
        unit_of_work(container.sessions) as session,
    ):
        store.add_follow_up(
            session, review_id, title="x", owner="ghost", due_at=None, actor="lee", now=at(17)
        )
    with (
        pytest.raises(ReviewInvalid, match="Say what the follow-up item is"),
        unit_of_work(container.sessions) as session,
    ):
        store.add_follow_up(
            session, review_id, title="\n", owner="ana", due_at=None, actor="lee", now=at(17)
        )
    with unit_of_work(container.sessions) as session:
        item = store.add_follow_up(
            session, review_id, title="x", owner="ana", due_at=None, actor="lee", now=at(17)
        )
    with (
        pytest.raises(ReviewInvalid, match="ends done or dropped"),
        unit_of_work(container.sessions) as session,
    ):
        store.finish_follow_up(
            session, review_id, item, state="open", outcome="x", actor="lee", now=at(17)
        )
    with pytest.raises(NotFound), unit_of_work(container.sessions) as session:
        store.finish_follow_up(
            session, review_id + 1, item, state="done", outcome="x", actor="lee", now=at(17)
        )


def test_the_list_counts_open_and_overdue_follow_ups_per_review(container: Container) -> None:
    """Three items: one due yesterday (overdue), one due tomorrow, one done: 2 open, 1 overdue."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    create_user(container, "ana", "analyst_basic")
    now = at(12)
    with unit_of_work(container.sessions) as session:
        for title, due in (("late", now - timedelta(days=1)), ("soon", now + timedelta(days=1))):
            store.add_follow_up(
                session, review_id, title=title, owner="ana", due_at=due, actor="lee", now=at(1)
            )
        done = store.add_follow_up(
            session, review_id, title="done", owner="ana", due_at=at(0), actor="lee", now=at(1)
        )
        store.finish_follow_up(
            session, review_id, done, state="done", outcome="ok", actor="ana", now=at(2)
        )
    with read_only(container.sessions) as session:
        listed = store.list_reviews(session, now=now)
        items = store.open_follow_ups(session)
    assert [(s.review.id, s.open_follow_ups, s.overdue_follow_ups) for s in listed] == [
        (review_id, 2, 1)
    ]
    assert [(i.item.title, i.item.overdue(now)) for i in items] == [("late", True), ("soon", False)]


def test_changing_the_scope_moves_the_window_and_accounts(container: Container) -> None:
    """Narrowed to 12:00-12:30 about 4411: only the three action steps and the notice remain."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    with unit_of_work(container.sessions) as session:
        store.change_scope(
            session,
            review_id,
            title="Suspension of 4411",
            starts_at=at(12),
            ends_at=at(12, 30),
            accounts=["4411"],
            rules=RULES,
            actor="lee",
            now=at(17),
        )
    assert [row[1] for row in _rows(container, review_id)] == [
        "action",
        "action",
        "action",
        "message",
    ]


def _document_of(container: Container, review_id: int) -> str:
    with read_only(container.sessions) as session:
        subject = store.review(session, review_id)
        assembled = store.timeline(session, subject, limit=500)
        document = review_document(
            subject,
            assembled.entries,
            store.follow_ups(session, review_id),
            hourly_events=assembled.hourly_events,
            generated_at=at(18),
        )
    return to_markdown(document)


def test_the_markdown_export_is_exact(container: Container) -> None:
    """A period review of 12:00 to 13:30 about 4411 with its template and one follow-up.

    In the window: the suspension's three steps and two messages; the link in the title
    stays text.
    """
    incident = _seeded(container)
    create_user(container, "ana", "analyst_basic")
    with unit_of_work(container.sessions) as session:
        review_id = store.open_for_period(
            session,
            title="Suspension of [4411](http://evil.example)",
            starts_at=at(12),
            ends_at=at(13, 30),
            accounts=["4411"],
            rules=RULES,
            actor="lee",
            now=at(17),
        )
        store.save_template(
            session,
            review_id,
            {
                "impact": "40 complaints in 2 hours.",
                "root_cause": "A purchased list; no double opt-in.",
                "went_well": "The spike fired within the hour.",
                "went_badly": "Approval took 10 minutes.",
            },
            actor="lee",
            now=at(17),
        )
        store.add_follow_up(
            session,
            review_id,
            title="Ask new senders for list provenance",
            owner="ana",
            due_at=datetime(2026, 11, 9, 17, tzinfo=UTC),
            actor="lee",
            now=at(17),
        )
    expected = (
        EXPECTED_MARKDOWN.replace("{id}", str(review_id))
        .replace("{action}", str(incident.action_id))
        .replace("{case}", str(incident.case_id))
    )
    assert _document_of(container, review_id) == expected


EXPECTED_MARKDOWN = """\
# Incident review #{id}: Suspension of \\[4411\\](http://evil.example)

2026-11-02 12:00 to 2026-11-02 13:30 UTC, 4411

_Generated 2026-11-02 18:00 UTC_

| Figure | Value | Note |
| --- | --- | --- |
| State | in review |  |
| Opened from | a period | by lee |
| Window | 2026-11-02 12:00 to 2026-11-02 13:30 | UTC |
| Accounts | 4411 |  |
| Timeline entries | 5 | action: 3, customer message: 2 |
| Follow-up items | 1 | 1 open |

## Impact

40 complaints in 2 hours.

## Root cause

A purchased list; no double opt-in.

## What went well

The spike fired within the hour.

## What went badly

Approval took 10 minutes.

## Follow-up items

**Items, owners and due times (UTC)**

| Item | Owner | Due | State | Outcome |
| --- | --- | --- | --- | --- |
| Ask new senders for list provenance | ana | 2026-11-09 17:00 | open | - |

## Timeline

**Timeline (UTC)**

| Time | Source | What | Who | Detail |
| --- | --- | --- | --- | --- |
| 2026-11-02 12:00 | action | action #{action} suspend on account 4411 proposed | ana | complaints from a purchased list |
| 2026-11-02 12:10 | action | action #{action} suspend on account 4411 approved | lee | - |
| 2026-11-02 12:11 | action | action #{action} suspend on account 4411 executed | system:connector | - |
| 2026-11-02 12:12 | customer message | action notice to the customer on case #{case} (sent) | system:notices | Your account is suspended |
| 2026-11-02 13:00 | customer message | the customer wrote on case #{case} (customer reply) | customer | We fixed it |

- Events are counted per hour, account, category and service.
- Notes, case history and customer messages are those of the accounts' cases; message bodies are left out.
"""


def test_the_pdf_export_has_the_timeline_on_inked_pages(container: Container) -> None:
    """The PDF renders; its pages carry ink, the template's headings and every timeline step."""
    incident = _seeded(container)
    review_id = _spike_review(container, incident)
    with read_only(container.sessions) as session:
        subject = store.review(session, review_id)
        assembled = store.timeline(session, subject, limit=500)
        document = review_document(
            subject,
            assembled.entries,
            [],
            hourly_events=assembled.hourly_events,
            generated_at=at(18),
        )
    data = to_pdf(document)
    pages = pdf_pages(data)
    text = " ".join(" ".join(page.split()) for page in pdf_text(data))
    assert all(ink_fraction(page) > 0.005 for page in pages)
    for words in (
        "Root cause",
        "What went badly",
        "Events per hour",
        "3 spam events (email) about account 4411",
        f"action #{incident.action_id} suspend on account 4411 executed",
        "We fixed it",
        "handled",
    ):
        assert words in text, words
