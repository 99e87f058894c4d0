"""The monitoring sweep runs each monitor on its interval; a failing one never stops the others."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.config import MonitoringSettings
from abusedesk.monitoring.rules import InvalidSignalRules
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind
from abusedesk.pipeline.activity_monitor import ActivityMonitor
from abusedesk.pipeline.blocklist_monitor import BlocklistMonitor
from abusedesk.pipeline.link_monitor import LinkMonitor
from abusedesk.pipeline.monitoring import MonitoringSweep, monitoring_tender
from abusedesk.pipeline.rate_monitor import RateMonitor
from abusedesk.pipeline.spike_monitor import SpikeMonitor
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.monitoring import MONITOR_BAD_DRAFTS, MONITOR_FAILED, monitor_marks
from abusedesk.storage.signals import find_signals
from abusedesk.storage.tables import Case, CaseHistoryEntry
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


def test_a_failure_after_a_good_run_on_the_same_day_is_raised_again(container: Container) -> None:
    """Fails at 08:00, works at 14:00, fails again at 20:00: the last failure is open."""
    monitor = ScriptedMonitor("blocklists", error=RuntimeError("boom"))
    sweep = _sweep(container, monitor)
    sweep.run(MONDAY)
    sweep.run(MONDAY + timedelta(minutes=30))
    monitor.error = None
    sweep.run(MONDAY + timedelta(hours=6))
    monitor.error = RuntimeError("boom again")
    sweep.run(MONDAY + timedelta(hours=12))
    sweep.run(MONDAY + timedelta(hours=13))
    with read_only(container.sessions) as session:
        failures = find_signals(session, kinds=[MONITOR_FAILED])
        marks = monitor_marks(session, ["blocklists"])
    assert sorted((f.state, f.reason) for f in failures) == [
        ("open", "the blocklists monitor failed: RuntimeError: boom again"),
        ("resolved", "the blocklists monitor failed: RuntimeError: boom"),
    ]
    assert marks[0].failure == "the blocklists monitor failed: RuntimeError: boom again"


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


def _spike(account_id: int, *, category: str = "spam") -> SignalDraft:
    return SignalDraft(
        kind=SignalKind.SPIKE,
        subject_type="account",
        subject_id=str(account_id),
        reason="40 distinct recipients complained in the hour, against about 2 usual",
        figures={"observed": 40, "expected": 2.0, "category": category},
        at=MONDAY,
        dedupe_key=f"spike:account:{account_id}:2026-11-02T08",
        account_id=account_id,
        severity=Severity.MEDIUM,
    )


def _case(container: Container, case_id: int | None) -> tuple[str, int]:
    with read_only(container.sessions) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.category_group, case.priority


def test_a_spike_counts_toward_its_case_only_while_recent(container: Container) -> None:
    """A spike ends by itself 24 hours after it was raised; the case stops counting it."""
    account_id = _account(container)
    spikes = ScriptedMonitor("spikes", drafts=[_spike(account_id)])
    sweep = _sweep(container, spikes)
    [run] = sweep.run(MONDAY)
    [applied] = run.applied
    during = _case(container, applied.case_id)[1]
    spikes.drafts = []
    sweep.run(MONDAY + 23 * HOUR)
    with read_only(container.sessions) as session:
        still = [s.state for s in find_signals(session, kinds=[SignalKind.SPIKE])]
    sweep.run(MONDAY + 25 * HOUR)
    with read_only(container.sessions) as session:
        [ended] = find_signals(session, kinds=[SignalKind.SPIKE])
        history = session.scalars(
            select(CaseHistoryEntry.reason).where(CaseHistoryEntry.case_id == applied.case_id)
        ).all()

    assert still == ["open"]
    assert (ended.state, ended.resolved_by) == ("resolved", "system:monitor")
    assert "a spike.jump signal counts for 24 hours after it is raised" in (ended.resolution or "")
    assert any("ended by itself" in (reason or "") for reason in history)
    assert _case(container, applied.case_id)[1] < during


def test_a_spike_folds_into_the_providers_own_case_group(container: Container) -> None:
    """With phishing folded into fraud cases by the provider, a phishing spike joins fraud."""
    account_id = _account(container)
    settings = container.settings.model_copy(
        update={
            "cases": container.settings.cases.model_copy(
                update={"category_groups": {"phishing": "fraud"}}
            )
        }
    )
    spikes = ScriptedMonitor("spikes", drafts=[_spike(account_id, category="phishing")])
    [run] = monitoring_tender(container.sessions, settings, [spikes])(MONDAY)
    [applied] = run.applied
    assert _case(container, applied.case_id)[0] == "fraud"
    assert "A spike.jump in phishing goes to the account's fraud case." in applied.decision
