"""Units of work: read-only sessions do not wait for a writer on SQLite."""

from sqlalchemy import func, select

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Report


def test_reader_sees_committed_reports_while_a_writer_holds_its_transaction(
    container: Container,
) -> None:
    """A read-only session counts committed reports while another transaction is writing."""
    container.intake.accept(Incoming(b"Subject: one\r\n\r\nbody", "test", {}))
    with unit_of_work(container.sessions) as writer:
        writer.add(
            Report(
                sha256="0" * 64,
                channel="test",
                size=1,
                raw=b"x",
                envelope={},
                received_at=utcnow(),
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
            )
        )
        writer.flush()
        with read_only(container.sessions) as reader:
            visible = reader.scalar(select(func.count(Report.id)))
    assert visible == 1
