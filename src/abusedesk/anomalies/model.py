"""Hourly activity figures of hosted mailboxes and SMS originators, and totals over periods.

A provider counts, per hour, what each hosted mailbox sent (messages, distinct
recipients, the client IPs and countries it was used from, bounces and complaints
coming back, hits on known spam fingerprints) and what each SMS origination number or
sender id sent per destination country and number range (sent, delivered, and, where
the customer reports them, conversions: one-time passcodes actually used).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Reason:
    """One way an account's activity is unlike its own: a code, a sentence and its figures."""

    code: str
    text: str
    figures: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MailboxHour:
    """What one hosted mailbox sent in one hour, and what came back."""

    account: str
    mailbox: str
    hour: datetime
    sent: int
    recipients: int
    bounces: int = 0
    complaints: int = 0
    fingerprint_hits: int = 0
    client_ips: tuple[str, ...] = ()
    client_countries: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        """Return what makes these figures impossible (empty when they are sound)."""
        found = _hour_problems(self.hour)
        counts = {
            "sent": self.sent,
            "recipients": self.recipients,
            "bounces": self.bounces,
            "complaints": self.complaints,
            "fingerprint_hits": self.fingerprint_hits,
        }
        found += [f"{name} is negative ({value})" for name, value in counts.items() if value < 0]
        for name in ("bounces", "complaints", "fingerprint_hits"):
            if counts[name] > self.sent:
                found.append(f"{name} ({counts[name]}) exceed messages sent ({self.sent})")
        if not self.mailbox or "@" not in self.mailbox:
            found.append(f"mailbox {self.mailbox!r} is not an address")
        if any(len(c) != 2 or not c.isalpha() for c in self.client_countries):
            found.append(f"client countries {list(self.client_countries)} are not ISO codes")
        return found


@dataclass(frozen=True)
class SmsHour:
    """What one origination number or sender id sent in one hour to one number range.

    *converted* is None where the account reports no conversions.
    """

    account: str
    origination: str
    hour: datetime
    country: str
    number_range: str
    sent: int
    delivered: int
    converted: int | None = None

    def problems(self) -> list[str]:
        """Return what makes these figures impossible (empty when they are sound)."""
        found = _hour_problems(self.hour)
        if self.sent < 0 or self.delivered < 0 or (self.converted or 0) < 0:
            found.append("a count is negative")
        if self.delivered > self.sent:
            found.append(f"delivered ({self.delivered}) exceeds sent ({self.sent})")
        if self.converted is not None and self.converted > self.sent:
            found.append(f"converted ({self.converted}) exceeds sent ({self.sent})")
        if len(self.country) != 2 or not self.country.isalpha():
            found.append(f"destination country {self.country!r} is not an ISO code")
        if not self.number_range.startswith("+") or not self.number_range[1:].isdigit():
            found.append(f"number range {self.number_range!r} is not + and digits")
        if not self.origination:
            found.append("no origination")
        return found


def _hour_problems(hour: datetime) -> list[str]:
    if hour.tzinfo is None:
        return [f"hour {hour.isoformat()} has no time zone"]
    if (hour.minute, hour.second, hour.microsecond) != (0, 0, 0):
        return [f"hour {hour.isoformat()} is not on the hour"]
    return []


@dataclass(frozen=True)
class MailboxTotals:
    """A mailbox's figures summed over a period of *hours* hours."""

    hours: int
    sent: int = 0
    recipients: int = 0
    bounces: int = 0
    complaints: int = 0
    fingerprint_hits: int = 0
    client_ips: frozenset[str] = frozenset()
    client_countries: frozenset[str] = frozenset()

    @property
    def days(self) -> float:
        """Return the period's length in days."""
        return self.hours / 24


@dataclass(frozen=True)
class DestinationTotals:
    """An account's SMS to one destination country (or range), summed over a period.

    *tracked* counts the messages whose conversions the account reports; *converted*
    how many of those converted.
    """

    sent: int = 0
    delivered: int = 0
    tracked: int = 0
    converted: int = 0

    def __add__(self, other: "DestinationTotals") -> "DestinationTotals":
        """Return the sum of two totals."""
        return DestinationTotals(
            self.sent + other.sent,
            self.delivered + other.delivered,
            self.tracked + other.tracked,
            self.converted + other.converted,
        )


@dataclass(frozen=True)
class SmsTotals:
    """An account's SMS over a period: per country, per number range, and its originations."""

    hours: int
    by_country: Mapping[str, DestinationTotals] = field(default_factory=dict)
    by_range: Mapping[str, DestinationTotals] = field(default_factory=dict)
    originations: frozenset[str] = frozenset()

    @property
    def total(self) -> DestinationTotals:
        """Return the totals over every destination."""
        return sum(self.by_country.values(), DestinationTotals())

    @property
    def days(self) -> float:
        """Return the period's length in days."""
        return self.hours / 24


def mailbox_totals(
    hours: Iterable[MailboxHour], start: datetime, end: datetime, *, since_first: bool
) -> dict[tuple[str, str], MailboxTotals]:
    """Sum each (account, mailbox)'s hours in [start, end).

    With *since_first* (baselines) a mailbox's period starts at its first hour with
    figures, so a young mailbox's daily means are not diluted by days before it existed;
    without it (windows) the period is the whole of [start, end).
    """
    sums: dict[tuple[str, str], list[Any]] = {}
    for row in hours:
        if not start <= row.hour < end:
            continue
        key = (row.account, row.mailbox)
        entry = sums.setdefault(key, [row.hour, 0, 0, 0, 0, 0, set(), set()])
        entry[0] = min(entry[0], row.hour)
        entry[1] += row.sent
        entry[2] += row.recipients
        entry[3] += row.bounces
        entry[4] += row.complaints
        entry[5] += row.fingerprint_hits
        entry[6].update(row.client_ips)
        entry[7].update(row.client_countries)
    return {
        key: MailboxTotals(
            hours=hours_between(first if since_first else start, end),
            sent=sent,
            recipients=recipients,
            bounces=bounces,
            complaints=complaints,
            fingerprint_hits=hits,
            client_ips=frozenset(ips),
            client_countries=frozenset(countries),
        )
        for key, (
            first,
            sent,
            recipients,
            bounces,
            complaints,
            hits,
            ips,
            countries,
        ) in sums.items()
    }


def sms_totals(
    hours: Iterable[SmsHour], start: datetime, end: datetime, *, since_first: bool
) -> dict[str, SmsTotals]:
    """Sum each account's SMS hours in [start, end) per country and number range.

    *since_first* as for `mailbox_totals`.
    """
    firsts: dict[str, datetime] = {}
    countries: dict[str, dict[str, DestinationTotals]] = {}
    ranges: dict[str, dict[str, DestinationTotals]] = {}
    originations: dict[str, set[str]] = {}
    for row in hours:
        if not start <= row.hour < end:
            continue
        firsts[row.account] = min(firsts.get(row.account, row.hour), row.hour)
        figures = DestinationTotals(
            row.sent,
            row.delivered,
            0 if row.converted is None else row.sent,
            row.converted or 0,
        )
        by_country = countries.setdefault(row.account, {})
        by_country[row.country] = by_country.get(row.country, DestinationTotals()) + figures
        by_range = ranges.setdefault(row.account, {})
        by_range[row.number_range] = by_range.get(row.number_range, DestinationTotals()) + figures
        originations.setdefault(row.account, set()).add(row.origination)
    return {
        account: SmsTotals(
            hours=hours_between(first if since_first else start, end),
            by_country=countries[account],
            by_range=ranges[account],
            originations=frozenset(originations[account]),
        )
        for account, first in firsts.items()
    }


def hours_between(start: datetime, end: datetime) -> int:
    """Return the whole hours in [start, end), at least one."""
    return max(1, int((end - start) / HOUR))


def ratio(part: float, whole: float) -> float:
    """Return part / whole, or 0 when whole is 0."""
    return part / whole if whole else 0.0
