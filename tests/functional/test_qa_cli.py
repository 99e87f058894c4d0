"""``abusedesk qa sample`` as a real command on both databases."""

from datetime import timedelta
from pathlib import Path

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage import qa
from abusedesk.storage.db import read_only, unit_of_work
from tests.functional.cli import run_cli
from tests.support.casework import new_account
from tests.support.qa import analyst, closed_cases, executed_action


def _work(container: Container) -> tuple[list[int], int]:
    now = utcnow()
    with unit_of_work(container.sessions) as session:
        analyst(session, "ana", joined=now - timedelta(days=400))
        account = new_account(session)
        cases = closed_cases(session, account, "ana", 3, closed_at=now - timedelta(hours=1))
        action = executed_action(session, account, cases[0], at=now - timedelta(hours=1))
    return cases, action


def test_sample_runs_the_sweep_at_the_configured_rates(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """Rate 1 for every tier: three closed cases and one action, all sampled."""
    _work(container)

    result = run_cli(
        "qa",
        "sample",
        "--seed",
        "3",
        database_url=database_url,
        workdir=tmp_path,
        ABUSEDESK_QA__DEFAULT_RATE="1",
        ABUSEDESK_QA__TIER_RATES="{}",
    )

    assert result.returncode == 0, result.stderr
    assert "sampled 4 of 4 piece(s) of work done" in result.stdout
    assert "(random 4)" in result.stdout
    with read_only(container.sessions) as session:
        assert len(qa.queue(session)) == 4


def test_sample_targets_a_case_and_an_action(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """--case puts one closed case in the queue, --case with --action its action."""
    cases, action = _work(container)

    one = run_cli(
        "qa",
        "sample",
        "--case",
        str(cases[1]),
        "--note",
        "complaint from a VIP",
        database_url=database_url,
        workdir=tmp_path,
    )
    two = run_cli(
        "qa",
        "sample",
        "--case",
        str(cases[0]),
        "--action",
        str(action),
        database_url=database_url,
        workdir=tmp_path,
    )
    analyst_pick = run_cli(
        "qa",
        "sample",
        "--analyst",
        "ana",
        "--count",
        "9",
        database_url=database_url,
        workdir=tmp_path,
    )

    assert (one.returncode, two.returncode, analyst_pick.returncode) == (0, 0, 0)
    assert "added to the QA queue" in one.stdout
    assert "2 sample(s) added to the QA queue" in analyst_pick.stdout
    with read_only(container.sessions) as session:
        lines = qa.queue(session)
    assert sorted((line.case_id, line.action_id or 0) for line in lines) == sorted(
        [(cases[1], 0), (cases[0], action), (cases[0], 0), (cases[2], 0)]
    )


def test_sample_refuses_bad_requests_clearly(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """--action alone is a usage error (2); an unknown case is refused (1), named."""
    lonely = run_cli("qa", "sample", "--action", "5", database_url=database_url, workdir=tmp_path)
    unknown = run_cli(
        "qa", "sample", "--case", "424242", database_url=database_url, workdir=tmp_path
    )
    nobody = run_cli(
        "qa", "sample", "--analyst", "ghost", database_url=database_url, workdir=tmp_path
    )

    assert (lonely.returncode, lonely.stderr.strip()) == (
        2,
        "--action needs --case: name the case the action belongs to",
    )
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "no case 424242")
    assert nobody.returncode == 1
    assert "ghost closed no case since" in nobody.stderr
