"""The ARF parser, for what the golden files do not show."""

from abusedesk.parsing.arf import ArfParser
from abusedesk.parsing.document import RawDocument
from tests.factories.reports import arf_complaint


def test_reporter_is_the_reporting_mta_host_without_its_type() -> None:
    """Reporting-MTA ``dns; fbl.example.net`` names the reporter ``fbl.example.net``."""
    raw = arf_complaint(1, message_id="m@shop.example.com", from_domain="shop.example.com")
    (event,) = ArfParser().parse(RawDocument(raw)).events
    assert event.reporter == "fbl.example.net"
