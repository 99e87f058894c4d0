"""What can go wrong when people sign in, or try what their role does not allow."""

from datetime import datetime

from abusedesk.core.errors import AbuseDeskError, NotFound


class AccessError(AbuseDeskError):
    """The root of the access errors."""


class PermissionDenied(AccessError):
    """Raise when a signed-in user's role lacks the permission a page or action needs."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"your role does not include the permission {permission}")
        self.permission = permission


class CsrfRefused(AccessError):
    """Raise when a form or call from a signed-in browser lacks a valid CSRF token."""


class WeakPassword(AccessError):
    """Raise when a new password breaks the password rules; the message says which."""


class UserRequestInvalid(AccessError):
    """Raise when a user cannot be created or changed as asked (bad name, unknown role)."""


class UserNotFound(NotFound):
    """Raise when no user has the given username."""


class UsernameTaken(AccessError):
    """Raise when a new user's username is already in use."""


class SignInRefused(AccessError):
    """Raise when a sign-in fails: wrong credentials, locked, disabled or API-only."""

    def __init__(self, message: str, *, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at
