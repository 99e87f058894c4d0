"""The simulator's traps: look-alikes, re-wrapped forwards, a moved IP, shared pools.

Attribution is measured against these reports, so their ground truth and evidence labels
must say exactly what each report carries.
"""

import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from abusedesk.attribution.keys import ResourceKind
from abusedesk.demo.model import (
    PROVIDER_DOMAIN,
    AccountKind,
    DemoAllocation,
    DemoProvider,
    SentMessage,
    Traffic,
)
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.reports import (
    Evidence,
    GeneratedReport,
    HardCase,
    ReportGenerator,
    ReportKind,
)
from abusedesk.demo.traffic import generate_traffic
from abusedesk.parsing.registry import default_registry

END = datetime(2026, 3, 2, 12, tzinfo=UTC)
SEED = 21
COUNT = 3000
_IPV4 = re.compile(rb"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


def _provider() -> DemoProvider:
    return generate_provider(seed=SEED, accounts=40, days=7, end=END)


@pytest.fixture(scope="module")
def provider() -> DemoProvider:
    """Return a provider of 40 accounts over 7 days."""
    return _provider()


@pytest.fixture(scope="module")
def traffic(provider: DemoProvider) -> Traffic:
    """Return the provider's send log (no figures)."""
    return generate_traffic(provider, with_stats=False)


@pytest.fixture(scope="module")
def reports(provider: DemoProvider, traffic: Traffic) -> list[GeneratedReport]:
    """Return the first reports about the provider."""
    return list(ReportGenerator(provider, traffic).generate(COUNT))


@pytest.fixture(scope="module")
def sent(traffic: Traffic) -> dict[str, SentMessage]:
    """Return the send log by provider message id."""
    return {m.provider_message_id: m for m in traffic.messages}


def _case(reports: list[GeneratedReport], case: str) -> list[GeneratedReport]:
    found = [r for r in reports if r.truth.hard_case == case]
    assert found, f"no {case} report among {len(reports)}"
    return found


def _indicators(report: GeneratedReport) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for event in default_registry().parse(report.raw).events:
        for kind, values in event.indicators.items():
            found.setdefault(kind, set()).update(values)
    return found


def test_hard_cases_are_the_same_bytes_for_the_same_seed_and_number(
    reports: list[GeneratedReport],
) -> None:
    """A provider made again from the seed writes every hard case's report byte for byte."""
    provider = _provider()
    again = ReportGenerator(provider, generate_traffic(provider, with_stats=False))
    numbers = [
        index
        for case in HardCase.ALL
        for index in [i for i, r in enumerate(reports) if r.truth.hard_case == case][:5]
    ]
    assert [again.report(n) for n in numbers] == [reports[n] for n in numbers]


@pytest.mark.parametrize(
    ("case", "share"),
    [
        (HardCase.LOOKALIKE, 0.03),
        (HardCase.FORWARDED, 0.05),
        (HardCase.MOVED_IP, 0.025),
        (HardCase.SHARED_POOL, 0.04),
    ],
)
def test_each_hard_case_has_its_share(
    reports: list[GeneratedReport], case: str, share: float
) -> None:
    """Each trap is drawn for about its intended share of reports."""
    drawn = sum(1 for r in reports if r.truth.hard_case == case) / COUNT
    assert 0.6 * share < drawn < 1.4 * share


def test_reports_about_an_account_with_no_evidence_at_all_are_few(
    reports: list[GeneratedReport],
) -> None:
    """At most 3% of reports name a true account yet carry nothing that points to it."""
    bare = [r for r in reports if r.truth.account is not None and r.truth.evidence == Evidence.NONE]
    assert 0 < len(bare) <= 0.03 * COUNT


def test_look_alike_domains_are_no_verified_identity_nor_under_or_above_one(
    reports: list[GeneratedReport], provider: DemoProvider
) -> None:
    """Every domain a look-alike report names crosses no label boundary of a verified name."""
    verified = {
        r.value if r.kind == ResourceKind.IDENTITY_DOMAIN else r.value.rpartition("@")[2]
        for a in provider.accounts
        for r in a.resources
        if r.kind
        in (ResourceKind.IDENTITY_DOMAIN, ResourceKind.IDENTITY_ADDRESS, ResourceKind.MAILBOX)
    }
    named = {
        domain
        for r in _case(reports, HardCase.LOOKALIKE)
        for kind, values in _indicators(r).items()
        if kind in ("from_domain", "dkim_domain", "envelope_domain")
        for domain in values
    }
    ours = [
        d
        for d in named
        if any(d == v or d.endswith(f".{v}") or v.endswith(f".{d}") for v in verified)
    ]
    assert (len(named) > 10, ours) == (True, [])


def test_look_alikes_borrow_a_customer_name(
    reports: list[GeneratedReport], provider: DemoProvider
) -> None:
    """A look-alike's mail uses the name of one of the provider's customers."""
    names = [a.name.encode() for a in provider.accounts]
    nameless = [
        r.file_name
        for r in _case(reports, HardCase.LOOKALIKE)
        if not any(n in r.raw for n in names)
    ]
    assert nameless == []


def test_not_ours_reports_use_no_provider_ip_and_no_provider_id(
    reports: list[GeneratedReport], provider: DemoProvider
) -> None:
    """Mail no account sent comes from no IP of ours and carries none of our ids."""
    ours = {a.ip for a in provider.allocations}
    leaks = [
        r.file_name
        for r in reports
        if r.truth.account is None
        and (
            {ip.decode() for ip in _IPV4.findall(r.raw)} & ours
            or _indicators(r).get("source_ip", set()) & ours
            or f"bounces.{PROVIDER_DOMAIN}".encode() in r.raw
            or f"email.{PROVIDER_DOMAIN}".encode() in r.raw
            or b"\nFeedback-ID:" in r.raw
        )
    ]
    assert leaks == []


def test_not_ours_reports_are_all_look_alikes(reports: list[GeneratedReport]) -> None:
    """Only look-alike complaints lack a true account, and they all do."""
    assert {
        (r.truth.hard_case, r.truth.report_kind, r.truth.evidence)
        for r in reports
        if r.truth.account is None
    } == {
        (HardCase.LOOKALIKE, ReportKind.ARF_LOOKALIKE, Evidence.NOT_OURS),
        (HardCase.LOOKALIKE, ReportKind.FREEFORM_LOOKALIKE, Evidence.NOT_OURS),
    }


def test_moved_ip_is_quoted_before_during_and_after_its_move(
    reports: list[GeneratedReport], provider: DemoProvider, sent: dict[str, SentMessage]
) -> None:
    """Reports quote the moved IP while the donor held it, while pooled, and after the move."""
    (moved,) = provider.moved_ips()
    holders: Counter[str | None] = Counter()
    wrong = []
    for report in _case(reports, HardCase.MOVED_IP):
        m = sent[report.truth.provider_message_id or ""]
        holder = provider.ip_holder(m.source_ip, m.sent_at)
        holders[holder] += 1
        if m.source_ip != moved or report.truth.account != m.account:
            wrong.append(report.file_name)
        if holder is not None and holder != report.truth.account:
            wrong.append(report.file_name)
    dedicated = [h for h in holders if h is not None]
    assert (wrong, len(dedicated), None in holders) == ([], 2, True)


def test_moved_ip_reports_with_only_the_source_ip_name_each_holder_in_turn(
    reports: list[GeneratedReport], provider: DemoProvider, sent: dict[str, SentMessage]
) -> None:
    """Some moved-IP reports carry only the IP: labelled dedicated for the donor and receiver."""
    only_ip = [
        r
        for r in _case(reports, HardCase.MOVED_IP)
        if r.truth.report_kind == ReportKind.ARF_SOURCE_IP
        and r.truth.evidence == Evidence.DEDICATED_IP
    ]
    accounts = {r.truth.account for r in only_ip}
    times = {
        account: [
            sent[r.truth.provider_message_id or ""].sent_at
            for r in only_ip
            if r.truth.account == account
        ]
        for account in accounts
    }
    donor, receiver = sorted(accounts, key=lambda a: min(times[a]))
    assert max(times[donor]) < min(times[receiver])
    assert (
        provider.account(donor).kind in AccountKind.LEGITIMATE,
        provider.account(receiver).kind,
    ) == (True, AccountKind.SNOWSHOE)


def test_source_ip_reports_carry_only_the_connection(
    reports: list[GeneratedReport], sent: dict[str, SentMessage]
) -> None:
    """A source-IP-only report yields an IP and a recipient, and is labelled by them alone."""
    wrong = []
    for report in [r for r in reports if r.truth.report_kind == ReportKind.ARF_SOURCE_IP]:
        m = sent[report.truth.provider_message_id or ""]
        found = _indicators(report)
        redacted = m.recipient.encode() not in report.raw
        expected = (
            Evidence.DEDICATED_IP
            if report.truth.evidence == Evidence.DEDICATED_IP
            else Evidence.NONE
            if redacted
            else Evidence.SHARED_IP
        )
        if (
            set(found) - {"source_ip", "recipient_hash", "recipient_domain"}
            or found["source_ip"] != {m.source_ip}
            or report.truth.evidence != expected
        ):
            wrong.append(report.file_name)
    assert wrong == []


def test_shared_pool_reports_include_redacted_ones_labelled_none(
    reports: list[GeneratedReport],
) -> None:
    """Shared-pool reports are labelled shared_ip with the recipient, none without it."""
    labels = Counter(r.truth.evidence for r in _case(reports, HardCase.SHARED_POOL))
    assert set(labels) == {Evidence.SHARED_IP, Evidence.NONE}
    assert labels[Evidence.SHARED_IP] > labels[Evidence.NONE]


def _stated_source_ip(raw: bytes) -> str | None:
    """Return the Source-IP field, else the first Received hop of the quoted message."""
    if found := re.search(rb"\nSource-IP: (\S+)", raw):
        return found.group(1).decode()
    quoted = re.split(rb"Content-Type: (?:message/rfc822|text/rfc822-headers)[^\n]*\n", raw)
    if len(quoted) < 2:
        return None
    unfolded = re.sub(rb"\n[ \t]+", b" ", quoted[1])
    hop = re.search(rb"Received: from [^\n]*?\[(?:IPv6:)?([0-9a-fA-F.:]+)\]", unfolded)
    return hop.group(1).decode() if hop else None


def test_ip_labels_hold_only_where_our_ip_is_what_the_report_states(
    reports: list[GeneratedReport], sent: dict[str, SentMessage]
) -> None:
    """A report labelled by an IP states ours as Source-IP or as the quoted message's first hop."""
    labelled = [
        r
        for r in reports
        if r.truth.evidence in (Evidence.DEDICATED_IP, Evidence.SHARED_IP)
        and r.truth.report_kind != ReportKind.DMARC_AGGREGATE
    ]
    wrong = [
        r.file_name
        for r in labelled
        if _stated_source_ip(r.raw) != sent[r.truth.provider_message_id or ""].source_ip
    ]
    assert (len(labelled) > 50, wrong) == (True, [])


def test_forwarded_complaints_are_rewrapped_in_every_way(
    reports: list[GeneratedReport], sent: dict[str, SentMessage]
) -> None:
    """Forwards come from "via" groups, quoted-printable, in HTML, with mangled Message-IDs."""
    forwarded = _case(reports, HardCase.FORWARDED)
    seen = Counter()
    for report in forwarded:
        m = sent[report.truth.provider_message_id or ""]
        head, _, _ = m.message_id_header.partition("-")
        seen["via"] += b" via " in report.raw.split(b"\n\n", 1)[0]
        seen["quoted-printable"] += b"quoted-printable" in report.raw
        seen["html"] += b"text/html" in report.raw
        seen["bare id"] += f"Message-ID: {head}".encode() in report.raw
        seen["forwarder hop first"] += bool(
            re.search(rb"message/rfc822\n\nReceived: from [^\n]+\[192\.0\.2\.", report.raw)
        )
        seen["from rewritten"] += bool(re.search(rb"\nFrom: \"[^\"]+ via [^\"]+\" <", report.raw))
    assert seen["via"] == len(forwarded)
    assert all(seen[k] > 0 for k in ("quoted-printable", "html", "bare id", "forwarder hop first"))
    assert seen["from rewritten"] > 0


def test_forwarded_labels_say_whether_the_message_id_survived(
    reports: list[GeneratedReport], sent: dict[str, SentMessage]
) -> None:
    """A forward is labelled by its Message-ID exactly when the id can still be read from it."""
    forwarded = _case(reports, HardCase.FORWARDED)
    labels = Counter()
    wrong = []
    for report in forwarded:
        m = sent[report.truth.provider_message_id or ""]
        readable = m.message_id_header in _indicators(report).get("message_id", set())
        labelled = report.truth.evidence == Evidence.MESSAGE_ID
        labels[labelled] += 1
        if readable != labelled:
            wrong.append(report.file_name)
    assert (wrong, labels[True] > 0, labels[False] > 0) == ([], True, True)


def test_accounts_sending_through_a_shared_pool_hold_a_membership(
    provider: DemoProvider, traffic: Traffic
) -> None:
    """Every message from a pooled IP is by an account whose ip_pool membership covered it."""
    by_ip: dict[str, list[DemoAllocation]] = {}
    for allocation in provider.allocations:
        by_ip.setdefault(allocation.ip, []).append(allocation)
    wrong = []
    for m in traffic.messages:
        pools = {a.pool for a in by_ip[m.source_ip] if a.account is None and a.holds_at(m.sent_at)}
        if not pools:
            continue
        account = provider.account(m.account)
        members = {
            r.value for r in account.resources_of(ResourceKind.IP_POOL) if r.live_at(m.sent_at)
        }
        if not members & pools:
            wrong.append(m.provider_message_id)
    assert wrong == []


def test_pool_memberships_name_shared_pools_only(provider: DemoProvider) -> None:
    """An ip_pool resource names one of the provider's shared pools."""
    shared = {p.name for p in provider.pools if p.kind == "shared"}
    memberships = [r.value for a in provider.accounts for r in a.resources_of(ResourceKind.IP_POOL)]
    assert memberships
    assert set(memberships) <= shared
