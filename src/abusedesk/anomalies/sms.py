"""SMS pumping (artificially inflated traffic): texts nobody wanted, to ranges somebody bills.

A pumping account's texts go to destinations it does not usually serve, often at rates
it does not usually send, and almost none of them are delivered or used: the numbers
are the fraudster's, or unallocated, and no one types the passcode in.

A destination country is *usual* for an account when it took a fair share of the
account's baseline traffic and that traffic landed well there (conversions, where the
account reports them, else deliveries): pumped traffic never makes its destinations
usual, however long it runs. The verdict needs traffic unlike the account's (unusual
destinations, configured high-risk number ranges, or a jump in rate) *and* a poor
outcome for it (low conversion or low delivery), on enough messages to tell; or
unusual destinations that include high-risk ranges, whatever the outcome (an account
that reports no conversions, whose pumped texts are delivered, shows no poor outcome).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from abusedesk.anomalies.model import DestinationTotals, Reason, SmsTotals, ratio


class SmsReason:
    """The codes of the ways an account's SMS can look pumped."""

    UNUSUAL_DESTINATIONS = "unusual_destinations"
    HIGH_RISK_RANGES = "high_risk_ranges"
    RATE = "rate_jump"
    LOW_CONVERSION = "low_conversion"
    LOW_DELIVERY = "low_delivery"

    TRAFFIC = (UNUSUAL_DESTINATIONS, HIGH_RISK_RANGES, RATE)
    OUTCOME = (LOW_CONVERSION, LOW_DELIVERY)


# International networks, satellite services and the international premium-rate code:
# ranges legitimate one-time-passcode traffic hardly ever reaches.
DEFAULT_HIGH_RISK_RANGES = ("+870", "+881", "+882", "+883", "+979")


@dataclass(frozen=True)
class SmsPolicy:
    """Thresholds of the pumping check; the defaults are documented in docs/activity.md."""

    window_hours: int = 24
    baseline_days: int = 28
    min_sent: int = 100
    usual_share: float = 0.05
    healthy_conversion: float = 0.3
    healthy_delivery: float = 0.8
    min_tracked: int = 20
    unusual_share: float = 0.3
    high_risk_ranges: tuple[str, ...] = DEFAULT_HIGH_RISK_RANGES
    min_high_risk: int = 50
    rate_factor: float = 4.0
    floor_sent_per_day: float = 50.0
    max_conversion: float = 0.1
    max_delivery: float = 0.6

    def __post_init__(self) -> None:
        """Refuse thresholds that cannot work."""
        if self.window_hours < 1 or self.baseline_days < 1:
            raise ValueError("the window and the baseline need at least an hour and a day")
        if not all(r.startswith("+") and r[1:].isdigit() for r in self.high_risk_ranges):
            raise ValueError(f"high-risk ranges are + and digits: {list(self.high_risk_ranges)}")


@dataclass(frozen=True)
class PumpingVerdict:
    """One account judged to be pumping SMS, with its reasons and the suspect traffic."""

    account: str
    reasons: tuple[Reason, ...]
    figures: Mapping[str, object]
    countries: tuple[str, ...]
    ranges: tuple[str, ...]
    originations: tuple[str, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        """Return the codes of the reasons."""
        return tuple(r.code for r in self.reasons)

    def sentence(self) -> str:
        """Return one sentence an analyst reads."""
        sent = int(str(self.figures["suspect_sent"]))
        where = ", ".join(self.countries[:6]) or "its usual destinations"
        return (
            f"SMS pumping suspected: {sent:,} texts in {self.figures['window_hours']} h to "
            f"{where}; " + "; ".join(r.text for r in self.reasons)
        )


def usual_countries(baseline: SmsTotals | None, policy: SmsPolicy) -> set[str]:
    """Return the countries the account usually and successfully sends to."""
    if baseline is None:
        return set()
    total = baseline.total.sent
    usual = set()
    for country, figures in baseline.by_country.items():
        if ratio(figures.sent, total) < policy.usual_share:
            continue
        if figures.tracked >= policy.min_tracked:
            healthy = ratio(figures.converted, figures.tracked) >= policy.healthy_conversion
        else:
            healthy = ratio(figures.delivered, figures.sent) >= policy.healthy_delivery
        if healthy:
            usual.add(country)
    return usual


def is_high_risk(number_range: str, policy: SmsPolicy) -> bool:
    """Tell whether a number range falls in one of the configured high-risk ranges."""
    return any(number_range.startswith(prefix) for prefix in policy.high_risk_ranges)


def assess_account(
    account: str, baseline: SmsTotals | None, window: SmsTotals, policy: SmsPolicy
) -> PumpingVerdict | None:
    """Return the pumping verdict on one account's window, or None."""
    total = window.total
    if total.sent < policy.min_sent:
        return None
    usual = usual_countries(baseline, policy)
    unusual = {c: f for c, f in window.by_country.items() if c not in usual}
    risky = {r: f for r, f in window.by_range.items() if is_high_risk(r, policy)}
    unusual_sent = sum(f.sent for f in unusual.values())
    risky_sent = sum(f.sent for f in risky.values())
    traffic: list[Reason] = []
    if unusual_sent >= policy.min_sent and ratio(unusual_sent, total.sent) >= policy.unusual_share:
        traffic.append(
            Reason(
                SmsReason.UNUSUAL_DESTINATIONS,
                f"{ratio(unusual_sent, total.sent):.0%} of texts to countries it does not "
                f"usually reach ({', '.join(_top(unusual, 5))})",
                {"unusual_share": round(ratio(unusual_sent, total.sent), 3)},
            )
        )
    if risky_sent >= policy.min_high_risk:
        traffic.append(
            Reason(
                SmsReason.HIGH_RISK_RANGES,
                f"{risky_sent:,} texts to high-risk ranges ({', '.join(_top(risky, 5))})",
                {"high_risk_sent": risky_sent},
            )
        )
    rate = _rate(baseline, window, policy)
    if rate is not None:
        traffic.append(rate)
    if not traffic:
        return None
    # The outcome that counts is the suspect traffic's: what went where it should not.
    suspect = sum((f for f in unusual.values()), DestinationTotals())
    suspect = suspect if suspect.sent >= policy.min_sent else total
    outcome = _outcome(suspect, policy)
    codes = {r.code for r in traffic}
    # Unusual destinations that include the high-risk ranges need no outcome as well:
    # honest growth goes to new countries, not to satellite and premium-rate ranges.
    flagrant = {SmsReason.UNUSUAL_DESTINATIONS, SmsReason.HIGH_RISK_RANGES} <= codes
    if not outcome and not flagrant:
        return None
    suspect_countries = unusual if suspect is not total else window.by_country
    figures: dict[str, object] = {
        "sent": total.sent,
        "suspect_sent": suspect.sent,
        "delivery_rate": round(ratio(suspect.delivered, suspect.sent), 3),
        "conversion_rate": round(ratio(suspect.converted, suspect.tracked), 3)
        if suspect.tracked
        else None,
        "window_hours": window.hours,
        "baseline_days": round(baseline.days, 1) if baseline else 0,
        "usual_countries": sorted(usual),
        "by_country": {c: f.sent for c, f in sorted(window.by_country.items())},
    }
    return PumpingVerdict(
        account=account,
        reasons=tuple(traffic + outcome),
        figures=figures,
        countries=tuple(_top(suspect_countries, 10)),
        # The high-risk ranges first, then the busiest others.
        ranges=tuple(dict.fromkeys([*_top(risky, 10), *_top(window.by_range, 10)]))[:10],
        originations=tuple(sorted(window.originations)),
    )


def assess_accounts(
    baselines: Mapping[str, SmsTotals], windows: Mapping[str, SmsTotals], policy: SmsPolicy
) -> list[PumpingVerdict]:
    """Return the verdicts on every account with SMS in the window."""
    verdicts = []
    for account, window in sorted(windows.items()):
        verdict = assess_account(account, baselines.get(account), window, policy)
        if verdict is not None:
            verdicts.append(verdict)
    return verdicts


def _rate(baseline: SmsTotals | None, window: SmsTotals, policy: SmsPolicy) -> Reason | None:
    base_sent = baseline.total.sent if baseline else 0
    usual = max(ratio(base_sent, baseline.days) if baseline else 0.0, policy.floor_sent_per_day)
    now = ratio(window.total.sent, window.days)
    if now < policy.rate_factor * usual:
        return None
    return Reason(
        SmsReason.RATE,
        f"{now:,.0f} texts a day against a usual {usual:,.0f}",
        {"sent_per_day": round(now, 1), "usual_per_day": round(usual, 1)},
    )


def _outcome(suspect: DestinationTotals, policy: SmsPolicy) -> list[Reason]:
    reasons = []
    if suspect.tracked >= policy.min_tracked:
        conversion = ratio(suspect.converted, suspect.tracked)
        if conversion <= policy.max_conversion:
            reasons.append(
                Reason(
                    SmsReason.LOW_CONVERSION,
                    f"{conversion:.1%} of {suspect.tracked:,} passcodes used",
                    {"conversion_rate": round(conversion, 4)},
                )
            )
    delivery = ratio(suspect.delivered, suspect.sent)
    if delivery <= policy.max_delivery:
        reasons.append(
            Reason(
                SmsReason.LOW_DELIVERY,
                f"{delivery:.0%} delivered",
                {"delivery_rate": round(delivery, 4)},
            )
        )
    return reasons


def _top(figures: Mapping[str, DestinationTotals], count: int) -> Sequence[str]:
    return [k for k, _ in sorted(figures.items(), key=lambda kv: (-kv[1].sent, kv[0]))[:count]]
