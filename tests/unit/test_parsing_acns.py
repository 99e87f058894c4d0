"""The ACNS parser: copyright notices in XML, in the body or attached, read safely."""

import base64

import pytest

from abusedesk.parsing import acns
from abusedesk.parsing.acns import AcnsParser
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import ParsedReport


def notice(case_id: str = "100", ip: str = "203.0.113.44", title: str = "A Film") -> str:
    """Return an ACNS ``<Infringement>`` document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Infringement xmlns="http://www.acns.net/ACNS">\n'
        f" <Case><ID>{case_id}</ID></Case>\n"
        " <Complainant><Entity>Example Studio</Entity></Complainant>\n"
        f" <Source><TimeStamp>2025-03-02T21:14:03Z</TimeStamp><IP_Address>{ip}</IP_Address>"
        "<Port>51413</Port><Type>BitTorrent</Type></Source>\n"
        f" <Content><Item><Title>{title}</Title></Item></Content>\n"
        "</Infringement>\n"
    )


def notice_mail(body: str, attachment: str | None = None, *, encode: bool = False) -> bytes:
    """Return a notice mail with *body* as text and *attachment* as an XML file."""
    parts = [f"--n\nContent-Type: text/plain\n\n{body}\n"]
    if attachment is not None:
        payload = base64.encodebytes(attachment.encode()).decode() if encode else attachment
        encoding = "Content-Transfer-Encoding: base64\n" if encode else ""
        parts.append(
            "--n\nContent-Type: application/octet-stream\n"
            f'{encoding}Content-Disposition: attachment; filename="notice.xml"\n\n{payload}\n'
        )
    return (
        "From: Agent <notices@agent.example>\nTo: abuse@example.org\n"
        "Subject: Notice of Claimed Infringement\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="n"\n\n' + "".join(parts) + "--n--\n"
    ).encode()


def parse(raw: bytes) -> ParsedReport:
    """Return what the ACNS parser reads from *raw*."""
    return AcnsParser().parse(RawDocument(raw))


def test_same_notice_in_body_and_attachment_is_one_event() -> None:
    """The letter's copy and the attached copy of one notice give one event."""
    report = parse(notice_mail(f"Dear Sir,\n\n{notice()}", notice()))
    assert [(e.category, e.indicators["source_ip"]) for e in report.events] == [
        ("copyright", ("203.0.113.44",))
    ]


def test_distinct_notices_are_distinct_events() -> None:
    """Two notices about two addresses give two events, in order."""
    report = parse(notice_mail(notice("1", "203.0.113.1") + notice("2", "203.0.113.2")))
    assert [e.details["case_id"] for e in report.events] == ["1", "2"]


def test_base64_xml_attachment_alone_is_recognised() -> None:
    """A notice only in a base64-encoded attachment is found by sniffing and read."""
    raw = notice_mail("See the attached notice.", notice(title="Encoded"), encode=True)
    assert (AcnsParser().sniff(RawDocument(raw)), parse(raw).events[0].details["title"]) == (
        True,
        "Encoded",
    )


def test_entity_expansion_is_refused() -> None:
    """A notice with a DTD (the billion-laughs shape) is not expanded but refused."""
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE Infringement [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        "<Infringement><Case><ID>&b;</ID></Case></Infringement>"
    )
    with pytest.raises(ParseError) as caught:
        parse(notice_mail(bomb))
    assert caught.value.reason == "acns_unreadable"


def test_oversize_notice_is_not_read() -> None:
    """A notice past MAX_NOTICE_BYTES is left unread, and the report refused with a reason."""
    padding = "<Notes>" + "x" * acns.MAX_NOTICE_BYTES + "</Notes>"
    big = notice().replace("</Infringement>", padding + "</Infringement>")
    with pytest.raises(ParseError) as caught:
        parse(notice_mail(big))
    assert caught.value.reason == "acns_unreadable"


def test_broken_xml_is_a_parse_error_with_a_reason() -> None:
    """An unclosed element inside the notice ends in acns_unreadable."""
    with pytest.raises(ParseError) as caught:
        parse(notice_mail("<Infringement><Case><ID>1</Infringement>"))
    assert caught.value.reason == "acns_unreadable"


def test_notice_without_an_address_keeps_its_details() -> None:
    """A notice naming no address is still a copyright event with its work and complainant."""
    (event,) = parse(notice_mail(notice(ip="unknown"))).events
    assert (event.indicators, event.details["complainant"], event.details["title"]) == (
        {},
        "Example Studio",
        "A Film",
    )


def test_timestamp_past_the_calendar_in_utc_is_no_time() -> None:
    """A timestamp that cannot be moved to UTC (year 1, east of it) leaves the time empty."""
    text = notice().replace("2025-03-02T21:14:03Z", "0001-01-01T00:00:00+01:00")
    (event,) = parse(notice_mail(text)).events
    assert (event.occurred_at, event.indicators["source_ip"]) == (None, ("203.0.113.44",))


def test_attachment_named_in_a_failing_charset_is_refused_with_a_reason() -> None:
    """An RFC 2231 file name in a charset that always fails is no name: the octet-stream part
    is not taken for XML, and the report is refused with a reason instead of an error."""
    raw = notice_mail("See the notice attached.", notice(), encode=True).replace(
        b'filename="notice.xml"', b"filename*=undefined''notice.xml"
    )
    with pytest.raises(ParseError) as caught:
        parse(raw)
    assert caught.value.reason == "acns_unreadable"


def test_json_quoting_an_infringement_element_is_not_a_notice() -> None:
    """A JSON report whose text quotes ``<Infringement>`` is left to the JSON formats."""
    raw = b'{"abusedesk_report": "sms", "message_text": "<Infringement> notice"}'
    assert AcnsParser().sniff(RawDocument(raw)) is False


def test_bare_xml_notice_is_recognised() -> None:
    """An ``<Infringement>`` XML document on its own is an ACNS notice."""
    assert AcnsParser().sniff(RawDocument(notice().encode())) is True
