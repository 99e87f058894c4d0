"""The simulated traffic as hourly mailbox and SMS figures, with the truth kept apart."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from abusedesk.demo.activity import Activity, Surprise, generate_activity, number_range
from abusedesk.demo.model import AccountKind, DemoProvider
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.traffic import generate_traffic, hourly_volumes

END = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def provider() -> DemoProvider:
    """Return a provider of 20 accounts over 30 days."""
    return generate_provider(seed=31, accounts=20, days=30, end=END)


@pytest.fixture(scope="module")
def activity(provider: DemoProvider) -> Activity:
    """Return the provider's activity figures."""
    return generate_activity(provider, generate_traffic(provider, with_stats=False))


def _kind(provider: DemoProvider, kind: str) -> str:
    return next(a.external_id for a in provider.accounts if a.kind == kind)


def test_the_same_provider_gives_the_same_figures(
    provider: DemoProvider, activity: Activity
) -> None:
    """Figures come from the seed alone."""
    again = generate_activity(provider, generate_traffic(provider, with_stats=False))

    assert again == activity


def test_every_row_is_sound(activity: Activity) -> None:
    """No generated row has impossible figures."""
    assert [r for r in (*activity.mailboxes, *activity.sms) if r.problems()] == []


def test_taken_mailboxes_are_used_from_abroad_after_the_takeover(
    provider: DemoProvider, activity: Activity
) -> None:
    """After the takeover the taken mailboxes are used from countries they never were before."""
    account = provider.account(_kind(provider, AccountKind.COMPROMISED_MAILBOX))
    assert account.compromised_at is not None
    taken = set(account.compromised_mailboxes)
    rows = [r for r in activity.mailboxes if r.account == account.external_id]
    before = {c for r in rows if r.hour < account.compromised_at for c in r.client_countries}
    after = {
        c
        for r in rows
        if r.hour >= account.compromised_at and r.mailbox in taken
        for c in r.client_countries
    }

    assert after - before - {account.country}


def test_mailbox_messages_add_up_to_the_simulated_volume(
    provider: DemoProvider, activity: Activity
) -> None:
    """An organisation whose every sender is a mailbox sends what the simulator says it
    sent, plus its announcements (150 to 400 messages each)."""
    account = provider.account(_kind(provider, AccountKind.COMPROMISED_MAILBOX))
    sent = sum(r.sent for r in activity.mailboxes if r.account == account.external_id)
    announcements = sum(
        1
        for s in activity.surprises
        if s.account == account.external_id and s.kind == Surprise.ANNOUNCEMENT
    )
    volume = sum(v.sent for v in hourly_volumes(provider, account))

    assert volume + 150 * announcements <= sent <= volume + 400 * announcements


def test_a_pumping_account_is_scaled_up_to_its_volume(
    provider: DemoProvider, activity: Activity
) -> None:
    """Each hour of a pumping account's sampled texts becomes that hour's whole volume."""
    account = provider.account(_kind(provider, AccountKind.SMS_PUMPING))
    figures: dict[datetime, int] = {}
    for row in activity.sms:
        if row.account == account.external_id:
            figures[row.hour] = figures.get(row.hour, 0) + row.sent
    sampled: dict[datetime, int] = {}
    for text in generate_traffic(provider, with_stats=False).sms:
        if text.account == account.external_id:
            hour = text.sent_at.replace(minute=0, second=0, microsecond=0)
            sampled[hour] = sampled.get(hour, 0) + 1
    volumes = {v.hour: v.sent for v in hourly_volumes(provider, account)}

    assert figures == {hour: max(n, volumes.get(hour, 0)) for hour, n in sampled.items()}


def test_leaving_other_accounts_out_changes_nothing(
    provider: DemoProvider, activity: Activity
) -> None:
    """Each account's figures come from its own streams."""
    pumping = _kind(provider, AccountKind.SMS_PUMPING)
    alone = replace(provider, accounts=(provider.account(pumping),))

    figures = generate_activity(alone, generate_traffic(alone, with_stats=False))

    assert figures.sms == tuple(r for r in activity.sms if r.account == pumping)


def test_a_masked_destination_gives_its_range() -> None:
    """The digits before the mask name the number range."""
    assert number_range("+88213XXXX456") == "+88213"
