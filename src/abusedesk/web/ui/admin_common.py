"""What the admin pages share: running a change in one transaction and collecting why it was
refused, the list of admin pages a user may open, and the editor of a versioned JSON
document (routing rules, enforcement policy)."""

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from sqlalchemy.orm import Session

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
from abusedesk.web.ui.steps import run_step

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
    refused = await run_step(container.sessions, change)
    return problems_of(refused) if isinstance(refused, AbuseDeskError) else []


# --- versioned documents (routing rules, enforcement policy) ------------------------

# What the form, not the edited document, says: who wrote it, which version, and why.
FORM_KEYS: Final = ("version", "author", "note")


def editor_json(document: Mapping[str, Any]) -> str:
    """Return the part of a versioned document an admin edits, as the editor shows it."""
    return json.dumps(dict(document), indent=2, ensure_ascii=False)


def read_document(
    text: str, invalid: Callable[[list[str]], AbuseDeskError], expected: str
) -> dict[str, Any]:
    """Read the editor's JSON object, leaving out version, author and note.

    Raises *invalid* with the line and column of a JSON error, or saying that an object
    like *expected* is wanted.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise invalid([f"JSON: line {error.lineno}, column {error.colno}: {error.msg}"]) from None
    if not isinstance(data, dict):
        raise invalid([f"JSON: give an object {expected}"])
    return {key: value for key, value in data.items() if key not in FORM_KEYS}


def next_version(data: dict[str, Any], *, note: str, base_version: int) -> dict[str, Any]:
    """Return *data* as the version after *base_version*, with the form's note."""
    return {**data, "note": note.strip(), "version": base_version + 1}


async def save_next_version(
    container: Container,
    text: str,
    *,
    note: str,
    base_version: int,
    invalid: Callable[[list[str]], AbuseDeskError],
    expected: str,
    save: Callable[[Session, dict[str, Any]], object],
) -> list[str]:
    """Save the editor's JSON *text* as the version after *base_version*; return why not.

    *save* writes the document (and refuses a stale base version); an empty list means
    the new version is in force.
    """

    def change(session: Session) -> None:
        data = read_document(text, invalid, expected)
        save(session, next_version(data, note=note, base_version=base_version))

    return await transact(container, change)


def refusal_status(problems: list[str], stale: str) -> int:
    """Return 409 when a newer version was saved meanwhile (a problem starts *stale*), else 422."""
    return 409 if any(problem.startswith(stale) for problem in problems) else 422
