"""Compromised hosted mailboxes: a mailbox sending unlike itself.

Each mailbox's recent window is compared with its own baseline in five ways: how much
it sends, to how many recipients, from where (client IPs and countries never seen
before), what comes back (bounces, complaints) and whether what it sends matches known
spam fingerprints. Sending more, or to more people, happens to honest users too (an
announcement, a conference invitation); so does logging in abroad. A mailbox is judged
compromised when it is unlike itself in at least two ways, at least one of which is
not merely sending more: a new place it is used from, mail bouncing or drawing
complaints, or known spam in what it sends.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from abusedesk.anomalies.model import MailboxTotals, Reason, ratio


class MailboxReason:
    """The codes of the ways a mailbox can be unlike itself."""

    VOLUME = "volume"
    RECIPIENTS = "recipient_spread"
    NEW_LOCATION = "new_location"
    BOUNCES = "bounces"
    COMPLAINTS = "complaints"
    FINGERPRINTS = "spam_fingerprints"

    # The reasons that are more than sending more: one of them must be among a verdict's.
    CORROBORATING = (NEW_LOCATION, BOUNCES, COMPLAINTS, FINGERPRINTS)


@dataclass(frozen=True)
class MailboxPolicy:
    """Thresholds of the compromise check; the defaults are documented in docs/activity.md."""

    window_hours: int = 24
    baseline_days: int = 28
    # A mailbox with less history than this has no "usual places" to compare with.
    min_history_hours: int = 72
    volume_factor: float = 5.0
    min_sent: int = 150
    # The smallest daily volume a baseline is taken to have (a quiet mailbox is not
    # suspicious for sending 20 messages one day).
    floor_sent_per_day: float = 20.0
    recipients_factor: float = 5.0
    min_recipients: int = 100
    floor_recipients_per_day: float = 20.0
    min_new_ips: int = 3
    bounce_factor: float = 3.0
    min_bounce_rate: float = 0.08
    min_bounces: int = 15
    complaint_factor: float = 5.0
    min_complaint_rate: float = 0.003
    min_complaints: int = 3
    min_fingerprint_hits: int = 5
    min_reasons: int = 2

    def __post_init__(self) -> None:
        """Refuse thresholds that cannot work."""
        if self.window_hours < 1 or self.baseline_days < 1:
            raise ValueError("the window and the baseline need at least an hour and a day")
        if self.min_reasons < 1:
            raise ValueError("a verdict needs at least one reason")


@dataclass(frozen=True)
class MailboxVerdict:
    """One mailbox judged compromised, with every way it is unlike itself."""

    account: str
    mailbox: str
    reasons: tuple[Reason, ...]
    figures: Mapping[str, float | int]

    @property
    def codes(self) -> tuple[str, ...]:
        """Return the codes of the reasons."""
        return tuple(r.code for r in self.reasons)


def assess_mailbox(
    account: str,
    mailbox: str,
    baseline: MailboxTotals | None,
    window: MailboxTotals,
    policy: MailboxPolicy,
) -> MailboxVerdict | None:
    """Return the verdict on one mailbox, or None when it behaves like itself.

    *baseline* is None for a mailbox with no figures before the window.
    """
    base = baseline or MailboxTotals(hours=0)
    reasons = [
        reason
        for reason in (
            _volume(base, window, policy),
            _recipients(base, window, policy),
            _new_location(base, window, policy),
            _bounces(base, window, policy),
            _complaints(base, window, policy),
            _fingerprints(base, window, policy),
        )
        if reason is not None
    ]
    codes = {r.code for r in reasons}
    if len(reasons) < policy.min_reasons or not codes & set(MailboxReason.CORROBORATING):
        return None
    figures: dict[str, float | int] = {
        "sent": window.sent,
        "recipients": window.recipients,
        "bounces": window.bounces,
        "complaints": window.complaints,
        "fingerprint_hits": window.fingerprint_hits,
        "window_hours": window.hours,
        "baseline_days": round(base.days, 1),
        "baseline_sent_per_day": round(_per_day(base.sent, base), 1),
    }
    return MailboxVerdict(account, mailbox, tuple(reasons), figures)


def assess_mailboxes(
    baselines: Mapping[tuple[str, str], MailboxTotals],
    windows: Mapping[tuple[str, str], MailboxTotals],
    policy: MailboxPolicy,
) -> list[MailboxVerdict]:
    """Return the verdicts on every (account, mailbox) with figures in the window."""
    verdicts = []
    for (account, mailbox), window in sorted(windows.items()):
        verdict = assess_mailbox(
            account, mailbox, baselines.get((account, mailbox)), window, policy
        )
        if verdict is not None:
            verdicts.append(verdict)
    return verdicts


def by_account(verdicts: Iterable[MailboxVerdict]) -> dict[str, list[MailboxVerdict]]:
    """Group verdicts by account, each account's mailboxes in order."""
    grouped: dict[str, list[MailboxVerdict]] = {}
    for verdict in sorted(verdicts, key=lambda v: (v.account, v.mailbox)):
        grouped.setdefault(verdict.account, []).append(verdict)
    return grouped


def account_reason(verdicts: list[MailboxVerdict]) -> str:
    """Return one sentence an analyst reads: which mailboxes, and how they changed."""
    codes = sorted({code for v in verdicts for code in v.codes})
    sent = sum(int(v.figures["sent"]) for v in verdicts)
    hours = max(int(v.figures["window_hours"]) for v in verdicts)
    names = ", ".join(v.mailbox for v in verdicts[:5])
    more = f" and {len(verdicts) - 5} more" if len(verdicts) > 5 else ""
    noun = "mailbox" if len(verdicts) == 1 else "mailboxes"
    return (
        f"{len(verdicts)} hosted {noun} ({names}{more}) sending unlike themselves: "
        f"{sent:,} messages in {hours} h; {', '.join(c.replace('_', ' ') for c in codes)}"
    )


# --- the six comparisons ------------------------------------------------------------------


def _per_day(count: int, totals: MailboxTotals) -> float:
    return ratio(count, totals.days)


def _volume(base: MailboxTotals, window: MailboxTotals, policy: MailboxPolicy) -> Reason | None:
    usual = max(_per_day(base.sent, base), policy.floor_sent_per_day)
    now = _per_day(window.sent, window)
    if window.sent < policy.min_sent or now < policy.volume_factor * usual:
        return None
    return Reason(
        MailboxReason.VOLUME,
        f"{now:,.0f} messages a day against a usual {usual:,.0f} ({now / usual:.0f}x)",
        {"sent_per_day": round(now, 1), "usual_per_day": round(usual, 1)},
    )


def _recipients(base: MailboxTotals, window: MailboxTotals, policy: MailboxPolicy) -> Reason | None:
    usual = max(_per_day(base.recipients, base), policy.floor_recipients_per_day)
    now = _per_day(window.recipients, window)
    if window.recipients < policy.min_recipients or now < policy.recipients_factor * usual:
        return None
    return Reason(
        MailboxReason.RECIPIENTS,
        f"{now:,.0f} distinct recipients a day against a usual {usual:,.0f}",
        {"recipients_per_day": round(now, 1), "usual_per_day": round(usual, 1)},
    )


def _new_location(
    base: MailboxTotals, window: MailboxTotals, policy: MailboxPolicy
) -> Reason | None:
    if base.hours < policy.min_history_hours or not base.client_ips:
        return None
    new_countries = sorted(window.client_countries - base.client_countries)
    new_ips = sorted(window.client_ips - base.client_ips)
    if not new_countries and len(new_ips) < policy.min_new_ips:
        return None
    where = f"from {', '.join(new_countries)}" if new_countries else "from its usual countries"
    return Reason(
        MailboxReason.NEW_LOCATION,
        f"used from {len(new_ips)} client IPs never seen before, {where}",
        {"new_countries": new_countries, "new_ips": len(new_ips)},
    )


def _bounces(base: MailboxTotals, window: MailboxTotals, policy: MailboxPolicy) -> Reason | None:
    usual = ratio(base.bounces, base.sent)
    now = ratio(window.bounces, window.sent)
    if window.bounces < policy.min_bounces:
        return None
    if now < max(policy.min_bounce_rate, policy.bounce_factor * usual):
        return None
    return Reason(
        MailboxReason.BOUNCES,
        f"{now:.1%} of its mail bounced against a usual {usual:.1%}",
        {"bounce_rate": round(now, 4), "usual_bounce_rate": round(usual, 4)},
    )


def _complaints(base: MailboxTotals, window: MailboxTotals, policy: MailboxPolicy) -> Reason | None:
    usual = ratio(base.complaints, base.sent)
    now = ratio(window.complaints, window.sent)
    if window.complaints < policy.min_complaints:
        return None
    if now < max(policy.min_complaint_rate, policy.complaint_factor * usual):
        return None
    return Reason(
        MailboxReason.COMPLAINTS,
        f"{window.complaints} complaints ({now:.2%}) against a usual {usual:.2%}",
        {"complaint_rate": round(now, 5), "usual_complaint_rate": round(usual, 5)},
    )


def _fingerprints(
    base: MailboxTotals, window: MailboxTotals, policy: MailboxPolicy
) -> Reason | None:
    usual = _per_day(base.fingerprint_hits, base)
    now = _per_day(window.fingerprint_hits, window)
    if window.fingerprint_hits < policy.min_fingerprint_hits or now < 5 * usual:
        return None
    return Reason(
        MailboxReason.FINGERPRINTS,
        f"{window.fingerprint_hits} messages matched known spam fingerprints",
        {"fingerprint_hits": window.fingerprint_hits},
    )
