"""The SMTP TLS report parser: one event per policy, bare, gzipped or mailed; bad input refused."""

import copy
import gzip
import json
import zlib
from email.message import EmailMessage
from typing import Any

import pytest

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, ParsedReport
from abusedesk.parsing.registry import default_registry
from abusedesk.parsing.tlsrpt import (
    MAX_DOCUMENT,
    MAX_FAILURE_DETAILS,
    MAX_POLICIES,
    TlsReportParser,
)

MB = 1024 * 1024
REPORT: dict[str, Any] = {
    "organization-name": "Sender Example",
    "date-range": {
        "start-datetime": "2025-03-14T00:00:00Z",
        "end-datetime": "2025-03-14T23:59:59Z",
    },
    "contact-info": "tls-reports@sender.example.net",
    "report-id": "2025-03-14T00:00:00Z_mail.example.com",
    "policies": [
        {
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: enforce", "mx: *.mail.example.com"],
                "policy-domain": "Mail.Example.COM",
                "mx-host": ["*.mail.example.com"],
            },
            "summary": {"total-successful-session-count": 900, "total-failure-session-count": 7},
            "failure-details": [
                {
                    "result-type": "certificate-expired",
                    "sending-mta-ip": "2001:DB8::25",
                    "receiving-mx-hostname": "mx1.mail.example.com.",
                    "receiving-ip": "192.0.2.10",
                    "failed-session-count": 5,
                },
                {
                    "result-type": "starttls-not-supported",
                    "sending-mta-ip": "198.51.100.7",
                    "receiving-mx-hostname": "mx2.mail.example.com",
                    "failed-session-count": 2,
                    "failure-reason-code": "no STARTTLS in EHLO",
                },
            ],
        },
        {
            "policy": {"policy-type": "no-policy-found", "policy-domain": "other.example.org"},
            "summary": {"total-successful-session-count": 12, "total-failure-session-count": 0},
        },
    ],
}


def encoded(report: dict[str, Any] | None = None) -> bytes:
    """Return *report* (default: the two-policy report) as JSON bytes."""
    return json.dumps(REPORT if report is None else report).encode()


def changed(path: list[str | int], value: Any) -> bytes:
    """Return the report with the value at *path* replaced (or removed when value is ...)."""
    report = copy.deepcopy(REPORT)
    target: Any = report
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return encoded(report)


def mailed(data: bytes, content_type: str, *, report_type: bool = True) -> bytes:
    """Return a TLS report mail (RFC 8460 section 5.3) carrying *data*."""
    message = EmailMessage()
    message["From"] = "tls-reports@sender.example.net"
    message["To"] = "tlsrpt@mail.example.com"
    message["Subject"] = "Report Domain: mail.example.com Submitter: sender.example.net"
    message.set_content("This is an aggregate TLS report from sender.example.net")
    maintype, subtype = content_type.split("/")
    message.add_attachment(
        data,
        maintype=maintype,
        subtype=subtype,
        filename="sender.example.net!mail.example.com!1.json.gz",
    )
    if report_type:
        message.replace_header("Content-Type", 'multipart/report; report-type="tlsrpt"')
    return message.as_bytes()


def parse(raw: bytes) -> ParsedReport:
    """Parse *raw* with the TLS report parser alone."""
    return TlsReportParser().parse(RawDocument(raw))


def reason(raw: bytes) -> str:
    """Return the reason the TLS report parser refuses *raw*."""
    with pytest.raises(ParseError) as caught:
        parse(raw)
    return caught.value.reason


def test_each_policy_becomes_a_tls_report_event() -> None:
    """Two policies give two events of category tls_report, in a report of kind tls."""
    parsed = parse(encoded())
    assert (parsed.kind, [e.category for e in parsed.events]) == (
        "tls",
        [Category.TLS_REPORT] * 2,
    )


def test_indicator_is_the_policy_domain_as_recipient_domain() -> None:
    """The domain whose servers took the sessions is the event's recipient_domain."""
    assert parse(encoded()).events[0].indicators == {"recipient_domain": ("mail.example.com",)}


def test_details_carry_counts_failures_policy_and_metadata() -> None:
    """Details hold the policy, session counts, failure details and the report metadata."""
    assert parse(encoded()).events[0].details == {
        "policy": 1,
        "policy_type": "sts",
        "policy_domain": "mail.example.com",
        "policy_strings": ["version: STSv1", "mode: enforce", "mx: *.mail.example.com"],
        "mx_hosts": ["*.mail.example.com"],
        "successful_sessions": 900,
        "failed_sessions": 7,
        "failure_details": [
            {
                "result_type": "certificate-expired",
                "sending_mta_ip": "2001:db8::25",
                "receiving_mx_hostname": "mx1.mail.example.com",
                "receiving_mx_helo": None,
                "receiving_ip": "192.0.2.10",
                "failed_session_count": 5,
                "failure_reason_code": None,
                "additional_information": None,
            },
            {
                "result_type": "starttls-not-supported",
                "sending_mta_ip": "198.51.100.7",
                "receiving_mx_hostname": "mx2.mail.example.com",
                "receiving_mx_helo": None,
                "receiving_ip": None,
                "failed_session_count": 2,
                "failure_reason_code": "no STARTTLS in EHLO",
                "additional_information": None,
            },
        ],
        "failure_details_total": 2,
        "org_name": "Sender Example",
        "report_id": "2025-03-14T00:00:00Z_mail.example.com",
        "contact_info": "tls-reports@sender.example.net",
        "begin_at": "2025-03-14T00:00:00+00:00",
        "end_at": "2025-03-14T23:59:59+00:00",
    }


def test_reporter_and_time_are_the_organisation_and_period_start() -> None:
    """The reporter is organization-name; the event happened at the period's start."""
    event = parse(encoded()).events[1]
    assert (event.reporter, event.occurred_at and event.occurred_at.isoformat()) == (
        "Sender Example",
        "2025-03-14T00:00:00+00:00",
    )


def test_a_single_mx_host_string_is_read_as_a_list() -> None:
    """RFC 8460's own example gives mx-host as a string; it is read as one host."""
    raw = changed(["policies", 0, "policy", "mx-host"], "*.mail.example.com")
    assert parse(raw).events[0].details["mx_hosts"] == ["*.mail.example.com"]


def test_empty_failure_detail_fields_are_left_out() -> None:
    """Empty strings in a failure detail are read as absent, not refused."""
    detail = {
        "result-type": "",
        "sending-mta-ip": "",
        "receiving-mx-hostname": "",
        "failed-session-count": 1,
    }
    raw = changed(["policies", 0, "failure-details"], [detail])
    assert parse(raw).events[0].details["failure_details"] == [
        {
            "result_type": None,
            "sending_mta_ip": None,
            "receiving_mx_hostname": None,
            "receiving_mx_helo": None,
            "receiving_ip": None,
            "failed_session_count": 1,
            "failure_reason_code": None,
            "additional_information": None,
        }
    ]


def test_failure_details_are_capped_but_counted() -> None:
    """Past MAX_FAILURE_DETAILS, details are cut; their total is still given."""
    detail = {"result-type": "validation-failure", "failed-session-count": 1}
    raw = changed(["policies", 0, "failure-details"], [detail] * (MAX_FAILURE_DETAILS + 5))
    details = parse(raw).events[0].details
    assert (len(details["failure_details"]), details["failure_details_total"]) == (
        MAX_FAILURE_DETAILS,
        MAX_FAILURE_DETAILS + 5,
    )


def test_report_without_policies_has_no_events() -> None:
    """An empty policies list is a TLS report with nothing to record."""
    parsed = parse(changed(["policies"], []))
    assert (parsed.report_format, parsed.kind, parsed.events) == ("tlsrpt", "tls", ())


@pytest.mark.parametrize(
    "packaging",
    [
        pytest.param(lambda data: gzip.compress(data, mtime=0), id="gzip"),
        pytest.param(
            lambda data: mailed(gzip.compress(data), "application/tlsrpt+gzip"), id="mail-gzip"
        ),
        pytest.param(lambda data: mailed(data, "application/tlsrpt+json"), id="mail-json"),
        pytest.param(
            lambda data: mailed(gzip.compress(data), "application/octet-stream", report_type=False),
            id="mail-unlabelled-gzip",
        ),
    ],
)
def test_every_packaging_gives_the_events_of_the_bare_json(packaging: Any) -> None:
    """Gzipped and mailed reports parse exactly like the bare JSON."""
    assert parse(packaging(encoded())) == parse(encoded())


def test_registry_sends_tls_reports_to_this_parser() -> None:
    """Bare, gzipped and mailed TLS reports all reach the tlsrpt parser."""
    raws = [
        encoded(),
        gzip.compress(encoded()),
        mailed(gzip.compress(encoded()), "application/tlsrpt+gzip"),
    ]
    assert [default_registry().parse(raw).report_format for raw in raws] == ["tlsrpt"] * 3


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        pytest.param(changed(["organization-name"], ...), "organization-name", id="no-org"),
        pytest.param(changed(["report-id"], 42), "report-id", id="report-id-not-text"),
        pytest.param(changed(["date-range"], ...), "date-range", id="no-date-range"),
        pytest.param(
            changed(["date-range", "start-datetime"], "yesterday"), "date-range", id="bad-start"
        ),
        pytest.param(changed(["policies"], {"a": 1}), "policies", id="policies-not-a-list"),
        pytest.param(changed(["policies", 1], "sts"), "policy 2", id="policy-not-an-object"),
        pytest.param(changed(["policies", 0, "policy"], ...), "'policy'", id="no-policy"),
        pytest.param(
            changed(["policies", 0, "policy", "policy-type"], ...), "policy-type", id="no-type"
        ),
        pytest.param(
            changed(["policies", 0, "policy", "policy-domain"], ""), "policy-domain", id="no-domain"
        ),
        pytest.param(changed(["policies", 0, "summary"], ...), "summary", id="no-summary"),
        pytest.param(
            changed(["policies", 0, "summary", "total-failure-session-count"], "7"),
            "session counts",
            id="count-not-a-number",
        ),
        pytest.param(
            changed(["policies", 0, "summary", "total-successful-session-count"], -1),
            "session counts",
            id="negative-count",
        ),
    ],
)
def test_report_missing_a_required_field_is_refused_naming_it(raw: bytes, named: str) -> None:
    """A report without a field RFC 8460 requires raises tlsrpt_invalid naming it."""
    with pytest.raises(ParseError) as caught:
        parse(raw)
    assert (caught.value.reason, named in str(caught.value)) == ("tlsrpt_invalid", True)


def test_gzip_of_a_json_array_is_refused() -> None:
    """A gzipped JSON value that is not an object raises tlsrpt_invalid."""
    raw = mailed(gzip.compress(b"[1, 2]"), "application/tlsrpt+gzip")
    assert reason(raw) == "tlsrpt_invalid"


def test_json_larger_than_the_limit_is_refused() -> None:
    """An attached report of more than MAX_DOCUMENT bytes of JSON raises tlsrpt_too_large."""
    padded = encoded()[:-1] + b', "pad": "' + b"x" * MAX_DOCUMENT + b'"}'
    assert reason(mailed(padded, "application/tlsrpt+json")) == "tlsrpt_too_large"


def test_gzip_of_something_not_json_is_refused() -> None:
    """A gzipped payload that is not JSON raises tlsrpt_invalid."""
    raw = mailed(gzip.compress(b"not json at all"), "application/tlsrpt+gzip")
    assert reason(raw) == "tlsrpt_invalid"


def test_gzip_bomb_is_refused_as_decompression_limit() -> None:
    """A gzip bomb in a TLS report mail stops at the limit with decompression_limit."""
    deflater = zlib.compressobj(9, wbits=31)
    bomb = deflater.compress(b'{"organization-name": "x", "policies": [], "pad": "')
    bomb += b"".join(deflater.compress(b" " * MB) for _ in range(40)) + deflater.flush()
    assert reason(mailed(bomb, "application/tlsrpt+gzip")) == "decompression_limit"


def test_more_policies_than_the_limit_are_refused() -> None:
    """A report with more than MAX_POLICIES policies raises tlsrpt_too_many_policies."""
    policy = REPORT["policies"][1]
    assert (
        reason(changed(["policies"], [policy] * (MAX_POLICIES + 1))) == "tlsrpt_too_many_policies"
    )


def test_mail_without_a_report_is_refused() -> None:
    """A TLS report mail whose attachment is missing raises tlsrpt_no_report."""
    message = EmailMessage()
    message["From"] = "tls-reports@sender.example.net"
    message.set_content("nothing attached")
    message.replace_header("Content-Type", 'multipart/report; report-type="tlsrpt"')
    assert reason(message.as_bytes()) == "tlsrpt_no_report"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"notificationType": "Bounce", "bounce": {}, "mail": {}}', id="ses"),
        pytest.param(b'{"xarf_version": "4.0.0", "policies": []}', id="xarf"),
        pytest.param(b'{"policies": ["a"]}', id="policies-alone"),
        pytest.param(gzip.compress(b"<feedback></feedback>"), id="gzipped-dmarc"),
        pytest.param(b"From: a@example.net\nSubject: hi\n\nhello\n", id="plain-mail"),
    ],
)
def test_sniff_leaves_other_documents_alone(raw: bytes) -> None:
    """JSON of other formats, DMARC and plain mail are not taken for TLS reports."""
    assert not TlsReportParser().sniff(RawDocument(raw))
