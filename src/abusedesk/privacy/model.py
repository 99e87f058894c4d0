"""Evidence classes and their retention periods, as plain values."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from abusedesk.privacy.errors import UnknownEvidenceClass


class EvidenceClass:
    """The kinds of personal evidence that each have a retention period.

    Stored as strings (in ``events.purged_classes`` and audit rows), so that a new class
    needs no migration.
    """

    # The report as received: its bytes, and the envelope fields naming who sent it.
    RAW_REPORT = "raw_report"
    # What a person wrote or was sent: an SMS or push text, a subject, a title.
    MESSAGE_BODY = "message_body"
    # Who received the reported message: recipient and complainant hashes.
    RECIPIENT_ADDRESS = "recipient_address"
    # How to reach the reporter: a contact address or name, a reporting mailbox.
    REPORTER_CONTACT = "reporter_contact"

    ALL = (RAW_REPORT, MESSAGE_BODY, RECIPIENT_ADDRESS, REPORTER_CONTACT)
    # The classes that live in events (the raw report lives in reports).
    IN_EVENTS = (MESSAGE_BODY, RECIPIENT_ADDRESS, REPORTER_CONTACT)


# Days each class is kept after the report arrived; 0 keeps it for ever.
DEFAULT_RETENTION_DAYS: Mapping[str, int] = {
    EvidenceClass.RAW_REPORT: 180,
    EvidenceClass.MESSAGE_BODY: 90,
    EvidenceClass.RECIPIENT_ADDRESS: 30,
    EvidenceClass.REPORTER_CONTACT: 365,
}


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each evidence class is kept, in days (0 keeps it for ever)."""

    days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_RETENTION_DAYS))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.days) - set(EvidenceClass.ALL))
        if unknown:
            raise UnknownEvidenceClass(
                f"no evidence class {', '.join(unknown)}; the classes are "
                + ", ".join(EvidenceClass.ALL)
            )
        negative = sorted(name for name, days in self.days.items() if days < 0)
        if negative:
            raise UnknownEvidenceClass(f"a retention period is 0 or more days: {negative}")

    def period(self, evidence_class: str) -> timedelta | None:
        """Return how long *evidence_class* is kept, or None when it is kept for ever."""
        days = self.days.get(evidence_class, 0)
        return timedelta(days=days) if days > 0 else None

    def cutoff(self, evidence_class: str, now: datetime) -> datetime | None:
        """Return the arrival time at or before which *evidence_class* is due at *now*."""
        period = self.period(evidence_class)
        return None if period is None else now - period

    def is_due(self, evidence_class: str, stored_at: datetime, now: datetime) -> bool:
        """Say whether evidence of *evidence_class* stored at *stored_at* is past its period."""
        cutoff = self.cutoff(evidence_class, now)
        return cutoff is not None and stored_at <= cutoff

    def due_classes(
        self,
        stored_at: datetime,
        now: datetime,
        *,
        classes: tuple[str, ...] = EvidenceClass.ALL,
        already: Mapping[str, object] | None = None,
    ) -> tuple[str, ...]:
        """Return the classes of an item stored at *stored_at* that are due at *now*,
        leaving out those *already* purged."""
        done = already or {}
        return tuple(
            name for name in classes if name not in done and self.is_due(name, stored_at, now)
        )
