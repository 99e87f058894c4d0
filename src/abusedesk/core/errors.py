"""The root of every error abusedesk raises on purpose."""


class AbuseDeskError(Exception):
    """Raise for any situation abusedesk recognises; subclasses name the situation."""


class TransientError(AbuseDeskError):
    """Raise when retrying the same work later may succeed (a busy database, a timeout)."""


class NotFound(AbuseDeskError):
    """Raise when a requested record does not exist."""
