"""The voice of the customer as stored: appeals and replies counted by theme and week."""

from datetime import timedelta

from sqlalchemy import insert, select

from abusedesk.bootstrap import Container
from abusedesk.insights.voice import DEFAULT_THEMES, OTHER, Theme, ThemeCount, voice_section
from abusedesk.storage import voice
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Case, CustomerMessage
from tests.support.voice import WEEK1, WEEK2, WEEK3, seed_two_weeks


def test_counts_per_week_theme_and_source_equal_the_hand_count(container: Container) -> None:
    """Each text counts once per theme it matches, in its week; order: week, theme, source."""
    seed_two_weeks(container)
    with read_only(container.sessions) as session:
        counts = voice.theme_counts(session, start=WEEK1, end=WEEK3, themes=DEFAULT_THEMES)
    assert counts == [
        ThemeCount(WEEK1, "compromised", "appeal", 1),
        ThemeCount(WEEK1, "legitimate", "appeal", 1),
        ThemeCount(WEEK1, "purchased_list", "appeal", 1),
        ThemeCount(WEEK1, "fixed", "appeal", 2),
        ThemeCount(WEEK1, "urgent", "reply", 1),
        ThemeCount(WEEK2, "legitimate", "appeal", 1),
        ThemeCount(WEEK2, "third_party", "reply", 1),
        ThemeCount(WEEK2, "did_not_know", "reply", 1),
        ThemeCount(WEEK2, OTHER, "reply", 1),
    ]


def test_the_window_end_is_open_and_outbound_mail_is_not_counted(container: Container) -> None:
    """Week 3's reply counts only once the window reaches it; our own notice never counts."""
    seed_two_weeks(container)
    with unit_of_work(container.sessions) as session:
        case_id, account_id = session.execute(select(Case.id, Case.account_id).limit(1)).one()
        session.execute(
            insert(CustomerMessage).values(
                case_id=case_id,
                account_id=account_id,
                direction="out",
                kind="action_notice",
                channel="email",
                from_address="abuse@example.net",
                to_address="customer@example.com",
                subject="Your account was compromised",
                body="We paused your account: it looks hacked.",
                message_id="<notice-1@example.net>",
                state="sent",
                created_by="system:notices",
                created_at=WEEK3 + timedelta(hours=2),
            )
        )
    with read_only(container.sessions) as session:
        week3 = voice.theme_counts(session, start=WEEK3, end=WEEK3 + timedelta(days=7))
        none = voice.theme_counts(session, start=WEEK3 - timedelta(days=1), end=WEEK3)
    assert week3 == [ThemeCount(WEEK3, "compromised", "reply", 1)]
    assert none == []


def test_custom_themes_count_instead_of_the_defaults(container: Container) -> None:
    """Settings' themes replace the defaults; what they miss is other."""
    seed_two_weeks(container)
    keys = (Theme("keys", "Keys", ("key*",)),)
    with read_only(container.sessions) as session:
        counts = voice.theme_counts(session, start=WEEK1, end=WEEK2, themes=keys)
    assert counts == [
        ThemeCount(WEEK1, "keys", "appeal", 1),
        ThemeCount(WEEK1, OTHER, "appeal", 1),
        ThemeCount(WEEK1, OTHER, "reply", 1),
    ]


def test_quotes_are_the_newest_texts_of_each_theme_cut_around_the_keyword(
    container: Container,
) -> None:
    """Two legitimate appeals: the newer first; quotes carry source, time and case."""
    seed_two_weeks(container)
    with read_only(container.sessions) as session:
        found = voice.quotes(session, start=WEEK1, end=WEEK3, per_theme=2, width=40)
    legitimate = found["legitimate"]
    assert [(q.source, q.at) for q in legitimate] == [
        ("appeal", WEEK2 + timedelta(days=1)),
        ("appeal", WEEK1 + timedelta(days=2)),
    ]
    assert legitimate[0].text == "The mail is legitimate: recipients…"
    assert found["urgent"][0].text == "…This is urgent, our customers cannot…"
    assert [q.source for q in found[OTHER]] == ["reply"]
    assert found["compromised"][0].case_id is not None


def test_the_weekly_report_section_holds_the_weeks_table_and_chart(
    container: Container,
) -> None:
    """Week 2 against week 1: legitimate 1 (±0), fixed gone (-2), new themes (+1)."""
    seed_two_weeks(container)
    with read_only(container.sessions) as session:
        counts = voice.theme_counts(session, start=WEEK1 - timedelta(days=49), end=WEEK3)
    blocks = voice_section(counts, DEFAULT_THEMES, week=WEEK2 + timedelta(days=3))
    table = blocks[2]
    assert table.rows == (  # type: ignore[union-attr]
        ("Compromised account", "0", "0", "0", "-1"),
        ("False positive / legitimate mail", "1", "0", "1", "+0"),
        ("Purchased or rented list", "0", "0", "0", "-1"),
        ("Fixed / will fix", "0", "0", "0", "-2"),
        ("Urgent business impact", "0", "0", "0", "-1"),
        ("Third-party sender", "0", "1", "1", "+1"),
        ("Did not know", "0", "1", "1", "+1"),
        ("Other", "0", "1", "1", "+1"),
    )
