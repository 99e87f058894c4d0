"""The casework part of the periodic sweep: snoozes that end, SLA targets that pass."""

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.core.clock import utcnow
from abusedesk.storage.casework import sweep_sla, wake_due
from abusedesk.storage.db import unit_of_work

log = structlog.get_logger(__name__)


def tend_cases(sessions: sessionmaker[Session]) -> None:
    """Wake snoozed cases whose time came and mark breached SLA clocks (with signals)."""
    now = utcnow()
    with unit_of_work(sessions) as session:
        woke = wake_due(session, now=now)
        breached = sweep_sla(session, now=now)
    if woke or breached:
        log.info("cases_tended", woke=len(woke), breached=len(breached))
