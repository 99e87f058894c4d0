"""Compromised mailboxes and SMS pumping: precision and recall on the simulated providers.

    uv run python bench/anomalies.py --seed S [--providers P --accounts N --days D
        --eval-days E --step-hours H]

The simulator plants few compromised organisations and pumping accounts in one provider
(one in sixty accounts each), so each seed generates *P* providers (seeds ``S*1000+i``)
and pools the figures. Each provider's traffic becomes hourly activity figures
(``abusedesk.demo.activity``); the checks then replay as the monitor runs them, every
*H* hours over the last *E* days, each time comparing the last window with the baseline
before it. An account counts as found when any run flags it; a compromised organisation
flagged before its mailboxes were taken counts as a false alarm. The innocent surprises
(an announcement, a trip abroad, an SMS campaign, a new SMS country) are reported with
how many of them were flagged.

Exit status: 0 when every figure meets its goal, 1 otherwise.
"""

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from abusedesk.anomalies.mailbox import MailboxPolicy, assess_mailboxes  # noqa: E402
from abusedesk.anomalies.model import mailbox_totals, sms_totals  # noqa: E402
from abusedesk.anomalies.sms import SmsPolicy, assess_accounts  # noqa: E402
from abusedesk.attribution.keys import ResourceKind  # noqa: E402
from abusedesk.demo.activity import InnocentSurprise, Surprise, generate_activity  # noqa: E402
from abusedesk.demo.model import AccountKind, DemoAccount, DemoProvider  # noqa: E402
from abusedesk.demo.provider import generate_provider  # noqa: E402
from abusedesk.demo.traffic import generate_traffic  # noqa: E402

GOAL_PRECISION = 0.95
GOAL_RECALL = 0.90
# Hours from a takeover to the first flag, at the median.
GOAL_MEDIAN_DELAY_HOURS = 12.0
END = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Score:
    """True and false positives and negatives of one detector, with what was wrong."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """Return TP / (TP + FP), 1 when nothing was flagged."""
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        """Return TP / (TP + FN), 1 when there was nothing to find."""
        planted = self.true_positives + self.false_negatives
        return self.true_positives / planted if planted else 1.0


@dataclass
class Result:
    """The figures of one seed."""

    seed: int
    providers: int
    mailbox_accounts: Score = field(default_factory=Score)
    mailboxes: Score = field(default_factory=Score)
    sms: Score = field(default_factory=Score)
    delays: list[float] = field(default_factory=list)
    surprises: dict[str, list[int]] = field(default_factory=dict)
    # How often each reason was among a verdict's at the first flag of a planted account.
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def median_delay(self) -> float:
        """Return the median hours from takeover to first flag (0 with none found)."""
        return statistics.median(self.delays) if self.delays else 0.0

    def meets_goals(self) -> bool:
        """Tell whether every figure meets its goal."""
        scores = (self.mailbox_accounts, self.sms)
        return (
            all(s.precision >= GOAL_PRECISION and s.recall >= GOAL_RECALL for s in scores)
            and self.median_delay <= GOAL_MEDIAN_DELAY_HOURS
        )


def measure(
    *,
    seed: int,
    providers: int = 6,
    accounts: int = 120,
    days: int = 42,
    eval_days: int = 7,
    step_hours: int = 6,
    mailbox_policy: MailboxPolicy | None = None,
    sms_policy: SmsPolicy | None = None,
) -> Result:
    """Generate *providers* providers for *seed*, replay the checks, and score them."""
    started = time.perf_counter()
    mailbox_policy = mailbox_policy or MailboxPolicy()
    sms_policy = sms_policy or SmsPolicy()
    result = Result(seed=seed, providers=providers)
    for index in range(providers):
        provider = generate_provider(
            seed=seed * 1000 + index, accounts=accounts, days=days, end=END
        )
        _score_provider(
            provider,
            result,
            eval_days=eval_days,
            step_hours=step_hours,
            mailbox_policy=mailbox_policy,
            sms_policy=sms_policy,
        )
    result.seconds = time.perf_counter() - started
    return result


def _score_provider(
    provider: DemoProvider,
    result: Result,
    *,
    eval_days: int,
    step_hours: int,
    mailbox_policy: MailboxPolicy,
    sms_policy: SmsPolicy,
) -> None:
    # Only accounts with mailboxes or SMS senders make activity figures; each account's
    # traffic comes from its own random streams, so leaving the others out changes nothing.
    active = replace(provider, accounts=tuple(a for a in provider.accounts if _has_activity(a)))
    activity = generate_activity(provider, generate_traffic(active, with_stats=False))
    # When each account and mailbox was first flagged, by each check.
    mailbox_flags: dict[tuple[str, str], datetime] = {}
    sms_flags: dict[str, datetime] = {}
    at = provider.end - timedelta(days=eval_days)
    while at <= provider.end:
        window_start = at - timedelta(hours=mailbox_policy.window_hours)
        baseline_start = window_start - timedelta(days=mailbox_policy.baseline_days)
        for verdict in assess_mailboxes(
            mailbox_totals(activity.mailboxes, baseline_start, window_start, since_first=True),
            mailbox_totals(activity.mailboxes, window_start, at, since_first=False),
            mailbox_policy,
        ):
            if (verdict.account, verdict.mailbox) not in mailbox_flags:
                mailbox_flags[verdict.account, verdict.mailbox] = at
                _tally_reasons(result, verdict.codes)
        sms_window = at - timedelta(hours=sms_policy.window_hours)
        sms_baseline = sms_window - timedelta(days=sms_policy.baseline_days)
        for pumping in assess_accounts(
            sms_totals(activity.sms, sms_baseline, sms_window, since_first=True),
            sms_totals(activity.sms, sms_window, at, since_first=False),
            sms_policy,
        ):
            if pumping.account not in sms_flags:
                sms_flags[pumping.account] = at
                _tally_reasons(result, pumping.codes)
        at += timedelta(hours=step_hours)
    _score_mailboxes(provider, mailbox_flags, result)
    _score_sms(provider, sms_flags, result)
    replayed = provider.end - timedelta(days=eval_days)
    _score_surprises(
        provider,
        activity.surprises,
        replayed=replayed,
        mailbox_flags=mailbox_flags,
        sms_flags=sms_flags,
        result=result,
    )


def _tally_reasons(result: Result, codes: tuple[str, ...]) -> None:
    for code in codes:
        result.reasons[code] = result.reasons.get(code, 0) + 1


def _has_activity(account: DemoAccount) -> bool:
    kinds = {r.kind for r in account.resources}
    return bool(
        kinds & {ResourceKind.MAILBOX, ResourceKind.ORIGINATION_NUMBER, ResourceKind.SENDER_ID}
    )


def _score_mailboxes(
    provider: DemoProvider, flags: dict[tuple[str, str], datetime], result: Result
) -> None:
    for account in provider.accounts:
        mine = {box: at for (owner, box), at in flags.items() if owner == account.external_id}
        taken_at = account.compromised_at
        in_time = {box: at for box, at in mine.items() if taken_at is not None and at >= taken_at}
        early = {box: at for box, at in mine.items() if box not in in_time}
        score = result.mailbox_accounts
        if account.kind == AccountKind.COMPROMISED_MAILBOX and in_time and taken_at is not None:
            score.true_positives += 1
            result.delays.append((min(in_time.values()) - taken_at) / timedelta(hours=1))
        elif account.kind == AccountKind.COMPROMISED_MAILBOX:
            score.false_negatives += 1
            score.wrong.append(f"missed {account.external_id} (taken {taken_at:%m-%d %H:%M})")
        if early:
            score.false_positives += 1
            score.wrong.append(f"false alarm on {account.external_id}: {sorted(early)}")
        boxes = result.mailboxes
        for box in account.compromised_mailboxes:
            if box in in_time:
                boxes.true_positives += 1
            else:
                boxes.false_negatives += 1
        for box in mine:
            if box not in account.compromised_mailboxes or box in early:
                boxes.false_positives += 1


def _score_sms(provider: DemoProvider, flags: dict[str, datetime], result: Result) -> None:
    score = result.sms
    for account in provider.accounts:
        pumping = account.kind == AccountKind.SMS_PUMPING
        flagged = account.external_id in flags
        if pumping and flagged:
            score.true_positives += 1
        elif pumping:
            score.false_negatives += 1
            score.wrong.append(f"missed pumping {account.external_id}")
        elif flagged:
            score.false_positives += 1
            score.wrong.append(f"false alarm on {account.external_id} ({account.kind})")


def _score_surprises(
    provider: DemoProvider,
    surprises: tuple[InnocentSurprise, ...],
    *,
    replayed: datetime,
    mailbox_flags: dict[tuple[str, str], datetime],
    sms_flags: dict[str, datetime],
    result: Result,
) -> None:
    """Count the surprises a replayed window saw, and those flagged while they showed.

    A taken mailbox flagged after its takeover is rightly flagged, surprise or not.
    """
    shows = timedelta(days=1)
    for surprise in surprises:
        if surprise.end + shows < replayed:
            continue
        account = provider.account(surprise.account)
        if surprise.kind in (Surprise.ANNOUNCEMENT, Surprise.TRAVEL):
            at = mailbox_flags.get((surprise.account, surprise.subject))
            taken = surprise.subject in account.compromised_mailboxes
            if taken and at is not None and account.compromised_at is not None:
                at = None if at >= account.compromised_at else at
        else:
            at = sms_flags.get(surprise.account)
        seen = at is not None and surprise.start <= at <= surprise.end + shows
        tally = result.surprises.setdefault(surprise.kind, [0, 0])
        tally[0] += 1
        tally[1] += int(seen)


def print_result(result: Result) -> None:
    """Print the figures beside their goals."""

    def line(name: str, value: float, goal: float, *, at_most: bool = False) -> None:
        ok = value <= goal if at_most else value >= goal
        sign = "<=" if at_most else ">="
        print(f"  {name:<38} {value:8.3f}   goal {sign} {goal:<6} {'ok' if ok else 'MISSED'}")

    print(f"seed {result.seed}: {result.providers} providers, {result.seconds:.1f} s")
    for title, score in (
        ("mailbox compromise (accounts)", result.mailbox_accounts),
        ("SMS pumping (accounts)", result.sms),
    ):
        print(
            f"{title}: TP {score.true_positives}  FP {score.false_positives}  "
            f"FN {score.false_negatives}"
        )
        line("precision", score.precision, GOAL_PRECISION)
        line("recall", score.recall, GOAL_RECALL)
    boxes = result.mailboxes
    print(
        f"mailboxes taken over: precision {boxes.precision:.3f}  recall {boxes.recall:.3f}  "
        f"(TP {boxes.true_positives} FP {boxes.false_positives} FN {boxes.false_negatives})"
    )
    line(
        "median hours from takeover to flag",
        result.median_delay,
        GOAL_MEDIAN_DELAY_HOURS,
        at_most=True,
    )
    for kind, (count, flagged) in sorted(result.surprises.items()):
        print(f"  innocent {kind:<20} {count:3d} planted, {flagged:3d} flagged")
    print(
        "  reasons at first flag: "
        + ", ".join(f"{k} {v}" for k, v in sorted(result.reasons.items()))
    )
    for wrong in result.mailbox_accounts.wrong + result.sms.wrong:
        print(f"  - {wrong}")


def main() -> int:
    """Measure one seed and print the figures; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--providers", type=int, default=6)
    parser.add_argument("--accounts", type=int, default=120)
    parser.add_argument("--days", type=int, default=42)
    parser.add_argument("--eval-days", type=int, default=7)
    parser.add_argument("--step-hours", type=int, default=6)
    args = parser.parse_args()
    result = measure(
        seed=args.seed,
        providers=args.providers,
        accounts=args.accounts,
        days=args.days,
        eval_days=args.eval_days,
        step_hours=args.step_hours,
    )
    print_result(result)
    return 0 if result.meets_goals() else 1


if __name__ == "__main__":
    sys.exit(main())
