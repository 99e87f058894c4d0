"""The simulated traffic: hourly figures and a sampled send log consistent with each account."""

import random
import re
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from abusedesk.attribution.keys import ResourceKind
from abusedesk.demo.model import AccountKind, DemoProvider, Traffic
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.traffic import binomial, generate_traffic

END = datetime(2026, 3, 2, 12, tzinfo=UTC)
EMAIL_BAD_KINDS = (AccountKind.SNOWSHOE, AccountKind.PHISHING, AccountKind.RING)


@pytest.fixture(scope="module")
def provider() -> DemoProvider:
    """Return a provider of 30 accounts over 5 days."""
    return generate_provider(seed=3, accounts=30, days=5, end=END)


@pytest.fixture(scope="module")
def traffic(provider: DemoProvider) -> Traffic:
    """Return the provider's traffic with hourly figures."""
    return generate_traffic(provider)


def _rates(provider: DemoProvider, traffic: Traffic) -> dict[str, tuple[float, float]]:
    """Return (bounce rate, complaint rate) per account kind from the account-level rows."""
    kind_of = {a.external_id: a.kind for a in provider.accounts}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for stat in traffic.stats:
        if stat.is_account_row:
            row = totals[kind_of[stat.account]]
            row[0] += stat.sent
            row[1] += stat.hard_bounces
            row[2] += stat.fbl_sent
            row[3] += stat.complaints
    return {k: (b / s, c / f if f else 0.0) for k, (s, b, f, c) in totals.items()}


def test_same_provider_gives_the_same_traffic(provider: DemoProvider, traffic: Traffic) -> None:
    """Generating twice gives equal send logs, SMS and figures."""
    assert generate_traffic(provider) == traffic


def test_send_log_does_not_depend_on_making_figures(
    provider: DemoProvider, traffic: Traffic
) -> None:
    """Skipping the hourly figures leaves the send log and SMS exactly as they were."""
    quick = generate_traffic(provider, with_stats=False)
    assert (quick.messages, quick.sms, quick.stats) == (traffic.messages, traffic.sms, ())


def test_provider_message_ids_and_message_ids_are_unique(traffic: Traffic) -> None:
    """Every send-log entry has its own provider message id and Message-ID."""
    provider_ids = {m.provider_message_id for m in traffic.messages}
    message_ids = {m.message_id_header for m in traffic.messages}
    assert (len(provider_ids), len(message_ids)) == (len(traffic.messages),) * 2


def test_provider_message_ids_have_the_ses_shape(traffic: Traffic) -> None:
    """Provider message ids look like SES's: hex time, a UUID, then -000000."""
    shape = re.compile(r"0100[0-9a-f]{12}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-000000")
    ids = [m.provider_message_id for m in traffic.messages]
    assert [i for i in ids if not shape.fullmatch(i)] == []


def test_send_log_lies_inside_the_window(provider: DemoProvider, traffic: Traffic) -> None:
    """Every message was sent within the window and after its account signed up."""
    created = {a.external_id: a.created_at for a in provider.accounts}
    outside = [
        m.provider_message_id
        for m in traffic.messages
        if not (max(provider.start, created[m.account]) <= m.sent_at < provider.end)
    ]
    assert outside == []


def test_messages_are_sent_only_in_hours_with_figures(traffic: Traffic) -> None:
    """A sampled message falls in an hour whose account-level figures show sending."""
    hours = {(s.account, s.hour) for s in traffic.stats if s.is_account_row and s.sent}
    stray = [
        m.provider_message_id
        for m in traffic.messages
        if (m.account, m.sent_at.replace(minute=0, second=0, microsecond=0)) not in hours
    ]
    assert stray == []


def test_messages_leave_from_ips_the_account_could_use(
    provider: DemoProvider, traffic: Traffic
) -> None:
    """A message's source IP was dedicated to its account, or in a shared pool, at that time."""
    wrong = []
    for m in traffic.messages:
        holder = provider.ip_holder(m.source_ip, m.sent_at)
        shared = m.source_ip in provider.pool_ips("shared-a", m.sent_at) + provider.pool_ips(
            "shared-b", m.sent_at
        )
        if holder != m.account and not (holder is None and shared):
            wrong.append(m.provider_message_id)
    assert wrong == []


def test_identity_rows_add_up_to_the_account_row(traffic: Traffic) -> None:
    """Where figures are kept per identity, they sum to the account's figures."""
    per_identity: dict[tuple, int] = defaultdict(int)
    totals = {}
    for s in traffic.stats:
        key = (s.account, s.hour, s.destination_group)
        if s.is_account_row:
            totals[key] = s.sent
        elif s.resource is not None:
            per_identity[key] += s.sent
    assert per_identity
    assert {k: totals[k] for k in per_identity} == dict(per_identity)


def test_figures_are_internally_consistent(traffic: Traffic) -> None:
    """Delivered plus bounces never exceed sent; complaints never exceed mail to loops."""
    broken = [
        s
        for s in traffic.stats
        if s.delivered + s.hard_bounces > s.sent
        or s.hard_bounces_non_verified > s.hard_bounces
        or s.complaints > s.fbl_sent
        or s.fbl_sent > s.sent
        or min(s.sent, s.delivered, s.hard_bounces, s.fbl_sent, s.complaints) < 0
    ]
    assert broken == []


def test_gmail_runs_no_feedback_loop(traffic: Traffic) -> None:
    """Mail to the gmail group counts as sent to a feedback loop only per Feedback-ID."""
    gmail = [s for s in traffic.stats if s.destination_group == "gmail" and s.fbl_sent]
    assert {s.feedback_id is not None for s in gmail} == {True}


def test_pool_rows_copy_the_account_rows(traffic: Traffic) -> None:
    """All of an account's mail leaves through one pool: its pool rows equal its own."""
    own = {
        (s.account, s.hour, s.destination_group): s.sent for s in traffic.stats if s.is_account_row
    }
    pooled = {(s.account, s.hour, s.destination_group): s.sent for s in traffic.stats if s.pool}
    assert (bool(pooled), {k: own[k] for k in pooled}) == (True, pooled)


def test_feedback_id_rows_split_the_gmail_mail(traffic: Traffic) -> None:
    """The Feedback-ID rows of an hour add up to the account's mail to Gmail then."""
    own = {
        (s.account, s.hour): s.sent
        for s in traffic.stats
        if s.is_account_row and s.destination_group == "gmail"
    }
    split: dict[tuple, int] = defaultdict(int)
    for s in traffic.stats:
        if s.feedback_id is not None:
            split[(s.account, s.hour)] += s.sent
    assert (bool(split), {k: own[k] for k in split}) == (True, dict(split))


def test_legitimate_senders_have_low_bounce_and_complaint_rates(
    provider: DemoProvider, traffic: Traffic
) -> None:
    """Legitimate senders bounce 0.5-2.5% and draw under 0.1% complaints."""
    rates = _rates(provider, traffic)
    assert {
        kind: (0.004 <= rates[kind][0] <= 0.025, rates[kind][1] < 0.001)
        for kind in AccountKind.LEGITIMATE
    } == dict.fromkeys(AccountKind.LEGITIMATE, (True, True))


def test_spammers_bounce_and_draw_complaints_far_more_than_legitimate_senders(
    provider: DemoProvider, traffic: Traffic
) -> None:
    """Every bad email sender's rates are several times the worst legitimate sender's."""
    rates = _rates(provider, traffic)
    worst_bounce = max(rates[k][0] for k in AccountKind.LEGITIMATE)
    worst_complaint = max(rates[k][1] for k in AccountKind.LEGITIMATE)
    assert {
        kind: (rates[kind][0] > 2 * worst_bounce, rates[kind][1] > 5 * worst_complaint)
        for kind in EMAIL_BAD_KINDS
    } == dict.fromkeys(EMAIL_BAD_KINDS, (True, True))


def test_compromised_mailboxes_flood_after_the_takeover(
    provider: DemoProvider, traffic: Traffic
) -> None:
    """After the takeover the organisation's mail is spam from the taken mailboxes only."""
    (account,) = [a for a in provider.accounts if a.kind == AccountKind.COMPROMISED_MAILBOX]
    assert account.compromised_at is not None
    after = [
        m
        for m in traffic.messages
        if m.account == account.external_id and m.sent_at >= account.compromised_at
    ]
    assert after
    assert {m.campaign for m in after} == {"mailbox_spam"}
    assert {m.sender.from_address for m in after} <= set(account.compromised_mailboxes)


def test_hosted_mailbox_messages_come_from_mailbox_resources(
    provider: DemoProvider, traffic: Traffic
) -> None:
    """The organisation's messages are sent by its mailbox resources."""
    (account,) = [a for a in provider.accounts if a.kind == AccountKind.COMPROMISED_MAILBOX]
    kinds = {m.sender.resource.kind for m in traffic.messages if m.account == account.external_id}
    assert kinds == {ResourceKind.MAILBOX}


def test_sms_pumping_goes_mostly_to_premium_destinations(
    provider: DemoProvider, traffic: Traffic
) -> None:
    """Most texts of the pumping account go to high-cost destination countries."""
    (account,) = [a for a in provider.accounts if a.kind == AccountKind.SMS_PUMPING]
    texts = [s for s in traffic.sms if s.account == account.external_id]
    premium = [s for s in texts if s.destination_country not in ("US", "GB")]
    assert len(premium) > len(texts) / 2


def test_binomial_draws_stay_within_bounds_and_near_the_mean() -> None:
    """Draws lie in [0, n] and average close to n*p in every regime."""
    rng = random.Random(0)
    for n, p in ((10, 0.3), (1000, 0.001), (100_000, 0.02)):
        draws = [binomial(rng, n, p) for _ in range(400)]
        mean = sum(draws) / len(draws)
        assert min(draws) >= 0
        assert max(draws) <= n
        assert abs(mean - n * p) <= 0.15 * n * p + 0.5
