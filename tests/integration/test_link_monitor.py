"""The linking monitor on a real database: links, clusters, signals, refreshed per run."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from abusedesk.bootstrap import Container
from abusedesk.config import LinkSettings
from abusedesk.core.clock import utcnow
from abusedesk.linking.model import IndicatorKind
from abusedesk.monitoring.signals import Severity, SignalKind, Step
from abusedesk.pipeline.link_monitor import LinkMonitor, cluster_key
from abusedesk.storage import linking as store
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.signals import OPEN, find_signals
from abusedesk.storage.tables import Account, AccountLink, Case
from tests.support.linking import COMMON_CARD, TRACKER, add_account, plant_ring, set_card
from tests.support.monitoring import apply


def _kinds(drafts: object) -> list[tuple[str, str]]:
    return sorted((d.kind, d.subject_id) for d in drafts)  # type: ignore[attr-defined]


def test_a_live_account_linked_to_a_terminated_one_raises_a_high_signal_about_itself(
    container: Container,
) -> None:
    """9002 shares a card with terminated 9001: the signal names 9002, asks for review."""
    ids = plant_ring(container)

    drafts = LinkMonitor().run(container.sessions, utcnow())

    linked = [d for d in drafts if d.kind == SignalKind.LINKED_TO_TERMINATED]
    assert [(d.account_id, d.severity, d.step) for d in linked] == [
        (ids["9002"], Severity.HIGH, Step.REVIEW)
    ]
    assert linked[0].figures["linked_account"] == "9001"
    assert linked[0].figures["kinds"] == "payment fingerprint"


def test_the_ring_is_one_cluster_and_a_lone_shared_link_or_common_card_joins_nobody(
    container: Container,
) -> None:
    """9001-9002 (card) and 9002-9003 (sign-up IP with tracking domain) make one cluster;
    9004 (tracking domain only) and the twelve placeholder cards stay out."""
    ids = plant_ring(container)

    drafts = LinkMonitor().run(container.sessions, utcnow())

    with read_only(container.sessions) as session:
        clusters = store.cluster_lines(session)
        run = store.last_run(session)
    assert [[m.external_id for m in c.members] for c in clusters] == [["9001", "9002", "9003"]]
    assert [d.subject_id for d in drafts if d.kind == SignalKind.CLUSTER] == [str(clusters[0].id)]
    assert run is not None
    assert [(v["kind"], v["value"]) for v in run.common_values] == [
        (IndicatorKind.PAYMENT_FINGERPRINT, COMMON_CARD)
    ]
    assert ids["9004"] not in {m.account_id for m in clusters[0].members}


def test_each_link_keeps_the_values_it_rests_on_and_where_they_were_seen(
    container: Container,
) -> None:
    """The 9002-9003 link cites the sign-up IP and the tracking domain with its events."""
    ids = plant_ring(container)
    LinkMonitor().run(container.sessions, utcnow())

    with read_only(container.sessions) as session:
        links = store.links_of_account(session, ids["9003"])
    assert len(links) == 1
    evidence = {e["kind"]: e for e in links[0].evidence}
    assert sorted(evidence) == [IndicatorKind.SIGNUP_IP, IndicatorKind.URL_DOMAIN]
    assert evidence[IndicatorKind.URL_DOMAIN]["value"] == TRACKER.split(".", 1)[1]
    assert evidence[IndicatorKind.URL_DOMAIN]["holders"] == 3
    assert [s.split(":")[0] for s in evidence[IndicatorKind.URL_DOMAIN]["sources"]] == [
        "event",
        "event",
    ]


def test_running_twice_at_the_same_time_raises_the_same_and_keeps_the_rows(
    container: Container,
) -> None:
    """The second run's drafts equal the first's; clusters and links keep their ids."""
    plant_ring(container)
    now = utcnow()
    monitor = LinkMonitor()

    first = monitor.run(container.sessions, now)
    with read_only(container.sessions) as session:
        before = [(c.id, c.first_seen_at) for c in store.cluster_lines(session)]
        links_before = sorted(session.scalars(select(AccountLink.id)))
    second = monitor.run(container.sessions, now)
    with read_only(container.sessions) as session:
        after = [(c.id, c.first_seen_at) for c in store.cluster_lines(session)]
        links_after = sorted(session.scalars(select(AccountLink.id)))

    assert [d.dedupe_key for d in second] == [d.dedupe_key for d in first]
    assert (after, links_after) == (before, links_before)


def test_a_link_that_no_longer_holds_goes_and_its_cluster_dissolves(
    container: Container,
) -> None:
    """Without the shared card, 9001 leaves: the old cluster dissolves, 9002-9003 remain."""
    ids = plant_ring(container)
    monitor = LinkMonitor()
    now = utcnow()
    monitor.run(container.sessions, now)
    with read_only(container.sessions) as session:
        old = store.cluster_lines(session)[0]

    set_card(container, ids["9002"], None)
    drafts = monitor.run(container.sessions, now + timedelta(hours=1))

    with read_only(container.sessions) as session:
        standing = store.cluster_lines(session)
        dissolved = store.cluster_view(session, old.id).line.dissolved_at
    assert [[m.external_id for m in c.members] for c in standing] == [["9002", "9003"]]
    assert dissolved == now + timedelta(hours=1)
    assert [d.kind for d in drafts] == [SignalKind.CLUSTER]


def test_attributes_of_the_wrong_shape_are_recorded_and_the_run_goes_on(
    container: Container,
) -> None:
    """An account whose attributes are a list is named in the run's problems; others link."""
    plant_ring(container)
    broken = add_account(container, "9300", attributes=["not", "an", "object"])

    LinkMonitor().run(container.sessions, utcnow())

    with read_only(container.sessions) as session:
        run = store.last_run(session)
        links = session.scalar(select(func.count()).select_from(AccountLink))
    assert run is not None
    assert run.problems == (f"account {broken}: attributes are not an object; read without",)
    assert links == 2


def test_a_disabled_monitor_reads_nothing_and_raises_nothing(container: Container) -> None:
    """With linking switched off, a run returns no drafts and records no run."""
    plant_ring(container)

    drafts = LinkMonitor(LinkSettings(enabled=False)).run(container.sessions, utcnow())

    with read_only(container.sessions) as session:
        assert (list(drafts), store.last_run(session)) == ([], None)


def test_the_account_page_reads_the_cluster_an_account_is_in(container: Container) -> None:
    """An account in the ring finds its cluster; one outside finds none."""
    ids = plant_ring(container)
    LinkMonitor().run(container.sessions, utcnow())

    with read_only(container.sessions) as session:
        inside = store.cluster_of_account(session, ids["9003"])
        outside = store.cluster_of_account(session, ids["9004"])
    assert (inside is not None, outside) == (True, None)
    assert inside is not None
    assert inside.sanctioned == 1


def _open(container: Container, kind: str) -> list[tuple[str, str | None]]:
    with read_only(container.sessions) as session:
        return [
            (s.subject_id, s.account_external_id)
            for s in find_signals(session, state=OPEN, kinds=[kind])
        ]


def test_an_older_customer_linked_to_a_newer_banned_account_asks_for_no_step(
    container: Container,
) -> None:
    """9002 signed up before terminated 9001: the signal is medium and proposes nothing."""
    ids = plant_ring(container)
    with unit_of_work(container.sessions) as session:
        session.execute(
            update(Account)
            .where(Account.id == ids["9002"])
            .values(created_at=datetime(2019, 6, 1, tzinfo=UTC))
        )

    drafts = LinkMonitor().run(container.sessions, utcnow())

    linked = [d for d in drafts if d.kind == SignalKind.LINKED_TO_TERMINATED]
    assert [(d.account_id, d.severity, d.step) for d in linked] == [
        (ids["9002"], Severity.MEDIUM, Step.NONE)
    ]
    assert "it signed up before 9001, so it is the older customer" in linked[0].reason


def test_a_cluster_is_recorded_only_and_keyed_by_its_members(container: Container) -> None:
    """The cluster signal opens no case; its key names its set of members, not its size."""
    plant_ring(container)
    drafts = LinkMonitor().run(container.sessions, utcnow())
    applied = apply(container, drafts)

    [cluster] = [a for a in applied if a.kind == SignalKind.CLUSTER]
    assert (cluster.raised, cluster.case_id) == (True, None)
    assert cluster_key([3, 1, 2]) == cluster_key([1, 2, 3])
    assert cluster_key([1, 2, 3]) != cluster_key([1, 2, 4])


def test_signals_end_when_their_link_goes_or_their_cluster_changes(
    container: Container,
) -> None:
    """Without the shared card, 9002's link to terminated 9001 ends, and with it its
    signal and the old cluster's; the new cluster raises; its case stops counting it."""
    ids = plant_ring(container)
    monitor = LinkMonitor()
    now = utcnow()
    first = apply(container, monitor.run(container.sessions, now))
    [linked] = [a for a in first if a.kind == SignalKind.LINKED_TO_TERMINATED]
    with read_only(container.sessions) as session:
        during = session.scalar(select(Case.priority).where(Case.id == linked.case_id))

    set_card(container, ids["9002"], None)
    later = now + timedelta(days=1)
    second = apply(container, monitor.run(container.sessions, later), now=later)
    third = monitor.run(container.sessions, later)

    with read_only(container.sessions) as session:
        after = session.scalar(select(Case.priority).where(Case.id == linked.case_id))
        ended = find_signals(session, kinds=[SignalKind.LINK_ENDED])
    assert sorted(a.kind for a in second if a.raised) == [
        SignalKind.CLUSTER,
        SignalKind.LINK_ENDED,
        SignalKind.LINK_ENDED,
    ]
    assert _open(container, SignalKind.LINKED_TO_TERMINATED) == []
    assert len(_open(container, SignalKind.CLUSTER)) == 1
    assert "account 9002 is no longer linked to account 9001 in the latest linking run" in {
        s.reason for s in ended
    }
    assert [d.kind for d in third] == [SignalKind.CLUSTER]
    assert during is not None
    assert after is not None
    assert after < during
