"""The success-rate drop check, run now and then by whichever worker gets there first.

Both job engines process reports through ``ReportProcessor``, which calls
``check_if_due`` after each report: the check runs at most once per interval in each
process, on one thread at a time, and never delays a report by more than one check. A
drop raises one signal per reporter and format (see ``storage/parser_health.py`` for
how repeats are kept out), so several processes checking at once raise nothing twice.
``abusedesk parsers check`` runs the same check on demand.
"""

import threading
import time
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.core.clock import utcnow
from abusedesk.parsing.health import DropRule, success_drops, with_all_formats
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.parser_health import record_drops, tally_windows

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_SECONDS = 600.0


class ParserHealthWatch:
    """Compare each reporter's recent parse success with its baseline; signal the drops."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        rule: DropRule | None = None,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.rule = rule or DropRule()
        self.interval_seconds = interval_seconds
        self.clock = clock
        self._last_run: float | None = None
        self._lock = threading.Lock()

    def check(self, now: datetime | None = None) -> list[int]:
        """Run the check once; return the ids of the signals it raised."""
        at = now or utcnow()
        # Counting reads a week of reports: on SQLite it must not hold the write lock
        # intake waits for, so only the rare drop is written, in a short transaction.
        with read_only(self.sessions) as session:
            tallies = with_all_formats(tally_windows(session, now=at, rule=self.rule))
        drops = success_drops(tallies, self.rule)
        if not drops:
            return []
        with unit_of_work(self.sessions) as session:
            raised = record_drops(session, drops, rule=self.rule, now=at)
        if raised:
            log.warning("parser_success_drop", signals=len(raised), drops=len(drops))
        return raised

    def check_if_due(self) -> list[int]:
        """Run the check when the interval has passed and no other thread is running it."""
        if not self._lock.acquire(blocking=False):
            return []
        try:
            started = self.clock()
            if self._last_run is not None and started - self._last_run < self.interval_seconds:
                return []
            self._last_run = started
            return self.check()
        finally:
            self._lock.release()
