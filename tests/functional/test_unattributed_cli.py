"""``abusedesk unattributed`` as a real command: list, show, attribute, dismiss, restore."""

from pathlib import Path

from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, Case, Event
from tests.factories.inventory import make_account, make_sent_mail
from tests.functional.cli import run_cli
from tests.support.unattributed import (
    STRANGER,
    events_of,
    ingest,
    stranger_report,
    suggested_event,
    waiting,
)

DOMAIN = "news.example.com"


def _account(container: Container) -> tuple[int, int]:
    with unit_of_work(container.sessions) as session:
        return make_account(session, "4411", domain=DOMAIN)


def _state(container: Container, event_id: int) -> tuple[str, int | None, str | None]:
    with read_only(container.sessions) as session:
        event = session.get(Event, event_id)
        assert event is not None
        return event.attribution_state, event.account_id, event.attribution_reason


def test_list_shows_waiting_events_and_the_next_page(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """A full page lists its events and says how to ask for the next one."""
    first, second = sorted(waiting(container, 2))

    page = run_cli(
        "unattributed", "list", "--limit", "1", database_url=database_url, workdir=tmp_path
    )
    rest = run_cli(
        "unattributed",
        "list",
        "--after-id",
        str(first),
        database_url=database_url,
        workdir=tmp_path,
    )

    assert (page.returncode, rest.returncode) == (0, 0)
    assert f"more with --after-id {first}" in page.stdout
    assert f"│ {second} " not in page.stdout
    assert f"│ {second} " in rest.stdout


def test_list_filters_by_category(container: Container, database_url: str, tmp_path: Path) -> None:
    """``--category`` lists only events of that category."""
    ingest(container, [stranger_report(1), stranger_report(2, feedback_type="fraud")])

    listed = run_cli(
        "unattributed", "list", "--category", "fraud", database_url=database_url, workdir=tmp_path
    )

    assert (listed.returncode, "fraud" in listed.stdout, "spam" in listed.stdout) == (
        0,
        True,
        False,
    )


def test_summary_counts_the_inbox(container: Container, database_url: str, tmp_path: Path) -> None:
    """``summary`` prints counts per category and the total."""
    waiting(container, 3)

    shown = run_cli("unattributed", "summary", database_url=database_url, workdir=tmp_path)

    assert (shown.returncode, "3 event(s) wait" in shown.stdout) == (0, True)


def test_show_prints_the_suggestion_with_the_accounts_name(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """``show`` names the suggested account and resource, the conflict and the indicators."""
    account_id, identity = _account(container)
    event_id = suggested_event(container, account_id, identity)

    shown = run_cli(
        "unattributed", "show", str(event_id), database_url=database_url, workdir=tmp_path
    )

    assert shown.returncode == 0
    assert (
        "suggested: 4411 (Customer 4411), identity_domain news.example.com by url_domain, low"
        in shown.stdout
    )
    assert "conflict: The source IP is not ours" in shown.stdout
    assert "url: http://login.news.example.com/" in shown.stdout


def test_show_of_an_unknown_event_exits_1(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """An unknown event id is an error on stderr with exit code 1."""
    shown = run_cli("unattributed", "show", "424242", database_url=database_url, workdir=tmp_path)

    assert (shown.returncode, "no event 424242" in shown.stderr) == (1, True)


def test_attribute_by_report_settles_and_folds_with_the_given_actor(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """``attribute --report`` takes the report's waiting events to the account's case, audited."""
    account_id, _ = _account(container)
    (report_id,) = ingest(container, [stranger_report(1)])
    (event_id,) = events_of(container, report_id)

    done = run_cli(
        "unattributed",
        "attribute",
        "--report",
        str(report_id),
        "--account",
        "4411",
        "--reason",
        "customer confirmed the campaign",
        "--actor",
        "bob",
        database_url=database_url,
        workdir=tmp_path,
    )

    with read_only(container.sessions) as session:
        cases = session.execute(select(Case.account_id, Case.event_count)).all()
        actors = session.scalars(
            select(AuditEntry.actor).where(
                AuditEntry.subject_type == "event", AuditEntry.subject_id == str(event_id)
            )
        ).all()
    assert (done.returncode, _state(container, event_id), cases, actors) == (
        0,
        ("attributed", account_id, "Attributed by bob: customer confirmed the campaign"),
        [(account_id, 1)],
        ["bob"],
    )


def test_attribute_refuses_an_unknown_account_with_exit_2(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """An account nobody holds is refused on stderr; the event keeps waiting."""
    (event_id,) = waiting(container, 1)

    refused = run_cli(
        "unattributed",
        "attribute",
        str(event_id),
        "--account",
        "9999",
        "--reason",
        "guess",
        database_url=database_url,
        workdir=tmp_path,
    )

    assert (refused.returncode, "no account has the external id '9999'" in refused.stderr) == (
        2,
        True,
    )
    assert _state(container, event_id)[0] == "unattributed"


def test_attribute_refuses_an_attributed_event_unless_forced(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """An attributed event is refused with exit 1 naming --force; with --force it moves."""
    account_id, identity = _account(container)
    with unit_of_work(container.sessions) as session:
        mail = make_sent_mail(session, account_id, identity, 1, domain=STRANGER)
    (report_id,) = ingest(container, [stranger_report(1, message_id=mail.message_id)])
    (event_id,) = events_of(container, report_id)
    arguments = ("unattributed", "attribute", str(event_id), "--account", "4411")

    refused = run_cli(*arguments, "--reason", "again", database_url=database_url, workdir=tmp_path)
    forced = run_cli(
        *arguments,
        "--reason",
        "checked by hand",
        "--force",
        "--actor",
        "carol",
        database_url=database_url,
        workdir=tmp_path,
    )

    assert (refused.returncode, "force" in refused.stderr, forced.returncode) == (1, True, 0)
    assert _state(container, event_id) == (
        "attributed",
        account_id,
        "Attributed by carol: checked by hand",
    )


def test_attribute_needs_event_ids_or_a_report(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """Without event ids or --report the command is a usage error (exit 2)."""
    refused = run_cli(
        "unattributed",
        "attribute",
        "--account",
        "4411",
        "--reason",
        "x",
        database_url=database_url,
        workdir=tmp_path,
    )

    assert (refused.returncode, "name event ids or pass --report" in refused.stderr) == (2, True)


def test_dismiss_and_restore(container: Container, database_url: str, tmp_path: Path) -> None:
    """``dismiss`` sets an event aside; ``restore`` brings it back to the inbox."""
    (event_id,) = waiting(container, 1)

    dismissed = run_cli(
        "unattributed",
        "dismiss",
        str(event_id),
        "--reason",
        "someone else's network",
        database_url=database_url,
        workdir=tmp_path,
    )
    state_after_dismissal = _state(container, event_id)[0]
    restored = run_cli(
        "unattributed",
        "restore",
        str(event_id),
        "--reason",
        "it was ours after all",
        database_url=database_url,
        workdir=tmp_path,
    )

    assert (
        dismissed.returncode,
        state_after_dismissal,
        restored.returncode,
        _state(container, event_id)[0],
    ) == (0, "dismissed", 0, "unattributed")


def test_reattribute_reports_how_many_settled(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """``reattribute`` resolves waiting events again and says how many it attributed."""
    account_id, identity = _account(container)
    late_id = f"msg-{account_id}-3@mail.{STRANGER}"
    (report_id,) = ingest(container, [stranger_report(1, message_id=late_id)])
    waiting(container, 1, start=2)
    with unit_of_work(container.sessions) as session:
        make_sent_mail(session, account_id, identity, 3, domain=STRANGER)

    done = run_cli("unattributed", "reattribute", database_url=database_url, workdir=tmp_path)

    (event_id,) = events_of(container, report_id)
    assert (done.returncode, _state(container, event_id)[:2]) == (0, ("attributed", account_id))
    assert "looked at 2 waiting event(s): 1 attributed, 1 still waiting" in done.stdout
