"""Running a page's change in one transaction, off the event loop, and keeping its refusal."""

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from abusedesk.access.errors import PermissionDenied
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage.db import unit_of_work

T = TypeVar("T")


async def run_step(
    sessions: sessionmaker[Session],
    step: Callable[[Session], T],
    *,
    raised: tuple[type[Exception], ...] = (PermissionDenied,),
) -> T | AbuseDeskError:
    """Run *step* in one transaction in a worker thread; return what it returned, or why not.

    When abusedesk refuses the step, nothing is written and the refusal is returned for
    the page to show. Errors of the *raised* kinds (by default a missing permission)
    are raised instead, for the app's own error pages.
    """

    def run() -> T | AbuseDeskError:
        try:
            with unit_of_work(sessions) as session:
                return step(session)
        except raised:
            raise
        except AbuseDeskError as problem:
            return problem

    return await run_in_threadpool(run)
