"""What the admin pages share: running a change in one transaction and collecting why it was
refused, and the list of admin pages a user may open."""

from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from abusedesk.access.errors import PermissionDenied
from abusedesk.access.model import (
    NOTICE_ADMIN,
    POLICY_ADMIN,
    QUEUE_ADMIN,
    ROUTING_ADMIN,
    USER_ADMIN,
    User,
)
from abusedesk.bootstrap import Container
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage.db import unit_of_work

# (path, label, permission) of every admin page, in the order the admin menu shows them.
ADMIN_PAGES = (
    ("/admin/routing", "Routing", ROUTING_ADMIN),
    ("/admin/queues", "Queues", QUEUE_ADMIN),
    ("/admin/calendars", "Calendars", QUEUE_ADMIN),
    ("/admin/users", "Users", USER_ADMIN),
    ("/admin/policy", "Enforcement policy", POLICY_ADMIN),
    ("/admin/notices", "Notice templates", NOTICE_ADMIN),
)


def admin_pages(user: User) -> list[tuple[str, str]]:
    """Return the (path, label) of the admin pages *user* may open."""
    return [(path, label) for path, label, permission in ADMIN_PAGES if user.may(permission)]


def problems_of(error: AbuseDeskError) -> list[str]:
    """Return every problem an error names: a document's list, or its one message."""
    listed = getattr(error, "problems", None)
    if isinstance(listed, tuple | list) and listed:
        return [str(problem) for problem in listed]
    return [str(error)]


async def transact(container: Container, change: Callable[[Session], object]) -> list[str]:
    """Run *change* in one transaction in a worker thread; return why it was refused.

    An empty list means the change is written. When abusedesk refuses it, nothing is
    written and the problems found are returned. A missing permission is raised, not shown.
    """

    def run() -> list[str]:
        try:
            with unit_of_work(container.sessions) as session:
                change(session)
        except PermissionDenied:
            raise
        except AbuseDeskError as error:
            return problems_of(error)
        return []

    return await run_in_threadpool(run)
