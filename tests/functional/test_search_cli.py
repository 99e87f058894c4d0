"""``abusedesk search`` as a real command: find, refuse, reindex."""

from pathlib import Path

from sqlalchemy import delete

from abusedesk.bootstrap import Container
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import EventIndicator, EventText
from tests.factories.arf import arf_report
from tests.factories.inventory import make_account
from tests.functional.cli import run_cli
from tests.support.unattributed import ingest

DOMAIN = "news.example.com"


def test_find_reindex_and_refuse(container: Container, database_url: str, tmp_path: Path) -> None:
    """The command finds the account and events of a domain, also after the index is rebuilt."""
    with unit_of_work(container.sessions) as session:
        make_account(session, "4411", domain=DOMAIN)
    ingest(
        container,
        [arf_report(message_id=f"m{n}@{DOMAIN}", from_domain=DOMAIN, serial=n) for n in range(3)],
    )
    with unit_of_work(container.sessions) as session:
        session.execute(delete(EventIndicator))
        session.execute(delete(EventText))

    emptied = run_cli("search", "find", DOMAIN, database_url=database_url, workdir=tmp_path)
    rebuilt = run_cli(
        "search", "reindex", "--batch", "2", database_url=database_url, workdir=tmp_path
    )
    found = run_cli("search", "find", DOMAIN, database_url=database_url, workdir=tmp_path)
    refused = run_cli("search", "find", "--", "!!", database_url=database_url, workdir=tmp_path)

    assert emptied.returncode == 0
    assert "Customer 4411" in emptied.stdout
    assert "occurred" not in emptied.stdout  # no event table: the index was emptied
    assert (rebuilt.returncode, "rebuilt" in rebuilt.stdout) == (0, True), rebuilt.stderr
    assert (found.returncode, found.stdout.count("spam")) == (0, 4), found.stdout
    assert (refused.returncode, "no letters" in refused.stderr) == (2, True)
