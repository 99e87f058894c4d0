"""The monitoring sweep runs each monitor on its interval; a failing one never stops the others."""

from datetime import timedelta

import pytest

from abusedesk.bootstrap import Container
from abusedesk.config import MonitoringSettings
from abusedesk.monitoring.rules import InvalidSignalRules
from abusedesk.monitoring.signals import SignalDraft
from abusedesk.pipeline.activity_monitor import ActivityMonitor
from abusedesk.pipeline.blocklist_monitor import BlocklistMonitor
from abusedesk.pipeline.link_monitor import LinkMonitor
from abusedesk.pipeline.monitoring import MonitoringSweep, monitoring_tender
from abusedesk.pipeline.rate_monitor import RateMonitor
from abusedesk.pipeline.spike_monitor import SpikeMonitor
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.monitoring import MONITOR_BAD_DRAFTS, MONITOR_FAILED, monitor_marks
from abusedesk.storage.signals import find_signals
from tests.support.casework import MONDAY, new_account
from tests.support.monitoring import HOUR, ScriptedMonitor, rate_draft


def _account(container: Container) -> int:
    with unit_of_work(container.sessions) as session:
        return new_account(session)


def _sweep(container: Container, *monitors: ScriptedMonitor, **settings: object) -> MonitoringSweep:
    return MonitoringSweep(
        container.sessions, list(monitors), MonitoringSettings.model_validate(settings)
    )


def test_a_monitor_runs_again_only_once_its_interval_has_passed(container: Container) -> None:
    """Rates every hour: at 08:00, not at 08:30, again at 09:00."""
    rates = ScriptedMonitor("rates")
    sweep = _sweep(container, rates, intervals={"rates": 3600})
    for minutes in (0, 30, 60):
        sweep.run(MONDAY + timedelta(minutes=minutes))
    assert rates.runs == [MONDAY, MONDAY + HOUR]


def test_the_last_run_is_kept_in_the_database(container: Container) -> None:
    """A new sweep (another process) does not run a monitor that ran a moment ago."""
    first, second = ScriptedMonitor("rates"), ScriptedMonitor("rates")
    _sweep(container, first).run(MONDAY)
    _sweep(container, second).run(MONDAY + timedelta(minutes=5))
    with read_only(container.sessions) as session:
        marks = monitor_marks(session, ["rates", "blocklists"])
    assert (len(first.runs), len(second.runs)) == (1, 0)
    assert [(m.name, m.last_run_at) for m in marks] == [("blocklists", None), ("rates", MONDAY)]


def test_a_failing_monitor_is_recorded_and_the_others_still_run(container: Container) -> None:
    """Blocklists raise; rates still apply their drafts; the failure is an open signal."""
    account_id = _account(container)
    broken = ScriptedMonitor("blocklists", error=TimeoutError("resolver did not answer"))
    rates = ScriptedMonitor("rates", drafts=[rate_draft(account_id)])
    runs = _sweep(container, broken, rates).run(MONDAY)
    with read_only(container.sessions) as session:
        failures = find_signals(session, kinds=[MONITOR_FAILED])
        raised = find_signals(session, account_id=account_id)
    assert [(r.name, r.error, r.raised) for r in runs] == [
        ("blocklists", "TimeoutError: resolver did not answer", 0),
        ("rates", None, 1),
    ]
    assert [(f.subject_id, f.state) for f in failures] == [("blocklists", "open")]
    assert len(raised) == 1


def test_a_run_that_works_ends_the_monitors_failure(container: Container) -> None:
    """After a failure, the monitor's next good run resolves its failure signal."""
    monitor = ScriptedMonitor("blocklists", error=RuntimeError("boom"))
    sweep = _sweep(container, monitor)
    sweep.run(MONDAY)
    monitor.error = None
    sweep.run(MONDAY + timedelta(hours=6))
    with read_only(container.sessions) as session:
        failures = find_signals(session, kinds=[MONITOR_FAILED])
    assert [(f.state, f.resolution) for f in failures] == [
        ("resolved", "the monitor ran again without error")
    ]


def test_bad_drafts_are_refused_and_recorded(container: Container) -> None:
    """A draft without a reason is refused; the run records how many and why."""
    account_id = _account(container)
    good = rate_draft(account_id)
    bad = SignalDraft(**{**good.__dict__, "reason": " ", "dedupe_key": "rate:bad"})
    run = _sweep(container, ScriptedMonitor("rates", drafts=[bad, good])).run(MONDAY)[0]
    with read_only(container.sessions) as session:
        recorded = find_signals(session, kinds=[MONITOR_BAD_DRAFTS])
    assert (run.raised, [a.problem for a in run.refused]) == (1, ["the signal gives no reason"])
    assert [s.reason for s in recorded] == [
        "1 signal(s) of the rates monitor were refused: rate.under_review:"
        " the signal gives no reason"
    ]


def test_a_disabled_sweep_runs_nothing(container: Container) -> None:
    """With monitoring off no monitor runs."""
    rates = ScriptedMonitor("rates")
    assert (_sweep(container, rates, enabled=False).run(MONDAY), rates.runs) == ([], [])


def test_the_tender_runs_the_sweep_for_the_embedded_engine(container: Container) -> None:
    """`monitoring_tender` gives the engine a callable of the sweep's time."""
    rates = ScriptedMonitor("rates")
    tend = monitoring_tender(container.sessions, container.settings, [rates])
    runs = tend(MONDAY)
    assert ([r.name for r in runs], rates.runs) == (["rates"], [MONDAY])


def test_drafts_are_applied_in_batches_and_none_is_dropped(container: Container) -> None:
    """Three drafts with a batch size of two: two transactions, three signals."""
    with unit_of_work(container.sessions) as session:
        accounts = [new_account(session, n) for n in (1, 2, 3)]
    rates = ScriptedMonitor("rates", drafts=[rate_draft(a) for a in accounts])
    run = _sweep(container, rates, batch_size=2).run(MONDAY)[0]
    with read_only(container.sessions) as session:
        raised = find_signals(session)
    assert (run.raised, sorted(s.account_id for s in raised)) == (3, sorted(accounts))


def test_wrong_rule_overrides_stop_the_sweep_from_starting(container: Container) -> None:
    """An unknown kind in the overrides is refused when the sweep is built, not at run time."""
    with pytest.raises(InvalidSignalRules, match=r"rules\.rate\.typo: unknown kind of signal"):
        _sweep(container, ScriptedMonitor("rates"), rules={"rate.typo": {"propose": False}})


def test_every_monitor_of_the_project_runs_in_the_sweep(container: Container) -> None:
    """Rates, blocklists (off by default), spikes, linking and activity run without failing."""
    settings = container.settings
    monitors = [
        RateMonitor(settings.rates),
        BlocklistMonitor(settings.blocklists),
        SpikeMonitor(settings.spikes),
        LinkMonitor(settings.linking),
        ActivityMonitor(settings.activity),
    ]
    runs = monitoring_tender(container.sessions, settings, monitors)(MONDAY)
    assert [(r.name, r.ran, r.error) for r in runs] == [
        (name, True, None) for name in ("rates", "blocklists", "spikes", "linking", "activity")
    ]
