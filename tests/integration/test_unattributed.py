"""The unattributed inbox on a real database: list, decide by hand, audit, fold, resolve again."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage import unattributed as inbox
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, Case, Event, Report
from tests.factories.arf import arf_report
from tests.factories.inventory import make_account, make_resource, make_sent_mail
from tests.support.unattributed import (
    STRANGER,
    events_of,
    ingest,
    stranger_report,
    suggested_event,
    waiting,
)

DOMAIN = "news.example.com"
ACTOR = "alice"


def _account(container: Container, external_id: str = "4411", domain: str = DOMAIN) -> int:
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, external_id, domain=domain)
    return account_id


def _event(container: Container, event_id: int) -> Event:
    with read_only(container.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        session.expunge(event)
        return event


def _audit(container: Container, event_id: int) -> list[tuple[str, str, Any, Any, str | None]]:
    with read_only(container.sessions) as session:
        rows = session.execute(
            select(
                AuditEntry.tag,
                AuditEntry.actor,
                AuditEntry.before,
                AuditEntry.after,
                AuditEntry.reason,
            )
            .where(AuditEntry.subject_type == "event", AuditEntry.subject_id == str(event_id))
            .order_by(AuditEntry.id)
        ).all()
    return [(row.tag, row.actor, row.before, row.after, row.reason) for row in rows]


def _attribute(container: Container, event_ids: list[int], **options: object) -> inbox.Decision:
    arguments: dict[str, object] = {
        "account": "4411",
        "reason": "spoofed brand confirmed by the customer",
        "actor": ACTOR,
        "now": utcnow(),
        **options,
    }
    with unit_of_work(container.sessions) as session:
        decision = inbox.attribute(session, event_ids, **arguments)
    container.processor.aggregate_accounts(decision.accounts)
    return decision


def _cases(container: Container) -> list[tuple[int, str, int]]:
    with read_only(container.sessions) as session:
        rows = session.execute(select(Case.account_id, Case.category_group, Case.event_count))
        return sorted((account, group, count) for account, group, count in rows)


def _listed(container: Container, filters: inbox.InboxFilter = inbox.InboxFilter()) -> list[int]:
    with read_only(container.sessions) as session:
        return [row.event_id for row in inbox.list_waiting(session, filters, limit=500)]


def test_an_event_nothing_resolves_waits_in_the_inbox_with_its_reason(
    container: Container,
) -> None:
    """A complaint about a domain no account holds has no account and waits, saying why."""
    _account(container)
    (event_id,) = waiting(container, 1)

    event = _event(container, event_id)
    with read_only(container.sessions) as session:
        (row,) = inbox.list_waiting(session)
        size = inbox.inbox_size(session)

    assert (event.attribution_state, event.account_id, row.event_id, size) == (
        "unattributed",
        None,
        event_id,
        1,
    )
    assert "Nothing names one of our accounts" in (row.reason or "")


def test_settled_events_are_not_in_the_inbox(container: Container) -> None:
    """An event the resolver attributed to an account is not listed."""
    account_id, message_id = make_account_with_mail(container)
    (report_id,) = ingest(container, [arf_report(message_id=message_id, from_domain=DOMAIN)])

    assert (
        _event(container, events_of(container, report_id)[0]).account_id,
        _listed(container),
    ) == (
        account_id,
        [],
    )


def make_account_with_mail(container: Container) -> tuple[int, str]:
    """Return an account and the Message-ID of one message it sent."""
    with unit_of_work(container.sessions) as session:
        account_id, identity = make_account(session, "4411", domain=DOMAIN)
        mail = make_sent_mail(session, account_id, identity, 1, domain=DOMAIN)
    return account_id, mail.message_id


def test_the_inbox_pages_on_by_id(container: Container) -> None:
    """Pages of two, each after the last id of the one before, give every event once, in order."""
    ids = waiting(container, 5)
    pages: list[list[int]] = []
    after = 0
    with read_only(container.sessions) as session:
        while page := inbox.list_waiting(session, after_id=after, limit=2):
            pages.append([row.event_id for row in page])
            after = page[-1].event_id

    assert pages == [sorted(ids)[0:2], sorted(ids)[2:4], sorted(ids)[4:5]]


def test_the_inbox_filters_by_category_reporter_and_arrival(container: Container) -> None:
    """Filters narrow the list to one category, one reporter, or a window of arrival."""
    spam, fraud, other_reporter = (
        events_of(container, report_id)[0]
        for report_id in ingest(
            container,
            [
                stranger_report(1),
                stranger_report(2, feedback_type="fraud"),
                stranger_report(3, reporter="fbl.other.example"),
            ],
        )
    )
    later = utcnow() + timedelta(hours=1)

    assert (
        _listed(container, inbox.InboxFilter(category="fraud")),
        _listed(container, inbox.InboxFilter(reporter="fbl.other.example")),
        _listed(container, inbox.InboxFilter(category="spam", report_format="arf")),
        _listed(container, inbox.InboxFilter(received_since=later)),
        _listed(container, inbox.InboxFilter(received_until=later)),
    ) == (
        [fraud],
        [other_reporter],
        sorted([spam, other_reporter]),
        [],
        sorted([spam, fraud, other_reporter]),
    )


def test_the_inbox_counts_by_category_and_method(container: Container) -> None:
    """The summary counts waiting events per category and method of the best guess."""
    ingest(
        container,
        [stranger_report(1), stranger_report(2), stranger_report(3, feedback_type="fraud")],
    )

    with read_only(container.sessions) as session:
        counts = inbox.inbox_counts(session)

    assert counts == [inbox.InboxCount("spam", None, 2), inbox.InboxCount("fraud", None, 1)]


def test_show_resolves_the_suggestion_and_candidates_to_account_names(
    container: Container,
) -> None:
    """A low-confidence guess is shown with the account's external id, name and resource."""
    with unit_of_work(container.sessions) as session:
        account_id, identity = make_account(session, "4411", domain=DOMAIN)
    event_id = suggested_event(container, account_id, identity)

    with read_only(container.sessions) as session:
        detail = inbox.event_detail(session, event_id)

    expected_account = inbox.AccountRef(account_id, "4411", "Customer 4411")
    expected_resource = inbox.ResourceRef(identity, "identity_domain", DOMAIN)
    assert (
        detail.state,
        detail.account,
        detail.suggested,
        detail.candidates,
        detail.conflicts,
        detail.report.status,
    ) == (
        "unattributed",
        None,
        inbox.CandidateView(expected_account, expected_resource, "url_domain", "low"),
        (inbox.CandidateView(expected_account, expected_resource, "url_domain", "low"),),
        ("The source IP is not ours, so the headers may be spoofed",),
        "done",
    )


def test_show_of_an_unknown_event_is_not_found(container: Container) -> None:
    """Asking for an event that does not exist raises EventNotFound."""
    with read_only(container.sessions) as session, pytest.raises(inbox.EventNotFound):
        inbox.event_detail(session, 424242)


def test_manual_attribution_settles_the_event_and_folds_it_into_a_case(
    container: Container,
) -> None:
    """An attributed event leaves the inbox, names the analyst, and lands on the account's case."""
    account_id = _account(container)
    (event_id,) = waiting(container, 1)

    _attribute(container, [event_id])

    event = _event(container, event_id)
    ((case_account, group, count),) = _cases(container)
    assert (
        event.account_id,
        event.attribution_state,
        event.attribution_method,
        event.attribution_confidence,
        event.attribution_reason,
        event.case_id is not None,
        (case_account, group, count),
        _listed(container),
    ) == (
        account_id,
        "attributed",
        "manual",
        "high",
        "Attributed by alice: spoofed brand confirmed by the customer",
        True,
        (account_id, "spam", 1),
        [],
    )


def test_manual_attribution_is_audited_with_before_and_after(container: Container) -> None:
    """The audit row names the analyst, the reason, and the attribution before and after."""
    account_id = _account(container)
    (event_id,) = waiting(container, 1)

    _attribute(container, [event_id])

    ((tag, actor, before, after, reason),) = _audit(container, event_id)
    assert (tag, actor, reason) == (
        "attribution:event:attribute",
        ACTOR,
        "spoofed brand confirmed by the customer",
    )
    assert (before["attribution_state"], before["account_id"]) == ("unattributed", None)
    assert (after["attribution_state"], after["account_id"], after["account"]) == (
        "attributed",
        account_id,
        "4411",
    )


def test_manual_attribution_names_a_resource_of_the_account(container: Container) -> None:
    """A resource given by kind and value is recorded on the event."""
    account_id = _account(container)
    with unit_of_work(container.sessions) as session:
        config_set = make_resource(
            session, account_id, "configuration_set", "marketing", since=utcnow()
        )
    (event_id,) = waiting(container, 1)

    _attribute(container, [event_id], resource=("configuration_set", "marketing"))

    assert _event(container, event_id).resource_id == config_set


def test_attributing_a_reports_waiting_events_takes_them_all(container: Container) -> None:
    """The waiting events of one report are found by the report's id."""
    _account(container)
    (report_id,) = ingest(container, [stranger_report(1)])
    with read_only(container.sessions) as session:
        ids = inbox.waiting_events_of_report(session, report_id)

    decision = _attribute(container, ids)

    assert (decision.event_ids, _listed(container)) == (tuple(events_of(container, report_id)), [])


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"account": "no-such-account"}, inbox.UnknownAccount),
        ({"resource": ("identity_domain", "other.example")}, inbox.UnknownResource),
        ({"resource": ("spaceship", "x")}, inbox.UnknownResource),
        ({"reason": "   "}, inbox.DecisionInvalid),
        ({"actor": ""}, inbox.DecisionInvalid),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    container: Container, options: dict[str, object], error: type[Exception]
) -> None:
    """An unknown account or resource, or an empty reason or actor, is refused; the event waits."""
    _account(container)
    (event_id,) = waiting(container, 1)

    with pytest.raises(error):
        _attribute(container, [event_id], **options)

    assert (_listed(container), _audit(container, event_id)) == ([event_id], [])


def test_an_unknown_event_is_refused_with_the_others(container: Container) -> None:
    """Naming an event that does not exist refuses the whole decision."""
    _account(container)
    (event_id,) = waiting(container, 1)

    with pytest.raises(inbox.EventNotFound, match="424242"):
        _attribute(container, [event_id, 424242])

    assert _listed(container) == [event_id]


def test_an_attributed_event_is_refused_without_force(container: Container) -> None:
    """Attributing an event that is attributed already is refused, naming --force."""
    _, message_id = make_account_with_mail(container)
    (report_id,) = ingest(container, [arf_report(message_id=message_id, from_domain=DOMAIN)])
    (event_id,) = events_of(container, report_id)

    with pytest.raises(inbox.NotWaiting, match=r"is attributed.*force"):
        _attribute(container, [event_id])

    assert _event(container, event_id).attribution_method == "message_id"


def test_forced_reattribution_moves_the_event_and_recounts_the_old_case(
    container: Container,
) -> None:
    """With force, the event moves to the other account's case; the old case is recounted."""
    first, message_id = make_account_with_mail(container)
    second = _account(container, "5522", domain="other.example")
    (report_id,) = ingest(container, [arf_report(message_id=message_id, from_domain=DOMAIN)])
    (event_id,) = events_of(container, report_id)
    assert _cases(container) == [(first, "spam", 1)]

    _attribute(container, [event_id], account="5522", force=True)

    ((tag, _, before, after, _),) = _audit(container, event_id)
    assert (
        _cases(container),
        tag,
        (before["account"], before["attribution_method"]),
        (after["account"], after["attribution_method"]),
    ) == (
        sorted([(first, "spam", 0), (second, "spam", 1)]),
        "attribution:event:reattribute",
        ("4411", "message_id"),
        ("5522", "manual"),
    )


def test_dismissal_takes_the_event_out_of_the_inbox_and_is_audited(
    container: Container,
) -> None:
    """A dismissed event is no longer listed, keeps no account, and the decision is audited."""
    (event_id,) = waiting(container, 1)

    with unit_of_work(container.sessions) as session:
        inbox.dismiss(session, [event_id], reason="spoofed brand", actor=ACTOR, now=utcnow())

    event = _event(container, event_id)
    ((tag, actor, before, after, reason),) = _audit(container, event_id)
    assert (
        event.attribution_state,
        event.account_id,
        event.attribution_details["dismissal"]["reason"],
        _listed(container),
        (tag, actor, before, after, reason),
    ) == (
        "dismissed",
        None,
        "spoofed brand",
        [],
        (
            "attribution:event:dismiss",
            ACTOR,
            {"attribution_state": "unattributed"},
            {"attribution_state": "dismissed"},
            "spoofed brand",
        ),
    )


def test_a_dismissed_event_must_be_restored_before_it_is_attributed(
    container: Container,
) -> None:
    """Attributing a dismissed event is refused; restored, it waits and can be attributed."""
    account_id = _account(container)
    (event_id,) = waiting(container, 1)
    with unit_of_work(container.sessions) as session:
        inbox.dismiss(session, [event_id], reason="not ours", actor=ACTOR, now=utcnow())
    with pytest.raises(inbox.NotWaiting, match="restore"):
        _attribute(container, [event_id], force=True)

    with unit_of_work(container.sessions) as session:
        inbox.restore(session, [event_id], reason="it was ours", actor=ACTOR, now=utcnow())
    restored = _listed(container)
    _attribute(container, [event_id])

    assert (
        restored,
        "dismissal" in _event(container, event_id).attribution_details,
        _event(container, event_id).account_id,
        [row[0] for row in _audit(container, event_id)],
    ) == (
        [event_id],
        False,
        account_id,
        ["attribution:event:dismiss", "attribution:event:restore", "attribution:event:attribute"],
    )


def test_dismissing_an_event_twice_is_refused(container: Container) -> None:
    """Only waiting events can be dismissed; a second dismissal names the state."""
    (event_id,) = waiting(container, 1)
    with unit_of_work(container.sessions) as session:
        inbox.dismiss(session, [event_id], reason="not ours", actor=ACTOR, now=utcnow())

    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(inbox.NotWaiting, match="dismissed"),
    ):
        inbox.dismiss(session, [event_id], reason="again", actor=ACTOR, now=utcnow())


def test_restoring_a_waiting_event_is_refused(container: Container) -> None:
    """Only dismissed events can be restored."""
    (event_id,) = waiting(container, 1)

    with unit_of_work(container.sessions) as session, pytest.raises(inbox.NotWaiting):
        inbox.restore(session, [event_id], reason="why not", actor=ACTOR, now=utcnow())


def test_reattribute_settles_events_once_the_send_log_caught_up(container: Container) -> None:
    """An event about mail the send log did not hold yet is attributed when it does, and folded."""
    with unit_of_work(container.sessions) as session:
        account_id, identity = make_account(session, "4411", domain=DOMAIN)
    # The Message-ID the provider's send log will hold once its feed catches up.
    late_id = f"msg-{account_id}-7@mail.{STRANGER}"
    (report_id,) = ingest(container, [stranger_report(1, message_id=late_id)])
    (still_waiting,) = waiting(container, 1, start=2)
    (event_id,) = events_of(container, report_id)
    with unit_of_work(container.sessions) as session:
        make_sent_mail(session, account_id, identity, 7, domain=STRANGER)

    with unit_of_work(container.sessions) as session:
        batch = inbox.reattribute_batch(session, after_id=0, limit=100, actor=ACTOR, now=utcnow())
    container.processor.aggregate_accounts(batch.accounts)

    event = _event(container, event_id)
    assert (
        (batch.examined, batch.settled, batch.accounts),
        (event.account_id, event.attribution_method, event.attribution_state),
        _listed(container),
        _cases(container),
        [row[0] for row in _audit(container, event_id)],
    ) == (
        (2, 1, (account_id,)),
        (account_id, "message_id", "attributed"),
        [still_waiting],
        [(account_id, "spam", 1)],
        ["attribution:event:resolve"],
    )


def test_reattribute_pages_on_by_id(container: Container) -> None:
    """A batch reads at most its limit, after the id given, and says where it stopped."""
    ids = sorted(waiting(container, 3))

    with unit_of_work(container.sessions) as session:
        first = inbox.reattribute_batch(session, after_id=0, limit=2, actor=ACTOR, now=utcnow())
        rest = inbox.reattribute_batch(
            session, after_id=first.last_id, limit=2, actor=ACTOR, now=utcnow()
        )

    assert ((first.examined, first.last_id), (rest.examined, rest.last_id)) == (
        (2, ids[1]),
        (1, ids[2]),
    )


def _reprocess(container: Container, report_id: int) -> None:
    with unit_of_work(container.sessions) as session:
        session.execute(update(Report).where(Report.id == report_id).values(status="pending"))
    while container.embedded.run_once():
        pass


def test_a_manual_attribution_survives_reprocessing_the_report(container: Container) -> None:
    """Processing the report again keeps the analyst's attribution and the case."""
    account_id = _account(container)
    (report_id,) = ingest(container, [stranger_report(1)])
    (event_id,) = events_of(container, report_id)
    _attribute(container, [event_id])
    before = _cases(container)

    _reprocess(container, report_id)

    event = _event(container, event_id)
    assert (
        event.account_id,
        event.attribution_method,
        event.attribution_state,
        _cases(container),
    ) == (account_id, "manual", "attributed", before)


def test_a_dismissal_survives_reprocessing_the_report(container: Container) -> None:
    """Processing the report again leaves a dismissed event dismissed."""
    (report_id,) = ingest(container, [stranger_report(1)])
    (event_id,) = events_of(container, report_id)
    with unit_of_work(container.sessions) as session:
        inbox.dismiss(session, [event_id], reason="not ours", actor=ACTOR, now=utcnow())

    _reprocess(container, report_id)

    assert (_event(container, event_id).attribution_state, _listed(container)) == ("dismissed", [])
