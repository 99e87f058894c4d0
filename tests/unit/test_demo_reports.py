"""The generated reports: deterministic, distinct, well-formed, and true to the ground truth."""

import base64
import email
import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from email.message import Message
from email.policy import compat32

import pytest
from defusedxml import ElementTree

from abusedesk.demo.model import AccountKind, DemoProvider, Traffic
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.reports import (
    Evidence,
    GeneratedReport,
    GroundTruth,
    ReportGenerator,
    ReportKind,
)
from abusedesk.demo.traffic import generate_traffic
from abusedesk.parsing.registry import default_registry

END = datetime(2026, 3, 2, 12, tzinfo=UTC)
COUNT = 1500


def _provider(seed: int) -> DemoProvider:
    return generate_provider(seed=seed, accounts=30, days=5, end=END)


def _generator(seed: int) -> ReportGenerator:
    provider = _provider(seed)
    return ReportGenerator(provider, generate_traffic(provider, with_stats=False))


@pytest.fixture(scope="module")
def provider() -> DemoProvider:
    """Return a provider of 30 accounts over 5 days."""
    return _provider(5)


@pytest.fixture(scope="module")
def traffic(provider: DemoProvider) -> Traffic:
    """Return the provider's send log and SMS (no figures: reports do not need them)."""
    return generate_traffic(provider, with_stats=False)


@pytest.fixture(scope="module")
def reports(provider: DemoProvider, traffic: Traffic) -> list[GeneratedReport]:
    """Return the first reports about the provider."""
    return list(ReportGenerator(provider, traffic).generate(COUNT))


def _of_kind(reports: list[GeneratedReport], kind: str) -> list[GeneratedReport]:
    found = [r for r in reports if r.truth.report_kind == kind]
    assert found, f"no {kind} report among {len(reports)}"
    return found


def _message(report: GeneratedReport) -> Message:
    return email.message_from_bytes(report.raw, policy=compat32)


def _parts(message: Message) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def test_same_seed_gives_the_same_bytes(reports: list[GeneratedReport]) -> None:
    """A provider regenerated from the same seed yields byte-identical reports."""
    again = _generator(5)
    assert [r.raw for r in again.generate(100)] == [r.raw for r in reports[:100]]


def test_different_seed_gives_different_bytes(reports: list[GeneratedReport]) -> None:
    """Another seed yields other reports."""
    other = _generator(6)
    assert {r.raw for r in other.generate(100)}.isdisjoint({r.raw for r in reports[:100]})


def test_a_report_depends_only_on_its_number(
    provider: DemoProvider, traffic: Traffic, reports: list[GeneratedReport]
) -> None:
    """A batch starting at 40 repeats reports 40 onwards exactly."""
    batch = list(ReportGenerator(provider, traffic).generate(10, start=40))
    assert batch == reports[40:50]


def test_every_report_is_distinct(reports: list[GeneratedReport]) -> None:
    """No two reports have the same bytes or the same file name."""
    assert (len({r.raw for r in reports}), len({r.file_name for r in reports})) == (
        COUNT,
        COUNT,
    )


def test_every_report_kind_is_generated(reports: list[GeneratedReport]) -> None:
    """Each shape of report appears among the first reports."""
    assert {r.truth.report_kind for r in reports} == set(ReportKind.ALL)


def test_every_kind_of_bad_actor_is_reported(reports: list[GeneratedReport]) -> None:
    """Reports name every kind of bad actor in the ground truth."""
    assert set(AccountKind.BAD) <= {r.truth.account_kind for r in reports}


def test_bad_actors_draw_most_reports(reports: list[GeneratedReport]) -> None:
    """Bad actors, though few, are the subject of most reports."""
    bad = sum(1 for r in reports if r.truth.account_kind in AccountKind.BAD)
    assert bad > COUNT / 2


def test_file_extensions_match_the_shape(reports: list[GeneratedReport]) -> None:
    """Mail is .eml, JSON is .json, DMARC XML is .xml."""
    expected = {
        **dict.fromkeys(ReportKind.EMAIL, ".eml"),
        **dict.fromkeys(ReportKind.JSON, ".json"),
        **dict.fromkeys(ReportKind.XML, ".xml"),
    }
    wrong = [
        r.file_name for r in reports if not r.file_name.endswith(expected[r.truth.report_kind])
    ]
    assert wrong == []


@pytest.mark.parametrize("kind", [ReportKind.ARF, ReportKind.ARF_REDACTED])
def test_arf_reports_are_rfc5965_with_the_whole_message(
    reports: list[GeneratedReport], kind: str
) -> None:
    """Plain and redacted loop reports are feedback reports carrying message/rfc822."""
    for report in _of_kind(reports, kind):
        message = _message(report)
        assert (
            message.get_content_type(),
            message.get_param("report-type"),
            "message/feedback-report" in _parts(message),
            "message/rfc822" in _parts(message),
        ) == ("multipart/report", "feedback-report", True, True)


def test_headers_only_reports_have_no_date_and_text_rfc822_headers(
    reports: list[GeneratedReport],
) -> None:
    """Yahoo-style reports omit Date and quote only the headers."""
    for report in _of_kind(reports, ReportKind.ARF_HEADERS):
        message = _message(report)
        assert (message.get_param("report-type"), message["Date"]) == ("feedback-report", None)
        assert "text/rfc822-headers" in _parts(message)


def test_redacted_reports_hide_the_complainant(
    reports: list[GeneratedReport], traffic: Traffic
) -> None:
    """A redacted report never contains the recipient's real address."""
    recipient = {m.provider_message_id: m.recipient for m in traffic.messages}
    for report in _of_kind(reports, ReportKind.ARF_REDACTED):
        assert report.truth.provider_message_id is not None
        assert recipient[report.truth.provider_message_id].encode() not in report.raw


def test_jmrp_reports_name_the_complainant_in_microsoft_headers(
    reports: list[GeneratedReport],
) -> None:
    """JMRP-style reports attach the message with X-HmXmrOriginalRecipient added."""
    for report in _of_kind(reports, ReportKind.ARF_JMRP):
        message = _message(report)
        attached = [p for p in message.walk() if p.get_content_type() == "message/rfc822"]
        inner = attached[0].get_payload()[0]
        assert message.get_content_type() == "multipart/mixed"
        assert inner["X-HmXmrOriginalRecipient"] is not None


def test_bounces_are_rfc3464_with_the_original_headers(reports: list[GeneratedReport]) -> None:
    """DSNs carry message/delivery-status with a Status, and text/rfc822-headers."""
    for report in _of_kind(reports, ReportKind.DSN):
        message = _message(report)
        status = next(
            p for p in message.walk() if p.get_content_type() == "message/delivery-status"
        )
        recipient_block = status.get_payload()[1]
        assert (message.get_param("report-type"), "text/rfc822-headers" in _parts(message)) == (
            "delivery-status",
            True,
        )
        assert recipient_block["Status"][0] in "45"


@pytest.mark.parametrize(
    ("kind", "expected_type"),
    [(ReportKind.SES_BOUNCE, "Bounce"), (ReportKind.SES_COMPLAINT, "Complaint")],
)
def test_raw_ses_notifications_name_the_provider_message_id(
    reports: list[GeneratedReport], kind: str, expected_type: str
) -> None:
    """Raw SES notifications have their type and the send log's message id."""
    for report in _of_kind(reports, kind):
        body = json.loads(report.raw)
        assert (body["notificationType"], body["mail"]["messageId"]) == (
            expected_type,
            report.truth.provider_message_id,
        )


@pytest.mark.parametrize(
    ("kind", "expected_type"),
    [(ReportKind.SNS_BOUNCE, "Bounce"), (ReportKind.SNS_COMPLAINT, "Complaint")],
)
def test_sns_envelopes_hold_an_ses_notification_as_a_string(
    reports: list[GeneratedReport], kind: str, expected_type: str
) -> None:
    """SNS-wrapped notifications are Notification envelopes whose Message is SES JSON."""
    for report in _of_kind(reports, kind):
        envelope = json.loads(report.raw)
        inner = json.loads(envelope["Message"])
        assert (envelope["Type"], inner["notificationType"], inner["mail"]["messageId"]) == (
            "Notification",
            expected_type,
            report.truth.provider_message_id,
        )


def test_dmarc_reports_are_aggregate_xml_about_a_customer_domain(
    reports: list[GeneratedReport], provider: DemoProvider
) -> None:
    """DMARC reports parse as feedback XML whose policy domain the true account verified."""
    for report in _of_kind(reports, ReportKind.DMARC_AGGREGATE):
        root = ElementTree.fromstring(report.raw)
        namespace = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
        domain = root.findtext(f"{namespace}policy_published/{namespace}domain")
        account = provider.account(report.truth.account)
        identities = {r.value for r in account.resources if r.kind == "identity_domain"}
        assert root.tag.endswith("feedback")
        assert root.findall(f"{namespace}record")
        assert domain in identities


def test_freeform_complaints_come_from_a_person(reports: list[GeneratedReport]) -> None:
    """Free-form complaints are mail to the abuse address with a From and a Subject."""
    for kind in (ReportKind.FREEFORM, ReportKind.FREEFORM_URL):
        for report in _of_kind(reports, kind):
            message = _message(report)
            assert (message["To"], bool(message["From"]), bool(message["Subject"])) == (
                "abuse@cloudmail.example",
                True,
                True,
            )


def test_some_freeform_complaints_attach_the_spam(reports: list[GeneratedReport]) -> None:
    """Some people attach the message they complain about as message/rfc822."""
    attached = [
        r for r in _of_kind(reports, ReportKind.FREEFORM) if "message/rfc822" in _parts(_message(r))
    ]
    assert attached


def test_url_complaints_paste_a_url_from_the_quoted_message(
    reports: list[GeneratedReport], traffic: Traffic
) -> None:
    """A link-only complaint contains a URL of the message the ground truth names."""
    urls = {m.provider_message_id: m.urls for m in traffic.messages}
    for report in _of_kind(reports, ReportKind.FREEFORM_URL):
        assert report.truth.provider_message_id is not None
        assert any(u.encode() in report.raw for u in urls[report.truth.provider_message_id])


def test_sms_reports_are_xarf_messaging_spam_over_sms(
    reports: list[GeneratedReport], provider: DemoProvider
) -> None:
    """SMS reports are X-ARF 4.2.0 with the sending number or sender id and the text."""
    for report in _of_kind(reports, ReportKind.SMS_XARF):
        body = json.loads(report.raw)
        evidence = body["evidence"][0]
        payload = base64.b64decode(evidence["payload"])
        account = provider.account(report.truth.account)
        originations = {
            r.value for r in account.resources if r.kind in ("origination_number", "sender_id")
        }
        assert (
            body["xarf_version"],
            body["category"],
            body["type"],
            body["protocol"],
            evidence["content_type"],
        ) == ("4.2.0", "messaging", "spam", "sms", "text/plain")
        assert evidence["hash"] == f"sha256:{hashlib.sha256(payload).hexdigest()}"
        assert body["source_identifier"] in originations
        assert {"org", "contact", "domain"} <= set(body["reporter"]) & set(body["sender"])


def test_push_reports_name_an_application_the_account_holds(
    reports: list[GeneratedReport], provider: DemoProvider
) -> None:
    """Push reports are our JSON format, each record naming the true account's application."""
    for report in _of_kind(reports, ReportKind.PUSH):
        body = json.loads(report.raw)
        records = body.get("reports", [body])
        account = provider.account(report.truth.account or "")
        apps = {r.value for r in account.resources if r.kind == "push_application"}
        assert (body["abusedesk_report"], report.truth.evidence) == ("push", "push_application")
        assert {r["application"] for r in records} <= apps
        assert all(
            r["platform_endpoint"].startswith(r["application"].replace(":app/", ":endpoint/"))
            for r in records
        )


def test_ground_truth_names_existing_accounts(
    reports: list[GeneratedReport], provider: DemoProvider
) -> None:
    """Every ground-truth line names an account of the provider with its real kind, or none
    at all for mail none of them sent."""
    kinds = {a.external_id: a.kind for a in provider.accounts}
    wrong = [
        r.file_name
        for r in reports
        if (r.truth.account is None) != (r.truth.evidence == Evidence.NOT_OURS)
        or (r.truth.account is not None and kinds.get(r.truth.account) != r.truth.account_kind)
        or (r.truth.account is None and r.truth.account_kind is not None)
    ]
    assert wrong == []


def test_ground_truth_is_about_the_quoted_send_log_entry(
    reports: list[GeneratedReport], traffic: Traffic
) -> None:
    """A report quoting a send-log entry is about the account that sent it."""
    sender = {m.provider_message_id: m.account for m in traffic.messages}
    quoting = [r for r in reports if r.truth.provider_message_id is not None]
    assert quoting
    wrong = [r.file_name for r in quoting if sender[r.truth.provider_message_id] != r.truth.account]
    assert wrong == []


def test_reports_with_message_id_evidence_quote_the_send_log_message_id(
    reports: list[GeneratedReport], traffic: Traffic
) -> None:
    """When the evidence is the Message-ID, our parsers read the send log's Message-ID from it."""
    header = {m.provider_message_id: m.message_id_header for m in traffic.messages}
    registry = default_registry()
    with_id = [r for r in reports if r.truth.evidence == Evidence.MESSAGE_ID]
    assert with_id
    missing = [
        r.file_name
        for r in with_id
        if header[r.truth.provider_message_id or ""]
        not in {i for e in registry.parse(r.raw).events for i in e.indicators.get("message_id", ())}
    ]
    assert missing == []


def test_a_realistic_share_of_reports_is_hard_to_attribute(
    reports: list[GeneratedReport],
) -> None:
    """Between 3% and 30% of reports carry nothing stronger than a URL or a shared IP."""
    hard = sum(1 for r in reports if r.truth.evidence in Evidence.HARD)
    assert 0.03 * COUNT < hard < 0.3 * COUNT


def test_most_reports_carry_our_own_message_ids(reports: list[GeneratedReport]) -> None:
    """The send log's ids are the most common evidence, as they are for a real provider."""
    evidence = Counter(r.truth.evidence for r in reports)
    strong = evidence[Evidence.MESSAGE_ID] + evidence[Evidence.PROVIDER_MESSAGE_ID]
    assert strong > COUNT / 2


def test_ground_truth_is_one_json_object_per_line() -> None:
    """A ground-truth record serialises to one JSON line with every field."""
    truth = GroundTruth(
        "report-000001.eml", "ac-1", "snowshoe", "arf", "0100-x", "message_id", "moved_ip"
    )
    assert json.loads(truth.to_json()) == {
        "file": "report-000001.eml",
        "account": "ac-1",
        "account_kind": "snowshoe",
        "report_kind": "arf",
        "provider_message_id": "0100-x",
        "evidence": "message_id",
        "hard_case": "moved_ip",
    }


def test_ground_truth_of_mail_nobody_here_sent_has_null_account() -> None:
    """A look-alike's report serialises its account and kind as JSON null."""
    truth = GroundTruth("report-000002.eml", None, None, "arf_lookalike", None, "not_ours")
    assert (
        json.loads(truth.to_json())["account"],
        json.loads(truth.to_json())["account_kind"],
    ) == (
        None,
        None,
    )
