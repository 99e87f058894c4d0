"""What the case page shows about enforcement: the account's actions, the propose form with
the account's figures and what the policy says of them, the customer messages and appeals,
and the monitors' signals that opened or joined the case.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from abusedesk.access.model import (
    ACTION_APPROVE,
    ACTION_PROPOSE,
    APPEAL_REVIEW,
    CASE_WORK,
    User,
)
from abusedesk.enforcement.ladder import (
    AccountAction,
    ResourceAction,
    allowed_actions,
)
from abusedesk.enforcement.policy import Policy
from abusedesk.reputation.rates import BOUNCE_RATE, COMPLAINT_RATE, AccountFigures, Rate, percent
from abusedesk.storage import action_views, appeals, notices
from abusedesk.storage.enforcement import current_policy
from abusedesk.storage.reputation import account_figures
from abusedesk.storage.signals import find_signals

# What a page says after a step on an action, by the action's state afterwards.
ACTION_DONE: Final = {
    "proposed": "The action is proposed; it waits for a second analyst.",
    "approved": "The action is approved.",
    "executed": "The action is executed.",
    "failed": "The connector failed; the action is not executed and will be tried again.",
    "dead": "The connector gave up on the action: it is in the dead letters, not executed.",
    "rejected": "The action is rejected.",
    "requeued": "The suppression list is back in line; the next sweep pushes it.",
    "resent": "The message is back in line; the next delivery sweep sends it.",
}

# The causes the policy's repeat rules count by; analysts may type another.
CAUSES = (COMPLAINT_RATE, BOUNCE_RATE, "spam", "phishing", "malware", "fraud", "other")


@dataclass(frozen=True)
class PolicyHint:
    """What the policy in force says of one of the account's rates."""

    metric: str
    action: str | None
    words: str


def policy_hints(policy: Policy, figures: AccountFigures) -> list[PolicyHint]:
    """Return, per rate, the action the policy's thresholds ask for and why, in words."""
    return [_hint(policy, figures.rate(metric)) for metric in (COMPLAINT_RATE, BOUNCE_RATE)]


def _hint(policy: Policy, rate: Rate) -> PolicyHint:
    value = rate.value
    if value is None:
        return PolicyHint(rate.metric, None, f"{rate.sentence()}: nothing to weigh")
    limits = policy.thresholds[rate.metric]
    action = policy.action_for_rate(rate.metric, value)
    bounds = f"review at {percent(limits.review)}, pause at {percent(limits.pause)}"
    verdict = f"policy v{policy.version} says {action}" if action else "below the thresholds"
    caveat = "" if rate.representative else "; too few messages to be representative"
    return PolicyHint(rate.metric, action, f"{rate.sentence()}: {verdict} ({bounds}){caveat}")


def proposable_actions(standing: str) -> list[str]:
    """Return the actions an analyst may propose for an account that is *standing*.

    Account actions the ladder allows from the standing, then the punitive resource
    actions; undoing an action goes through its reverse button, which links the two.
    """
    account = sorted(allowed_actions(standing), key=AccountAction.ALL.index)
    resource = [a for a in ResourceAction.ALL if a in ResourceAction.PUNITIVE]
    return [*account, *resource]


def figure_lines(figures: dict[str, float | str]) -> str:
    """Return figures as the propose form's text: one ``name: value`` per line."""
    return "\n".join(f"{name}: {value}" for name, value in figures.items())


def enforcement_panels(
    session: Session, *, case_id: int, account_id: int, standing: str, user: User, now: datetime
) -> dict[str, Any]:
    """Return the case page's context for its actions, messages, appeals and signals panels.

    The account's figures are read at *now*; the messages are the case's thread with the
    customer (and reporters' acknowledgements), oldest first.
    """
    policy = current_policy(session)
    figures = account_figures(session, account_id, now)
    lines = action_views.account_action_lines(session, account_id)
    return {
        "actions": lines,
        "policy": policy,
        "figures": figures,
        "figure_text": figure_lines(figures.evidence()),
        "policy_hints": policy_hints(policy, figures),
        "proposable": proposable_actions(standing),
        "resource_actions": sorted(ResourceAction.PUNITIVE),
        "resource_choices": action_views.resource_choices(session, account_id),
        "causes": CAUSES,
        "may_propose": user.may(ACTION_PROPOSE),
        "may_approve": user.may(ACTION_APPROVE),
        "may_review": user.may(APPEAL_REVIEW),
        "may_resend": user.may(CASE_WORK),
        "messages": notices.case_messages(session, case_id),
        "appeals": appeals.case_appeals(session, case_id),
        "case_signals": find_signals(session, case_id=case_id, limit=100),
        "now": now,
    }
