"""``abusedesk blocklists check`` and ``listings`` as real commands against a real DNS server."""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import Container
from abusedesk.storage.db import read_only
from abusedesk.storage.tables import BlocklistListing, Signal
from tests.functional.cli import run_cli
from tests.support.blocklists import MOVED_AT, make_inventory, watch_values
from tests.support.dns import (
    DEDICATED_IP,
    LISTED_DOMAIN,
    SHARED_IP,
    FixtureDns,
    dns_server,
    scenario_zones,
)

# Before the dedicated IP moved from 4411 to 6633.
AT = (MOVED_AT - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def dns() -> Iterator[FixtureDns]:
    with dns_server(scenario_zones()) as server:
        yield server


def _environment(dns: FixtureDns) -> dict[str, str]:
    """Return the scenario's blocklist settings as the environment variables a deployment sets."""
    values = watch_values(dns)
    return {
        f"ABUSEDESK_BLOCKLISTS__{name.upper()}": (
            json.dumps(value) if isinstance(value, list | dict) else str(value).lower()
            if isinstance(value, bool) else str(value)
        )
        for name, value in values.items()
    }  # fmt: skip


def test_check_records_listings_raises_signals_and_prints_the_run(
    container: Container, database_url: str, tmp_path: Path, dns: FixtureDns
) -> None:
    """The run's summary, tallies and errors are printed; its listings raise signals."""
    make_inventory(container.sessions)
    done = run_cli(
        "blocklists", "check", "--at", AT,
        database_url=database_url, workdir=tmp_path, **_environment(dns),
    )  # fmt: skip
    with read_only(container.sessions) as session:
        listings = session.scalar(select(func.count()).select_from(BlocklistListing))
        signals = session.scalar(
            select(func.count()).select_from(Signal).where(Signal.kind == "blocklist.listed")
        )
    assert (
        done.returncode,
        "7 of 7 targets checked" in done.stdout,
        "6 listed (6 new)" in done.stdout,
        "excessive_volume" in done.stdout,
        listings,
        signals,
    ) == (0, True, True, True, 6, 8), done.stderr


def test_listings_shows_what_is_listed_and_who_held_it(
    container: Container, database_url: str, tmp_path: Path, dns: FixtureDns
) -> None:
    """After a check, the listings name the shared pool and the dedicated IP's account."""
    make_inventory(container.sessions)
    environment = _environment(dns)
    run_cli(
        "blocklists", "check", "--at", AT,
        database_url=database_url, workdir=tmp_path, **environment,
    )  # fmt: skip
    shown = run_cli("blocklists", "listings", database_url=database_url, workdir=tmp_path)
    for_account = run_cli(
        "blocklists", "listings", "--account", "4411",
        database_url=database_url, workdir=tmp_path,
    )  # fmt: skip
    assert (
        shown.returncode,
        "shared pool shared-1" in shown.stdout,
        DEDICATED_IP in shown.stdout and "account 4411" in shown.stdout,
        SHARED_IP in for_account.stdout,
        LISTED_DOMAIN in for_account.stdout,
    ) == (0, True, True, False, True), shown.stderr


def test_check_refuses_when_the_checks_are_switched_off(database_url: str, tmp_path: Path) -> None:
    """The default settings ask no list: the command says how to switch the checks on."""
    done = run_cli("blocklists", "check", database_url=database_url, workdir=tmp_path)
    assert (done.returncode, "ABUSEDESK_BLOCKLISTS__ENABLED" in done.stderr) == (1, True)


def test_listings_of_an_unknown_account_is_refused(database_url: str, tmp_path: Path) -> None:
    """Naming an account that does not exist exits 1, saying so."""
    done = run_cli(
        "blocklists", "listings", "--account", "nope", database_url=database_url, workdir=tmp_path
    )
    assert (done.returncode, "no account" in done.stderr) == (1, True)
