"""What goes wrong with retention settings, purged evidence and erasure requests."""

from abusedesk.core.errors import AbuseDeskError


class UnknownEvidenceClass(AbuseDeskError):
    """Raise when a retention setting names a class that does not exist or a bad period."""


class EvidencePurged(AbuseDeskError):
    """Raise when raw evidence was asked for that retention or an erasure removed."""

    def __init__(self, report_id: int, purged_at: object, reason: str | None) -> None:
        why = "an erasure request" if reason == "erasure" else "its retention period"
        super().__init__(
            f"the raw evidence of report {report_id} was removed at {purged_at} by {why};"
            " its events, counts and case links remain"
        )
        self.report_id = report_id
        self.reason = reason


class InvalidAddress(AbuseDeskError):
    """Raise when an erasure names something that is no email address or phone number."""


class ErasureKeyMissing(AbuseDeskError):
    """Raise when an erasure is asked for but no key to hash the address is configured."""
