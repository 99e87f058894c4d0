"""Make events that wait in the unattributed inbox, through the real pipeline or storage."""

from sqlalchemy import select

from abusedesk.attribution.model import Attribution, Candidate, Confidence, Method
from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.parsing.model import EventDraft
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.events import EventRecord, upsert_events
from abusedesk.storage.tables import Event
from tests.factories.arf import arf_report

# A sender domain no account holds: reports about it resolve to nobody.
STRANGER = "stranger.example"


def ingest(container: Container, raws: list[bytes]) -> list[int]:
    """Store *raws* as reports, run the pipeline until it is idle; return the report ids."""
    stored = container.intake.accept_many([Incoming(raw, "test", {}) for raw in raws])
    while container.embedded.run_once():
        pass
    return [s.report_id for s in stored]


def stranger_report(
    serial: int,
    *,
    message_id: str | None = None,
    feedback_type: str = "abuse",
    reporter: str = "fbl.example.net",
) -> bytes:
    """Return an ARF report about mail from a domain no account holds (one waiting event)."""
    return arf_report(
        message_id=message_id or f"unknown-{serial}@{STRANGER}",
        from_domain=STRANGER,
        feedback_type=feedback_type,
        reporter=reporter,
        serial=serial,
    )


def events_of(container: Container, report_id: int) -> list[int]:
    """Return the ids of a report's events, in sequence order."""
    with read_only(container.sessions) as session:
        return list(
            session.scalars(
                select(Event.id).where(Event.report_id == report_id).order_by(Event.seq)
            )
        )


def waiting(container: Container, count: int, *, start: int = 0) -> list[int]:
    """Put *count* events about a stranger's mail in the inbox; return their ids."""
    report_ids = ingest(container, [stranger_report(start + n) for n in range(count)])
    return [event_id for report_id in report_ids for event_id in events_of(container, report_id)]


def suggested_event(container: Container, account_id: int, resource_id: int) -> int:
    """Store an event whose only evidence points at the account, with low confidence."""
    # A real report and event first; then its attribution is rewritten as a low guess.
    (report_id,) = ingest(container, [stranger_report(9000)])
    guess = Candidate(account_id, resource_id, Method.URL_DOMAIN, Confidence.LOW)
    attribution = Attribution(
        account_id=account_id,
        resource_id=resource_id,
        method=Method.URL_DOMAIN,
        confidence=Confidence.LOW,
        reason="Linked domain news.example.com is a verified identity of the account.",
        candidates=(guess,),
        conflicts=("The source IP is not ours, so the headers may be spoofed",),
    )
    draft = EventDraft(
        category="phishing",
        service="email",
        reporter="cert.example.org",
        indicators={"url": ("http://login.news.example.com/",)},
    )
    with unit_of_work(container.sessions) as session:
        upsert_events(
            session,
            report_id,
            "arf",
            [EventRecord(0, draft, utcnow(), attribution)],
            now=utcnow(),
        )
    (event_id,) = events_of(container, report_id)
    return event_id
