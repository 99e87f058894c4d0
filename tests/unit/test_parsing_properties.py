"""Properties of the parser registry on hostile input: a report or a ParseError, never more.

Inputs are arbitrary bytes, golden fixtures with random damage, and structured shapes
that reach deep into each parser (SES and X-ARF objects with wrong types, reports with
random fields, random archives).
"""

import base64
import gzip
import io
import json
import zipfile
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import ParsedReport
from abusedesk.parsing.registry import default_registry
from tests.unit.test_golden import as_json, golden_inputs

REGISTRY = default_registry()
FIXTURES = [path.read_bytes() for path in golden_inputs()]
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def outcome(raw: bytes) -> ParsedReport | ParseError:
    """Return what the registry makes of *raw*: a report, or the ParseError it raised."""
    try:
        return REGISTRY.parse(raw)
    except ParseError as error:
        return error


def storable(report: ParsedReport) -> bool:
    """Tell whether every value of *report* can be stored: JSON, UTF-8, bounded, UTC.

    The lengths are those of the events table's category, service and reporter columns.
    """
    encoded = json.dumps(as_json(report), ensure_ascii=False).encode("utf-8")
    return bool(encoded) and all(
        len(event.category) <= 40
        and len(event.service) <= 20
        and (event.reporter is None or len(event.reporter) <= 255)
        and (event.occurred_at is None or event.occurred_at.utcoffset() is not None)
        and all(isinstance(value, str) for values in event.indicators.values() for value in values)
        for event in report.events
    )


@st.composite
def damaged_fixtures(draw: st.DrawFn) -> bytes:
    """Return a golden input with a few random cuts, insertions and overwrites."""
    data = bytearray(draw(st.sampled_from(FIXTURES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(data)))
        action = draw(st.sampled_from(["overwrite", "insert", "cut", "truncate"]))
        chunk = draw(st.binary(min_size=1, max_size=16))
        if action == "cut":
            del data[position : position + len(chunk)]
        elif action == "insert":
            data[position:position] = chunk
        elif action == "overwrite":
            data[position : position + len(chunk)] = chunk
        else:
            del data[position:]
    return bytes(data) or b"x"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _base64_text(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Return *values* nine times in ten and any JSON value otherwise."""
    return st.integers(min_value=0, max_value=9).flatmap(
        lambda roll: values if roll else JSON_VALUES
    )


RECIPIENTS = _maybe(
    st.lists(
        _maybe(
            st.fixed_dictionaries(
                {"emailAddress": _maybe(st.emails())},
                optional={"status": JSON_VALUES, "diagnosticCode": _maybe(st.text(max_size=80))},
            )
        ),
        max_size=3,
    )
)

SES_OBJECTS = st.fixed_dictionaries(
    {
        "notificationType": _maybe(st.sampled_from(["Bounce", "Complaint", "Delivery"])),
        "mail": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "messageId": JSON_VALUES,
                    "source": _maybe(st.emails()),
                    "sourceIp": JSON_VALUES,
                    "sendingAccountId": JSON_VALUES,
                    "commonHeaders": JSON_VALUES,
                    "tags": _maybe(st.dictionaries(st.text(max_size=25), JSON_VALUES)),
                },
            )
        ),
        "bounce": _maybe(
            st.fixed_dictionaries(
                {"bouncedRecipients": RECIPIENTS},
                optional={"bounceType": JSON_VALUES, "timestamp": JSON_VALUES},
            )
        ),
        "complaint": _maybe(
            st.fixed_dictionaries(
                {"complainedRecipients": RECIPIENTS},
                optional={"complaintFeedbackType": JSON_VALUES, "timestamp": JSON_VALUES},
            )
        ),
    },
    optional={"eventType": JSON_VALUES},
)

SNS_ENVELOPES = st.fixed_dictionaries(
    {
        "Type": _maybe(st.sampled_from(["Notification", "SubscriptionConfirmation"])),
        "TopicArn": st.text(max_size=20),
        "Message": st.one_of(st.text(max_size=60), SES_OBJECTS.map(json.dumps), JSON_VALUES),
    }
)

XARF_OBJECTS = st.fixed_dictionaries(
    {
        "xarf_version": _maybe(st.sampled_from(["4.2.0", "4.0.0", "3.0.0"])),
        "report_id": _maybe(st.uuids().map(str)),
        "timestamp": _maybe(st.datetimes().map(lambda value: value.isoformat())),
        "reporter": _maybe(
            st.fixed_dictionaries(
                {}, optional={"domain": _maybe(st.text(max_size=300)), "contact": JSON_VALUES}
            )
        ),
        "source_identifier": _maybe(
            st.from_regex(r"\+?[0-9 ]{3,16}|[A-Z]{3,11}|192\.0\.2\.[0-9]{1,3}", fullmatch=True)
        ),
        "category": _maybe(st.sampled_from(["messaging", "content", "connection"])),
        "type": _maybe(st.sampled_from(["spam", "phishing", "ddos"])),
    },
    optional={
        "protocol": _maybe(
            st.sampled_from(["sms", "smtp", "push_notification", "chat"]) | st.text(max_size=40)
        ),
        "smtp_from": _maybe(st.emails()),
        "url": JSON_VALUES,
        "evidence": _maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "content_type": st.just("message/rfc822"),
                        "payload": _maybe(st.binary(max_size=200).map(_base64_text)),
                    }
                ),
                max_size=2,
            )
        ),
    },
)

FIELD_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)


@st.composite
def delivery_status_reports(draw: st.DrawFn) -> bytes:
    """Return a multipart/report whose status part holds random fields and blocks."""
    names = st.sampled_from(
        [
            "Reporting-MTA",
            "Final-Recipient",
            "Original-Recipient",
            "Action",
            "Status",
            "Diagnostic-Code",
            "Last-Attempt-Date",
            "Arrival-Date",
            "Remote-MTA",
        ]
    )
    values = st.one_of(
        FIELD_TEXT,
        st.sampled_from(
            ["failed", "delayed", "5.1.1", "4.2.2 (full)", "rfc822; a@example.com", "dns; mx"]
        ),
    )
    blocks = draw(st.lists(st.lists(st.tuples(names, values), max_size=6), min_size=1, max_size=4))
    status = "\n\n".join("\n".join(f"{name}: {value}" for name, value in block) for block in blocks)
    report_type = draw(st.sampled_from(["delivery-status", "feedback-report", "DELIVERY-STATUS"]))
    returned = draw(st.sampled_from(["text/rfc822-headers", "message/rfc822", "text/plain"]))
    headers = draw(FIELD_TEXT)
    text = (
        "From: MAILER-DAEMON@mx.example.net\n"
        f"Content-Type: multipart/report; report-type={report_type}; boundary=b\n\n"
        f"--b\nContent-Type: message/delivery-status\n\n{status}\n\n"
        f"--b\nContent-Type: message/feedback-report\n\n{status}\n\n"
        f"--b\nContent-Type: {returned}\n\nFrom: {headers}\nMessage-ID: <{headers}>\n\n--b--\n"
    )
    return text.encode("utf-8", "surrogatepass")


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    """Return random or damaged DMARC XML, gzipped or zipped, maybe twice."""
    xml = draw(st.sampled_from([*FIXTURES, b"<feedback><record/></feedback>"]))
    if draw(st.booleans()):
        xml = draw(damaged_fixtures()) if draw(st.booleans()) else draw(st.binary(max_size=300))
        xml = b"<feedback>" + xml
    data = xml
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if draw(st.booleans()):
            data = gzip.compress(data, mtime=0)
        else:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(draw(st.sampled_from(["r.xml", "r.gz", "dir/"])), data)
            data = buffer.getvalue()
    if draw(st.booleans()):
        cut = draw(st.integers(min_value=2, max_value=max(2, len(data))))
        data = data[:cut]
    return data


ANY_BYTES = st.binary(max_size=2048)
SES_JSON = st.one_of(SES_OBJECTS, SNS_ENVELOPES).map(lambda value: json.dumps(value).encode())
XARF_JSON = XARF_OBJECTS.map(lambda value: json.dumps(value).encode())
EVERY_SHAPE = st.one_of(
    ANY_BYTES, damaged_fixtures(), SES_JSON, XARF_JSON, delivery_status_reports(), archives()
)


@PROPERTY
@given(raw=ANY_BYTES)
def test_any_bytes_give_a_report_or_a_parse_error(raw: bytes) -> None:
    """Arbitrary bytes parse to a report or raise ParseError; nothing else escapes."""
    assert isinstance(outcome(raw), ParsedReport | ParseError)


@PROPERTY
@given(raw=damaged_fixtures())
def test_damaged_fixtures_give_a_report_or_a_parse_error(raw: bytes) -> None:
    """Golden inputs with random damage parse to a report or raise ParseError."""
    assert isinstance(outcome(raw), ParsedReport | ParseError)


@PROPERTY
@given(raw=SES_JSON)
def test_ses_shaped_json_gives_a_report_or_a_parse_error(raw: bytes) -> None:
    """SES and SNS objects with wrong types and missing fields never raise anything else."""
    assert isinstance(outcome(raw), ParsedReport | ParseError)


@PROPERTY
@given(raw=XARF_JSON)
def test_xarf_shaped_json_gives_a_report_or_a_parse_error(raw: bytes) -> None:
    """X-ARF objects with wrong types and missing fields never raise anything else."""
    assert isinstance(outcome(raw), ParsedReport | ParseError)


@PROPERTY
@given(raw=delivery_status_reports())
def test_reports_with_random_fields_give_a_report_or_a_parse_error(raw: bytes) -> None:
    """Delivery-status and feedback reports with random fields never raise anything else."""
    assert isinstance(outcome(raw), ParsedReport | ParseError)


@PROPERTY
@given(raw=archives())
def test_random_archives_give_a_report_or_a_parse_error(raw: bytes) -> None:
    """Random, damaged and nested gzip and zip archives never raise anything else."""
    assert isinstance(outcome(raw), ParsedReport | ParseError)


@PROPERTY
@given(raw=EVERY_SHAPE)
def test_every_parsed_report_can_be_stored(raw: bytes) -> None:
    """Whatever parses has JSON-able, UTF-8-clean values, short reporters and UTC times."""
    result = outcome(raw)
    assert isinstance(result, ParseError) or storable(result)
