"""Who may approve an action, when an action may execute, and how an appeal decision plans.

The approver of an action must not be its proposer. An action that needs a second
approver (see policy.Policy.needs_approval) cannot execute unapproved. An appeal's
reviewer must be neither the proposer nor the approver of the action appealed. An appeal
decision is ``uphold`` (nothing changes), ``overturn`` (resource actions are undone by
their opposites, newest first, and account actions by one ``reinstate``: the account was
wrongly acted on, so it returns to healthy with a fresh metrics window) or ``partial`` (the actions named to lift are undone, the rest
kept, e.g. lift pause, keep throttle); each needs a reason.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from abusedesk.enforcement.errors import (
    ApprovalRequired,
    ConflictedReviewer,
    InvalidAppealDecision,
    ReasonRequired,
    SelfApproval,
)
from abusedesk.enforcement.ladder import (
    AccountAction,
    ResourceAction,
    check_action,
    is_account_action,
    opposite,
)

_APPEALABLE = AccountAction.PUNITIVE | ResourceAction.PUNITIVE


class AppealDecision:
    """What an appeal reviewer may decide."""

    UPHOLD = "uphold"
    OVERTURN = "overturn"
    PARTIAL = "partial"

    ALL = (UPHOLD, OVERTURN, PARTIAL)


def _name(who: str, role: str) -> str:
    name = who.strip()
    if not name:
        raise ReasonRequired(f"name the {role}")
    return name


def check_approver(*, proposed_by: str, approver: str) -> str:
    """Return the approver's name; raise SelfApproval if they proposed the action."""
    name = _name(approver, "approver")
    if name == _name(proposed_by, "proposer"):
        raise SelfApproval(
            f"{name} proposed this action and cannot approve it; another analyst must approve"
        )
    return name


def check_executable(action: str, *, needs_approval: bool, approved_by: str | None) -> None:
    """Raise ApprovalRequired if *action* needs a second approver and has none."""
    check_action(action)
    if needs_approval and not (approved_by or "").strip():
        raise ApprovalRequired(
            f"{action} needs a second approver before it runs; ask another analyst to approve"
        )


def check_appeal_reviewer(reviewer: str, *, proposed_by: str, approved_by: str | None) -> str:
    """Return the reviewer's name; raise ConflictedReviewer if they proposed or approved."""
    name = _name(reviewer, "appeal reviewer")
    if name == proposed_by.strip():
        raise ConflictedReviewer(
            f"{name} proposed the action appealed; the appeal needs a reviewer who neither"
            " proposed nor approved it"
        )
    if approved_by is not None and name == approved_by.strip():
        raise ConflictedReviewer(
            f"{name} approved the action appealed; the appeal needs a reviewer who neither"
            " proposed nor approved it"
        )
    return name


@dataclass(frozen=True)
class AppealPlan:
    """What an appeal decision does: the opposite actions to run, in order, and those kept."""

    decision: str
    reason: str
    reversals: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def changes_anything(self) -> bool:
        """Tell whether the plan runs any action (anything but an uphold)."""
        return bool(self.reversals)


def plan_appeal_decision(
    decision: str,
    appealed: Sequence[str],
    *,
    reason: str,
    lift: Sequence[str] = (),
) -> AppealPlan:
    """Return the plan for *decision* on the *appealed* actions (oldest first).

    ``lift`` names, for a partial decision, the appealed actions to undo; every other
    appealed action is kept. A partial decision undoes each lifted action by its opposite,
    newest first, so a lifted pause resumes before a lifted throttle is lifted; the
    ladder checks each reversal when it runs.
    """
    text = reason.strip()
    if not text:
        raise ReasonRequired(f"say why the appeal is decided {decision}")
    if decision not in AppealDecision.ALL:
        raise InvalidAppealDecision(
            f"unknown appeal decision {decision!r}; use {', '.join(AppealDecision.ALL)}"
        )
    actions = tuple(check_action(a) for a in appealed)
    if not actions:
        raise InvalidAppealDecision("an appeal is against at least one action")
    lifting = [a for a in actions if a not in _APPEALABLE]
    if lifting:
        raise InvalidAppealDecision(f"only punitive actions are appealed, not {', '.join(lifting)}")
    if decision != AppealDecision.PARTIAL and lift:
        raise InvalidAppealDecision(
            f"name actions to lift only for a partial decision, not {decision}"
        )
    if decision == AppealDecision.UPHOLD:
        return AppealPlan(decision, text, (), actions)
    if decision == AppealDecision.OVERTURN:
        undo = [opposite(a) for a in reversed(actions) if not is_account_action(a)]
        if any(is_account_action(a) for a in actions):
            undo.append(AccountAction.REINSTATE)
        return AppealPlan(decision, text, tuple(undo), ())
    lifted = set(lift)
    unknown = sorted(lifted - set(actions))
    if unknown:
        raise InvalidAppealDecision(
            f"cannot lift {', '.join(unknown)}: not among the appealed actions"
            f" ({', '.join(actions)})"
        )
    if not lifted or lifted == set(actions):
        raise InvalidAppealDecision(
            "a partial decision lifts some appealed actions and keeps others;"
            " use overturn to lift all or uphold to keep all"
        )
    reversals = tuple(opposite(a) for a in reversed(actions) if a in lifted)
    kept = tuple(a for a in actions if a not in lifted)
    return AppealPlan(decision, text, reversals, kept)
