"""The whole monitoring sweep over a simulated provider: what it finds is what was planted.

The simulator knows each account's true kind; the product never sees it. Seeded into a
real database, every monitor runs through the sweep, and the signals, cases and proposals
it leaves must name the bad actors and leave the legitimate accounts alone.
"""

from collections import defaultdict
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container, monitors
from abusedesk.demo.model import AccountKind, DemoProvider
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.traffic import generate_traffic
from abusedesk.monitoring.signals import SignalKind
from abusedesk.pipeline.monitoring import MonitoringSweep
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.enforcement import approve, execute, propose
from abusedesk.storage.linking import cluster_of_account
from abusedesk.storage.monitoring import MONITOR_BAD_DRAFTS, MONITOR_FAILED
from abusedesk.storage.seed import seed_provider
from abusedesk.storage.signals import SignalView, find_signals
from abusedesk.storage.tables import Account, Case, EnforcementAction

END = datetime(2026, 3, 16, 12, tzinfo=UTC)
RATE_STEPS = (SignalKind.RATE_REVIEW, SignalKind.RATE_PENDING_PAUSE)


@pytest.fixture(scope="module")
def provider() -> DemoProvider:
    """Return a provider with every kind of bad actor, over five weeks."""
    return generate_provider(seed=23, accounts=60, days=35, end=END)


@pytest.fixture
def swept(container: Container, provider: DemoProvider) -> tuple[Container, MonitoringSweep]:
    """Seed the provider, run every monitor once at the end of its window."""
    with unit_of_work(container.sessions) as session:
        seed_provider(session, provider, generate_traffic(provider), chunk_size=2000)
    sweep = MonitoringSweep(
        container.sessions, monitors(container.settings), container.settings.monitoring
    )
    runs = sweep.run(END, force=True)
    assert [(r.name, r.error) for r in runs if r.error] == []
    return container, sweep


def _ids(container: Container) -> dict[str, int]:
    with read_only(container.sessions) as session:
        rows = session.execute(select(Account.external_id, Account.id)).all()
    return {str(external_id): int(account_id) for external_id, account_id in rows}


def _signals(container: Container) -> dict[int, list[SignalView]]:
    by_account: dict[int, list[SignalView]] = defaultdict(list)
    with read_only(container.sessions) as session:
        for signal in find_signals(session, limit=None):
            if signal.account_id is not None:
                by_account[signal.account_id].append(signal)
    return by_account


def _of(provider: DemoProvider, *kinds: str) -> list[str]:
    return [a.external_id for a in provider.accounts if a.kind in kinds]


def test_the_sweep_finds_what_was_planted_and_leaves_legitimate_accounts_alone(
    swept: tuple[Container, MonitoringSweep], provider: DemoProvider
) -> None:
    """Rates, cases and proposals, mailbox takeovers and pumping, against the ground truth."""
    container, sweep = swept
    _check_rates(container, provider)
    _check_cases(container, provider)
    _check_activity(container, provider)
    _check_sweeps_settle(container, sweep)


def _check_rates(container: Container, provider: DemoProvider) -> None:
    """Snowshoe and phishing senders cross the thresholds; no legitimate account is touched."""
    ids, signals = _ids(container), _signals(container)
    for external_id in _of(provider, AccountKind.SNOWSHOE, AccountKind.PHISHING):
        kinds = {s.kind for s in signals[ids[external_id]]}
        assert kinds & set(RATE_STEPS), f"{external_id}: {sorted(kinds)}"
    for external_id in _of(provider, *AccountKind.LEGITIMATE):
        stepped = [s.kind for s in signals[ids[external_id]] if s.step != "none"]
        assert stepped == [], external_id


def _check_cases(container: Container, provider: DemoProvider) -> None:
    """A rate signal asking for a step opens a case and proposes an action citing figures."""
    ids = _ids(container)
    snowshoe = ids[_of(provider, AccountKind.SNOWSHOE)[0]]
    with read_only(container.sessions) as session:
        groups = set(
            session.scalars(select(Case.category_group).where(Case.account_id == snowshoe))
        )
        actions = session.execute(
            select(
                EnforcementAction.action, EnforcementAction.proposed_by, EnforcementAction.evidence
            ).where(EnforcementAction.account_id == snowshoe)
        ).all()
    assert "reputation" in groups
    assert actions, "no action proposed for a snowshoe sender"
    action, proposer, evidence = actions[0]
    assert action in ("review", "pause")
    assert proposer == "system:monitor"
    assert "figures" in evidence or "cases" in evidence


def _check_activity(container: Container, provider: DemoProvider) -> None:
    """The compromised organisation names its taken mailboxes; the pumper is flagged."""
    ids, signals = _ids(container), _signals(container)
    for account in provider.accounts:
        found = {s.kind for s in signals[ids[account.external_id]]}
        if account.kind == AccountKind.COMPROMISED_MAILBOX:
            assert SignalKind.MAILBOX_COMPROMISE in found
            (signal,) = [
                s
                for s in signals[ids[account.external_id]]
                if s.kind == SignalKind.MAILBOX_COMPROMISE
            ]
            named = str(signal.evidence) + str(signal.figures)
            assert [box for box in account.compromised_mailboxes if box not in named] == []
        elif account.kind == AccountKind.SMS_PUMPING:
            assert SignalKind.SMS_PUMPING in found
        else:
            assert not found & {SignalKind.MAILBOX_COMPROMISE, SignalKind.SMS_PUMPING}, (
                account.external_id
            )


def test_the_ring_is_one_cluster_and_banning_one_member_flags_the_rest(
    swept: tuple[Container, MonitoringSweep], provider: DemoProvider
) -> None:
    """Ring members share a cluster; once one is terminated, the live members are signalled."""
    container, sweep = swept
    ids = _ids(container)
    ring = [ids[e] for e in _of(provider, AccountKind.RING)]
    with read_only(container.sessions) as session:
        clusters = {cluster_of_account(session, account_id) for account_id in ring}
    assert None not in clusters
    assert len({c.id for c in clusters if c is not None}) == 1
    banned, *rest = ring
    with unit_of_work(container.sessions) as session:
        action = propose(
            session, banned, "terminate", cause="linked_accounts", reason="ring operator",
            evidence={"figures": {"ring members": len(ring)}}, actor="lee",
            now=END,
        )  # fmt: skip
        if action.needs_approval:
            approve(session, action.id, approver="cleo", now=END)
        done = execute(session, action.id, container.connector, actor="lee", now=END)
    assert done.state == "executed"
    (linking,) = [m for m in sweep.monitors if m.name == "linking"]
    sweep.run_monitor(linking, END, force=True)
    signals = _signals(container)
    flagged = {
        account_id
        for account_id in rest
        if any(s.kind == SignalKind.LINKED_TO_TERMINATED for s in signals[account_id])
    }
    assert flagged == set(rest)


def _check_sweeps_settle(container: Container, sweep: MonitoringSweep) -> None:
    """Repeat sweeps at one time settle: proposals are not doubled, then nothing new is raised.

    The second sweep may record how the first one's proposals moved a rate's status (under
    review to pending pause, with no new step); a third finds nothing left to say.
    """

    def actions() -> int:
        with read_only(container.sessions) as session:
            return len(session.scalars(select(EnforcementAction.id)).all())

    proposed = actions()
    sweep.run(END, force=True)
    assert actions() == proposed
    runs = sweep.run(END, force=True)
    assert [(r.name, r.raised) for r in runs if r.raised] == []
    with read_only(container.sessions) as session:
        signals = find_signals(session, limit=None)
    assert not [s for s in signals if s.kind in (MONITOR_FAILED, MONITOR_BAD_DRAFTS)]
