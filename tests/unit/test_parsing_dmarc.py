"""The DMARC aggregate parser: one event per record, every packaging, hostile input refused."""

import base64
import gzip
import io
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from abusedesk.parsing import archives
from abusedesk.parsing.dmarc import LIMITS, MAX_DOCUMENT, DmarcAggregateParser
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, ParsedReport
from abusedesk.parsing.registry import default_registry

MB = 1024 * 1024
RECORD = """<record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><envelope_from>bounce.example.com</envelope_from><header_from>Example.COM</header_from></identifiers>
    <auth_results>
      <dkim><domain>other.example.net</domain><selector>s1</selector><result>Pass</result></dkim>
      <dkim><domain>example.com</domain><selector>s2</selector><result>fail</result></dkim>
      <spf><domain>bounce.example.com</domain><scope>mfrom</scope><result>softfail</result></spf>
    </auth_results>
  </record>"""
POLICY = "<domain>example.com</domain><p>reject</p><sp>none</sp><pct>100</pct>"


def report(
    records: str | None = None,
    *,
    root: str = "<feedback>",
    org_name: str = "Receiver Org",
    prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n',
    metadata: str | None = None,
    policy: str = POLICY,
) -> bytes:
    """Return an aggregate report XML; *records* defaults to two records."""
    if records is None:
        records = RECORD.format(ip="192.0.2.1", count=5) + RECORD.format(ip="192.0.2.2", count=1)
    if metadata is None:
        metadata = f"""<org_name>{org_name}</org_name>
    <email>dmarc@receiver.example.org</email>
    <report_id>r-42</report_id>
    <date_range><begin>1741910400</begin><end>1741996799</end></date_range>"""
    return f"""{prolog}{root}
  <report_metadata>
    {metadata}
  </report_metadata>
  <policy_published>{policy}</policy_published>
  {records}
</feedback>
""".encode()


def zipped(data: bytes, name: str = "report.xml", method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Return *data* as the one member of a zip archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def gzipped(data: bytes, layers: int = 1) -> bytes:
    """Return *data* gzipped *layers* times."""
    for _ in range(layers):
        data = gzip.compress(data, mtime=0)
    return data


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


def refusal(raw: bytes, parser: DmarcAggregateParser | None = None) -> ParseError:
    """Return the ParseError the DMARC parser raises on *raw*."""
    with pytest.raises(ParseError) as caught:
        parse(raw, parser)
    return caught.value


def reason(raw: bytes, parser: DmarcAggregateParser | None = None) -> str:
    """Return the reason the DMARC parser refuses *raw*."""
    return refusal(raw, parser).reason


def small(max_output: int) -> DmarcAggregateParser:
    """Return a parser whose unpacking and XML stop at *max_output* bytes."""
    return DmarcAggregateParser(
        limits=archives.Limits(max_output=max_output, ratio_floor=max_output)
    )


# --- reading --------------------------------------------------------------------------------


def test_each_record_becomes_a_dmarc_aggregate_event() -> None:
    """Two records give two events of category dmarc_aggregate."""
    assert [e.category for e in parse(report()).events] == [Category.DMARC_AGGREGATE] * 2


def test_report_kind_is_aggregate() -> None:
    """The parsed report says it is an aggregate report."""
    assert parse(report()).kind == "aggregate"


def test_indicators_are_source_ip_header_from_and_passing_dkim_domains() -> None:
    """Indicators: the record's IP, lowercased header_from, and DKIM domains that passed."""
    assert parse(report()).events[0].indicators == {
        "source_ip": ("192.0.2.1",),
        "from_domain": ("example.com",),
        "dkim_domain": ("other.example.net",),
    }


def test_details_carry_record_verdicts_results_policy_and_metadata() -> None:
    """Details hold the count, verdicts, auth results, identifiers, policy and metadata."""
    assert parse(report()).events[0].details == {
        "record": 1,
        "count": 5,
        "disposition": "reject",
        "dkim_aligned": False,
        "spf_aligned": False,
        "dmarc_pass": False,
        "reasons": [],
        "header_from": "example.com",
        "envelope_from": "bounce.example.com",
        "envelope_to": None,
        "dkim_results": [
            {
                "domain": "other.example.net",
                "selector": "s1",
                "result": "pass",
                "human_result": None,
            },
            {"domain": "example.com", "selector": "s2", "result": "fail", "human_result": None},
        ],
        "spf_results": [
            {
                "domain": "bounce.example.com",
                "scope": "mfrom",
                "result": "softfail",
                "human_result": None,
            }
        ],
        "org_name": "Receiver Org",
        "report_email": "dmarc@receiver.example.org",
        "report_id": "r-42",
        "begin_at": "2025-03-14T00:00:00+00:00",
        "end_at": "2025-03-14T23:59:59+00:00",
        "generator": None,
        "schema": "rfc7489",
        "policy_published": {
            "domain": "example.com",
            "adkim": None,
            "aspf": None,
            "p": "reject",
            "sp": "none",
            "np": None,
            "pct": 100,
            "fo": None,
            "testing": None,
            "discovery_method": None,
        },
    }


def test_one_aligned_verdict_is_enough_for_dmarc_to_pass() -> None:
    """A record whose aligned SPF passes passes DMARC even when aligned DKIM fails."""
    record = RECORD.format(ip="192.0.2.1", count=1).replace("<spf>fail</spf>", "<spf>pass</spf>")
    details = parse(report(record)).events[0].details
    assert (details["dkim_aligned"], details["spf_aligned"], details["dmarc_pass"]) == (
        False,
        True,
        True,
    )


def test_records_are_numbered_in_order() -> None:
    """Each event says which record of the report it comes from."""
    assert [e.details["record"] for e in parse(report()).events] == [1, 2]


def test_occurred_at_is_the_start_of_the_reporting_period() -> None:
    """A record's mail was seen in the report's period; the event takes its start."""
    occurred_at = parse(report()).events[0].occurred_at
    assert occurred_at is not None
    assert occurred_at.isoformat() == "2025-03-14T00:00:00+00:00"


def test_reporter_is_the_organisation_name() -> None:
    """The reporter is the report's org_name."""
    assert parse(report()).events[0].reporter == "Receiver Org"


def test_reporter_falls_back_to_the_contact_domain() -> None:
    """An empty org_name leaves the domain of the report's contact address as reporter."""
    assert parse(report(org_name=" ")).events[0].reporter == "receiver.example.org"


def test_rfc9990_namespace_reads_like_rfc7489_but_names_its_schema() -> None:
    """The RFC 9990 namespace changes nothing in the events but the schema it names."""
    namespaced = parse(report(root='<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">'))
    plain = parse(report())
    assert [{**e.details, "schema": "rfc7489"} for e in namespaced.events] == [
        dict(e.details) for e in plain.events
    ]
    assert {e.details["schema"] for e in namespaced.events} == {"rfc9990"}


def test_rfc9990_policy_fields_and_generator_are_kept() -> None:
    """np, testing, discovery_method and generator are read; their presence means RFC 9990."""
    metadata = """<org_name>R</org_name><email>r@receiver.example.org</email>
    <report_id>x</report_id><date_range><begin>1</begin><end>2</end></date_range>
    <generator>Reporter 2.0</generator>"""
    policy = (
        "<domain>example.com</domain><p>reject</p><np>quarantine</np>"
        "<testing>y</testing><discovery_method>treewalk</discovery_method>"
    )
    details = parse(report(metadata=metadata, policy=policy)).events[0].details
    published = details["policy_published"]
    assert (
        details["schema"],
        details["generator"],
        published["np"],
        published["testing"],
        published["discovery_method"],
        published["pct"],
    ) == ("rfc9990", "Reporter 2.0", "quarantine", "y", "treewalk", None)


def test_rfc9990_pass_disposition_is_accepted() -> None:
    """RFC 9990 adds the disposition ``pass``."""
    record = RECORD.format(ip="192.0.2.1", count=1).replace(
        "reject</disposition>", "pass</disposition>"
    )
    assert parse(report(record)).events[0].details["disposition"] == "pass"


def test_draft_identities_block_reads_like_identifiers() -> None:
    """Pre-RFC reports name the block <identities>; its header_from is still read."""
    record = RECORD.format(ip="192.0.2.1", count=1).replace("identifiers>", "identities>")
    assert parse(report(record)).events[0].indicators["from_domain"] == ("example.com",)


def test_ipv6_source_is_written_in_its_short_form() -> None:
    """An IPv6 source address is normalised to its compressed form."""
    raw = report(RECORD.format(ip="2001:DB8:0:0:0:0:0:1", count=1))
    assert parse(raw).events[0].indicators["source_ip"] == ("2001:db8::1",)


def test_auth_results_are_lowercased_not_refused() -> None:
    """Authentication results are case-insensitive (RFC 8601): ``Pass`` is read as pass."""
    results = parse(report()).events[0].details["dkim_results"]
    assert results[0]["result"] == "pass"


def test_report_without_records_is_read_with_no_events() -> None:
    """A report with metadata but no record is an aggregate report with nothing to act on."""
    parsed = parse(report(records=""))
    assert (parsed.report_format, parsed.kind, parsed.events, parsed.warnings) == (
        "dmarc",
        "aggregate",
        (),
        (),
    )


def test_long_texts_are_cut() -> None:
    """A reporter's comment is kept to 500 characters."""
    reason_element = f"<reason><type>other</type><comment>{'x' * 5000}</comment></reason>"
    record = RECORD.format(ip="192.0.2.1", count=1).replace(
        "</policy_evaluated>", f"{reason_element}</policy_evaluated>"
    )
    reasons = parse(report(record)).events[0].details["reasons"]
    assert [len(r["comment"]) for r in reasons] == [500]


@pytest.mark.parametrize(
    "packaging",
    [
        pytest.param(gzipped, id="gzip"),
        pytest.param(zipped, id="zip"),
        pytest.param(lambda xml: gzipped(xml, 2), id="double-gzip"),
        pytest.param(lambda xml: gzipped(zipped(xml)), id="zip-in-gzip"),
        pytest.param(lambda xml: zipped(gzipped(xml), "report.xml.gz"), id="gzip-in-zip"),
        pytest.param(lambda xml: gzipped(xml) + b"\r\n", id="gzip-with-trailer"),
        pytest.param(lambda xml: gzipped(xml[:300]) + gzipped(xml[300:]), id="gzip-two-members"),
        pytest.param(lambda xml: b"\xef\xbb\xbf\n" + xml, id="byte-order-mark"),
        pytest.param(lambda xml: base64.encodebytes(gzipped(xml)), id="base64-gzip"),
        pytest.param(base64.encodebytes, id="base64-xml"),
        pytest.param(lambda xml: emailed(gzipped(xml), "application/gzip"), id="email-gzip"),
        pytest.param(lambda xml: emailed(zipped(xml), "application/zip"), id="email-zip"),
        pytest.param(lambda xml: emailed(xml, "text/xml", "report.xml"), id="email-xml"),
        pytest.param(
            lambda xml: emailed(gzipped(xml, 2), "application/octet-stream"),
            id="email-double-gzip",
        ),
    ],
)
def test_every_packaging_gives_the_events_of_the_bare_xml(
    packaging: Callable[[bytes], bytes],
) -> None:
    """Compressed, archived, encoded and attached reports parse exactly like the bare XML."""
    assert parse(packaging(report())) == parse(report())


def test_zip_member_named_xml_is_preferred() -> None:
    """From a zip with a read-me beside the report, the .xml member is read."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", b"not the report")
        archive.writestr("report.xml", report())
    assert parse(buffer.getvalue()) == parse(report())


def test_report_as_the_whole_body_of_an_email_is_read() -> None:
    """A message whose own body is the gzip report (no multipart) is read too."""
    body = base64.encodebytes(gzipped(report())).decode()
    raw = (
        "From: dmarc@receiver.example.org\nSubject: Report\nContent-Type: application/gzip\n"
        f"Content-Transfer-Encoding: base64\n\n{body}"
    ).encode()
    assert parse(raw) == parse(report())


def test_registry_sends_an_emailed_report_to_the_dmarc_parser() -> None:
    """An email with an aggregate report attached is read as DMARC, not as a complaint."""
    raw = emailed(gzipped(report()), "application/gzip")
    assert default_registry().parse(raw).report_format == "dmarc"


# --- what a report must hold ----------------------------------------------------------------

GOOD_METADATA = """<org_name>R</org_name><email>r@receiver.example.org</email>
    <report_id>x</report_id><date_range><begin>1</begin><end>2</end></date_range>"""


def record_with(old: str, new: str) -> str:
    """Return one record with *old* replaced by *new*."""
    record = RECORD.format(ip="192.0.2.1", count=3)
    assert old in record
    return record.replace(old, new)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        pytest.param(
            report()
            .replace(b"<report_metadata>", b"<metadata>")
            .replace(b"</report_metadata>", b"</metadata>"),
            "<report_metadata>",
            id="no-metadata",
        ),
        pytest.param(
            report(metadata=GOOD_METADATA.replace("<report_id>x</report_id>", "")),
            "<report_id>",
            id="no-report-id",
        ),
        pytest.param(
            report(metadata=GOOD_METADATA.replace("<begin>1</begin>", "<begin>yesterday</begin>")),
            "<begin>",
            id="begin-not-integer",
        ),
        pytest.param(
            report().replace(b"policy_published>", b"policy>"),
            "<policy_published>",
            id="no-policy",
        ),
        pytest.param(report(policy="<p>reject</p>"), "<domain>", id="no-policy-domain"),
        pytest.param(
            report(policy="<domain>example.com</domain><p>Reject</p>"), "<p>", id="policy-p-cased"
        ),
        pytest.param(report(policy="<domain>example.com</domain>"), "<p>", id="no-policy-p"),
        pytest.param(
            report(record_with("<row>", "<rowx>").replace("</row>", "</rowx>")),
            "<row>",
            id="no-row",
        ),
        pytest.param(
            report(record_with("192.0.2.1", "mail.example.com")), "<source_ip>", id="ip-is-a-name"
        ),
        pytest.param(report(record_with("<count>3</count>", "")), "<count>", id="no-count"),
        pytest.param(
            report(record_with("<count>3</count>", "<count>-3</count>")),
            "<count>",
            id="negative-count",
        ),
        pytest.param(
            report(
                record_with("<policy_evaluated>", "<evaluated>").replace(
                    "</policy_evaluated>", "</evaluated>"
                )
            ),
            "<policy_evaluated>",
            id="no-policy-evaluated",
        ),
        pytest.param(
            report(record_with("reject</disposition>", "Reject</disposition>")),
            "<disposition>",
            id="disposition-cased",
        ),
        pytest.param(
            report(record_with("<dkim>fail</dkim><spf>", "<dkim>Pass</dkim><spf>")),
            "<dkim>",
            id="dkim-verdict-cased",
        ),
        pytest.param(
            report(record_with("<spf>fail</spf></policy_evaluated>", "</policy_evaluated>")),
            "<spf>",
            id="no-spf-verdict",
        ),
        pytest.param(
            report(record_with("<header_from>Example.COM</header_from>", "")),
            "<header_from>",
            id="no-header-from",
        ),
    ],
)
def test_report_missing_a_required_field_is_refused_naming_it(raw: bytes, named: str) -> None:
    """A report without a field the events need raises dmarc_invalid naming that field."""
    error = refusal(raw)
    assert (error.reason, named in str(error)) == ("dmarc_invalid", True)


def test_the_refusal_names_the_bad_record() -> None:
    """A bad second record is named by its number."""
    records = RECORD.format(ip="192.0.2.1", count=1) + RECORD.format(ip="bogus", count=1)
    assert str(refusal(report(records))).startswith("record 2:")


def test_xml_whose_root_is_not_feedback_is_refused() -> None:
    """A document sniffed as a report but rooted elsewhere raises dmarc_not_aggregate_report."""
    raw = emailed(
        b"<rss><feedback/></rss>",
        "application/octet-stream",
        "a!example.com!1700000000!1700000001.xml",
    )
    assert reason(raw) == "dmarc_not_aggregate_report"


def test_email_without_a_report_is_refused() -> None:
    """Parsing an email that holds no report raises dmarc_no_report."""
    assert reason(emailed(b"hello", "application/pdf", "invoice.pdf")) == "dmarc_no_report"


# --- hostile input --------------------------------------------------------------------------


def test_billion_laughs_is_refused_unexpanded() -> None:
    """Nested internal entities (billion laughs) raise xml_forbidden, never expanded."""
    entities = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)
    )
    prolog = f'<?xml version="1.0"?>\n<!DOCTYPE feedback [{entities}]>\n'
    raw = report(org_name="&l9;", prolog=prolog)
    tracemalloc.start()
    try:
        assert reason(raw) == "xml_forbidden"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * MB


def test_external_entity_is_refused() -> None:
    """An external entity raises xml_forbidden and is never fetched."""
    prolog = (
        '<?xml version="1.0"?>\n<!DOCTYPE feedback [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n'
    )
    assert reason(report(org_name="&x;", prolog=prolog)) == "xml_forbidden"


def test_document_type_declaration_is_refused() -> None:
    """Reports never carry a DTD; one without any entity still raises xml_forbidden."""
    prolog = '<?xml version="1.0"?>\n<!DOCTYPE feedback SYSTEM "http://dmarc.example/x.dtd">\n'
    assert reason(report(prolog=prolog)) == "xml_forbidden"


def test_malformed_xml_is_refused_as_xml_invalid() -> None:
    """XML that is not well-formed raises xml_invalid."""
    assert reason(report(org_name="a < b")) == "xml_invalid"


def test_invalid_utf8_is_refused_as_xml_invalid() -> None:
    """A byte that is not UTF-8 in a document declared UTF-8 raises xml_invalid."""
    assert (
        reason(report(org_name="Receiver").replace(b"Receiver", b"Rec\x91eiver")) == "xml_invalid"
    )


def test_elements_nested_too_deep_are_refused() -> None:
    """Elements nested a thousand deep inside a record raise dmarc_invalid."""
    deep = "<x>" * 1000 + "</x>" * 1000
    record = RECORD.format(ip="192.0.2.1", count=1).replace("<row>", f"{deep}<row>")
    assert reason(report(record)) == "dmarc_invalid"


def test_a_record_holding_too_many_elements_is_refused() -> None:
    """A record stuffed with twenty thousand elements raises dmarc_invalid while read."""
    record = RECORD.format(ip="192.0.2.1", count=1).replace("<row>", "<x/>" * 20_000 + "<row>")
    assert reason(report(record)) == "dmarc_invalid"


def test_many_top_level_elements_count_against_the_record_limit() -> None:
    """Thousands of unknown top-level elements raise dmarc_too_many_records, unread."""
    filler = "<extension/>" * 200
    assert reason(report(filler), DmarcAggregateParser(max_records=10)) == "dmarc_too_many_records"


def test_more_records_than_the_limit_are_refused() -> None:
    """A report with more records than ``max_records`` raises dmarc_too_many_records."""
    records = "".join(RECORD.format(ip="192.0.2.1", count=1) for _ in range(4))
    assert reason(report(records), DmarcAggregateParser(max_records=3)) == "dmarc_too_many_records"


def test_a_50_mb_xml_is_refused_before_it_is_parsed() -> None:
    """Bare XML larger than the document limit raises dmarc_too_large, unparsed."""
    document = RawDocument(report().replace(b"<feedback>", b"<feedback>" + b" " * (50 * MB)))
    tracemalloc.start()
    try:
        with pytest.raises(ParseError) as caught:
            DmarcAggregateParser().parse(document)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (caught.value.reason, peak < 5 * MB) == ("dmarc_too_large", True)


def test_default_document_limit_is_below_fifty_megabytes() -> None:
    """The largest XML read is 25 MiB, and unpacking stops there too."""
    assert (MAX_DOCUMENT, DmarcAggregateParser().limits.max_output) == (25 * MB, 25 * MB)


def test_gzip_past_the_limit_is_refused_as_decompression_limit() -> None:
    """A gzip stream inflating past the configured limit raises decompression_limit."""
    bomb = gzipped(report().replace(b"<feedback>", b"<feedback>" + b" " * 20_000))
    assert reason(bomb, small(10_000)) == "decompression_limit"


def test_zip_past_the_limit_is_refused_as_decompression_limit() -> None:
    """A zip member inflating past the configured limit raises decompression_limit."""
    bomb = zipped(report().replace(b"<feedback>", b"<feedback>" + b" " * 20_000))
    assert reason(bomb, small(10_000)) == "decompression_limit"


def test_emailed_gzip_bomb_stops_at_the_limit_in_bounded_memory() -> None:
    """A 200 MB gzip bomb attached to a report mail ends as decompression_limit, cheaply."""
    inflater = zlib.compressobj(9, wbits=31)
    head = report(records="")[:-12]
    chunks = [inflater.compress(head)]
    chunks += [inflater.compress(b" " * MB) for _ in range(200)]
    bomb = b"".join(chunks) + inflater.flush()
    raw = emailed(
        bomb, "application/gzip", "receiver.example.org!example.com!1741910400!1741996799.xml.gz"
    )
    tracemalloc.start()
    try:
        assert reason(raw) == "decompression_limit"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_DOCUMENT


def test_five_gzip_layers_are_refused() -> None:
    """More layers of compression than the limit allows raise decompression_limit."""
    assert reason(gzipped(report(), 5)) == "decompression_limit"


def test_registry_refuses_a_deeply_nested_archive_as_a_bomb() -> None:
    """Through the registry too, five layers of gzip end as decompression_limit."""
    with pytest.raises(ParseError) as caught:
        default_registry().parse(gzipped(b"anything at all", 5))
    assert caught.value.reason == "decompression_limit"


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
        pytest.param(gzipped(report())[:60], id="truncated-gzip"),
        pytest.param(zipped(report(), method=zipfile.ZIP_BZIP2), id="bzip2-zip"),
        pytest.param(empty_zip(), id="empty-zip"),
    ],
)
def test_broken_archive_named_like_a_report_is_refused_as_a_bad_archive(archive: bytes) -> None:
    """An attachment named like a report but not readable raises bad_archive."""
    name = "receiver.example.org!example.com!1741910400!1741996799.xml.gz"
    assert reason(emailed(archive, "application/octet-stream", name)) == "bad_archive"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'<?xml version="1.0"?><rss><channel/></rss>', id="other-xml"),
        pytest.param(gzipped(b'{"organization-name": "x"}'), id="gzipped-json"),
        pytest.param(emailed(zipped(b"invoice"), "application/zip", "invoice.zip"), id="zip-mail"),
        pytest.param(base64.encodebytes(b"just some words " * 10), id="base64-text"),
    ],
)
def test_sniff_leaves_other_documents_alone(raw: bytes) -> None:
    """XML, gzip, zip and base64 that hold no <feedback> report are not taken for DMARC."""
    assert not DmarcAggregateParser().sniff(RawDocument(raw))


def test_attachment_named_in_a_failing_charset_is_still_read() -> None:
    """An RFC 2231 file name in a charset that always fails does not stop the report's reading."""
    plain = emailed(gzipped(report()), "application/gzip")
    raw = plain.replace(b'filename="report.xml.gz"', b"filename*=undefined''report.xml.gz")
    assert raw != plain
    assert parse(raw) == parse(plain)


def test_complaint_attaching_a_large_zip_is_not_taken_for_a_report() -> None:
    """A zip past the member limit attached under another name is no DMARC report: no sniff."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(LIMITS.max_members + 10):
            archive.writestr(f"screenshot{number}.png", b"x")
    raw = emailed(buffer.getvalue(), "application/zip", "screenshots.zip")
    assert DmarcAggregateParser().sniff(RawDocument(raw)) is False
