"""Signals: raised with figures and a reason, deduplicated, resolved."""

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.signals import open_signals, raise_signal, resolve_signal


def _raise(container: Container, key: str | None) -> int | None:
    with unit_of_work(container.sessions) as session:
        return raise_signal(
            session,
            kind="complaint_rate",
            subject_type="account",
            subject_id="4411",
            reason="complaint rate 0.62% over 12,400 messages",
            figures={"rate": 0.0062, "volume": 12400},
            at=utcnow(),
            dedupe_key=key,
        )


def test_signal_with_the_same_dedupe_key_is_raised_once(container: Container) -> None:
    """Raising a signal twice under one dedupe key leaves one open signal."""
    first, second = (
        _raise(container, "rate:4411:2026-11-02"),
        _raise(container, "rate:4411:2026-11-02"),
    )
    with unit_of_work(container.sessions) as session:
        signals = open_signals(session, subject_type="account")
    assert (first is not None, second, [s.figures["volume"] for s in signals]) == (
        True,
        None,
        [12400],
    )


def test_resolved_signal_is_no_longer_open(container: Container) -> None:
    """A resolved signal leaves the open list."""
    signal_id = _raise(container, None)
    assert signal_id is not None
    with unit_of_work(container.sessions) as session:
        resolve_signal(session, signal_id, at=utcnow())
    with unit_of_work(container.sessions) as session:
        assert open_signals(session) == []
