"""The DMARC aggregate parser: one event per record, every packaging, hostile input refused."""

import base64
import gzip
import io
import zipfile
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from abusedesk.parsing.dmarc import DmarcAggregateParser
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, ParsedReport
from abusedesk.parsing.registry import default_registry

RECORD = """<record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>Fail</spf></policy_evaluated>
    </row>
    <identifiers><envelope_from>bounce.example.com</envelope_from><header_from>Example.COM</header_from></identifiers>
    <auth_results>
      <dkim><domain>other.example.net</domain><selector>s1</selector><result>pass</result></dkim>
      <spf><domain>bounce.example.com</domain><scope>mfrom</scope><result>softfail</result></spf>
    </auth_results>
  </record>"""


def report(
    records: str | None = None,
    *,
    root: str = "<feedback>",
    org_name: str = "Receiver Org",
    prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n',
) -> bytes:
    """Return an aggregate report XML; *records* defaults to two records."""
    if records is None:
        records = RECORD.format(ip="192.0.2.1", count=5) + RECORD.format(ip="192.0.2.2", count=1)
    return f"""{prolog}{root}
  <report_metadata>
    <org_name>{org_name}</org_name>
    <email>dmarc@receiver.example.org</email>
    <report_id>r-42</report_id>
    <date_range><begin>1741910400</begin><end>1741996799</end></date_range>
  </report_metadata>
  <policy_published><domain>example.com</domain><p>reject</p><sp>none</sp></policy_published>
  {records}
</feedback>
""".encode()


def zipped(data: bytes, name: str = "report.xml", method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Return *data* as the one member of a zip archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def emailed(data: bytes, content_type: str, filename: str = "report.xml.gz") -> bytes:
    """Return an email carrying *data* as its one attachment."""
    message = EmailMessage()
    message["From"] = "dmarc@receiver.example.org"
    message["To"] = "rua@example.com"
    message["Subject"] = "Report Domain: example.com Submitter: receiver.example.org"
    message.set_content("An aggregate report is attached.")
    maintype, subtype = content_type.split("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def parse(raw: bytes, parser: DmarcAggregateParser | None = None) -> ParsedReport:
    """Parse *raw* with the DMARC parser alone."""
    return (parser or DmarcAggregateParser()).parse(RawDocument(raw))


def reason(raw: bytes, parser: DmarcAggregateParser | None = None) -> str:
    """Return the reason the DMARC parser refuses *raw*."""
    with pytest.raises(ParseError) as caught:
        parse(raw, parser)
    return caught.value.reason


def test_each_record_becomes_a_dmarc_aggregate_event() -> None:
    """Two records give two events of category dmarc_aggregate."""
    assert [e.category for e in parse(report()).events] == [Category.DMARC_AGGREGATE] * 2


def test_indicators_are_the_source_ip_and_header_from_domain() -> None:
    """Each event's indicators are the record's source IP and lowercased header_from."""
    assert parse(report()).events[0].indicators == {
        "source_ip": ("192.0.2.1",),
        "from_domain": ("example.com",),
    }


def test_details_carry_record_policy_and_report_metadata() -> None:
    """Details hold the count, evaluation, auth results, published policy and metadata."""
    assert parse(report()).events[0].details == {
        "count": 5,
        "disposition": "reject",
        "dkim": "fail",
        "spf": "fail",
        "reasons": [],
        "envelope_from": "bounce.example.com",
        "envelope_to": None,
        "auth_dkim": [{"domain": "other.example.net", "selector": "s1", "result": "pass"}],
        "auth_spf": [{"domain": "bounce.example.com", "scope": "mfrom", "result": "softfail"}],
        "org_name": "Receiver Org",
        "report_id": "r-42",
        "begin_at": "2025-03-14T00:00:00+00:00",
        "end_at": "2025-03-14T23:59:59+00:00",
        "policy_domain": "example.com",
        "policy_p": "reject",
        "policy_sp": "none",
    }


def test_occurred_at_is_the_start_of_the_reporting_period() -> None:
    """A record's mail was seen in the report's period; the event takes its start."""
    assert parse(report()).events[0].occurred_at.isoformat() == "2025-03-14T00:00:00+00:00"


def test_reporter_is_the_organisation_name() -> None:
    """The reporter is the report's org_name."""
    assert parse(report()).events[0].reporter == "Receiver Org"


def test_reporter_falls_back_to_the_contact_domain() -> None:
    """An empty org_name leaves the domain of the report's contact address as reporter."""
    assert parse(report(org_name=" ")).events[0].reporter == "receiver.example.org"


def test_rfc9990_namespace_reads_like_rfc7489() -> None:
    """The RFC 9990 namespace changes nothing in the events."""
    namespaced = report(root='<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">')
    assert parse(namespaced) == parse(report())


def test_draft_identities_block_reads_like_identifiers() -> None:
    """Pre-RFC reports name the block <identities>; its header_from is still read."""
    record = RECORD.format(ip="192.0.2.1", count=1).replace("identifiers>", "identities>")
    assert parse(report(record)).events[0].indicators["from_domain"] == ("example.com",)


def test_ipv6_source_is_written_in_its_short_form() -> None:
    """An IPv6 source address is normalised to its compressed form."""
    raw = report(RECORD.format(ip="2001:DB8:0:0:0:0:0:1", count=1))
    assert parse(raw).events[0].indicators["source_ip"] == ("2001:db8::1",)


def test_unreadable_source_ip_is_left_out_of_the_indicators() -> None:
    """A source_ip that is not an IP address gives no source_ip indicator."""
    raw = report(RECORD.format(ip="not-an-ip", count=1))
    assert "source_ip" not in parse(raw).events[0].indicators


@pytest.mark.parametrize(
    "packaging",
    [
        pytest.param(lambda xml: gzip.compress(xml, mtime=0), id="gzip"),
        pytest.param(zipped, id="zip"),
        pytest.param(lambda xml: gzip.compress(zipped(xml), mtime=0), id="zip-in-gzip"),
        pytest.param(lambda xml: gzip.compress(xml, mtime=0) + b"\r\n", id="gzip-with-trailer"),
        pytest.param(lambda xml: b"\xef\xbb\xbf\n" + xml, id="byte-order-mark"),
        pytest.param(
            lambda xml: emailed(gzip.compress(xml, mtime=0), "application/gzip"), id="email-gzip"
        ),
        pytest.param(lambda xml: emailed(zipped(xml), "application/zip"), id="email-zip"),
        pytest.param(lambda xml: emailed(xml, "text/xml", "report.xml"), id="email-xml"),
    ],
)
def test_every_packaging_gives_the_events_of_the_bare_xml(
    packaging: Callable[[bytes], bytes],
) -> None:
    """Compressed, archived and attached reports parse exactly like the bare XML."""
    assert parse(packaging(report())) == parse(report())


def test_report_as_the_whole_body_of_an_email_is_read() -> None:
    """A message whose own body is the gzip report (no multipart) is read too."""
    body = base64.encodebytes(gzip.compress(report(), mtime=0)).decode()
    raw = (
        "From: dmarc@receiver.example.org\nSubject: Report\nContent-Type: application/gzip\n"
        f"Content-Transfer-Encoding: base64\n\n{body}"
    ).encode()
    assert parse(raw) == parse(report())


def test_gzip_past_the_limit_is_refused_as_decompression_limit() -> None:
    """A gzip stream inflating past the configured limit raises decompression_limit."""
    bomb = gzip.compress(report().replace(b"<feedback>", b"<feedback>" + b" " * 20_000), mtime=0)
    assert reason(bomb, DmarcAggregateParser(max_decompressed=10_000)) == "decompression_limit"


def test_zip_past_the_limit_is_refused_as_decompression_limit() -> None:
    """A zip member inflating past the configured limit raises decompression_limit."""
    bomb = zipped(report().replace(b"<feedback>", b"<feedback>" + b" " * 20_000))
    assert reason(bomb, DmarcAggregateParser(max_decompressed=10_000)) == "decompression_limit"


def test_default_limit_is_fifty_megabytes() -> None:
    """Without a setting, decompression stops at 50 MB."""
    assert DmarcAggregateParser().max_decompressed == 50 * 1024 * 1024


def test_entity_expansion_is_refused() -> None:
    """An internal entity (the billion-laughs shape) raises xml_forbidden, unexpanded."""
    prolog = (
        '<?xml version="1.0"?>\n<!DOCTYPE feedback [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
    )
    assert reason(report(org_name="&b;", prolog=prolog)) == "xml_forbidden"


def test_external_entity_is_refused() -> None:
    """An external entity raises xml_forbidden and is never fetched."""
    prolog = (
        '<?xml version="1.0"?>\n<!DOCTYPE feedback [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n'
    )
    assert reason(report(org_name="&x;", prolog=prolog)) == "xml_forbidden"


def test_malformed_xml_is_refused_as_xml_invalid() -> None:
    """XML that is not well-formed raises xml_invalid."""
    assert reason(report(org_name="a < b")) == "xml_invalid"


def test_report_without_records_is_refused() -> None:
    """A feedback document with no record raises dmarc_no_records."""
    assert reason(report(records="")) == "dmarc_no_records"


def nested_gzip(data: bytes, layers: int) -> bytes:
    """Return *data* gzipped *layers* times."""
    for _ in range(layers):
        data = gzip.compress(data, mtime=0)
    return data


def empty_zip() -> bytes:
    """Return a zip archive with no members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    return buffer.getvalue()


@pytest.mark.parametrize(
    "archive",
    [
        pytest.param(b"\x1f\x8b\x08\x00garbage", id="corrupt-gzip"),
        pytest.param(gzip.compress(report(), mtime=0)[:60], id="truncated-gzip"),
        pytest.param(zipped(report(), method=zipfile.ZIP_BZIP2), id="bzip2-zip"),
        pytest.param(empty_zip(), id="empty-zip"),
        pytest.param(nested_gzip(report(), 5), id="five-gzip-layers"),
    ],
)
def test_broken_archive_named_like_a_report_is_refused_as_a_bad_archive(archive: bytes) -> None:
    """An attachment named like a report but not readable raises dmarc_bad_archive."""
    name = "receiver.example.org!example.com!1741910400!1741996799.xml.gz"
    assert reason(emailed(archive, "application/octet-stream", name)) == "dmarc_bad_archive"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'<?xml version="1.0"?><rss><channel/></rss>', id="other-xml"),
        pytest.param(gzip.compress(b'{"organization-name": "x"}', mtime=0), id="gzipped-json"),
        pytest.param(emailed(zipped(b"invoice"), "application/zip", "invoice.zip"), id="zip-mail"),
    ],
)
def test_sniff_leaves_other_documents_alone(raw: bytes) -> None:
    """XML, gzip and zip that hold no <feedback> report are not taken for DMARC."""
    assert not DmarcAggregateParser().sniff(RawDocument(raw))


def test_registry_sends_an_emailed_report_to_the_dmarc_parser() -> None:
    """An email with an aggregate report attached is read as DMARC, not as a complaint."""
    raw = emailed(gzip.compress(report(), mtime=0), "application/gzip")
    assert default_registry().parse(raw).report_format == "dmarc"
