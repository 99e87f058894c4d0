"""What goes wrong with the enforcement ladder, its policy, approvals and appeals."""

from collections.abc import Iterable, Sequence

from abusedesk.core.errors import AbuseDeskError


class UnknownStanding(AbuseDeskError):
    """Raise when a standing name is not one of the ladder's standings."""


class UnknownAction(AbuseDeskError):
    """Raise when an action name is not an account or resource action."""


class ActionNotAllowed(AbuseDeskError):
    """Raise when an account action may not run from the account's current standing."""

    def __init__(self, action: str, standing: str, allowed: Iterable[str]) -> None:
        self.action = action
        self.standing = standing
        self.allowed = tuple(sorted(allowed))
        choices = ", ".join(self.allowed) if self.allowed else "none"
        super().__init__(
            f"cannot {action} an account that is {standing}; allowed from {standing}: {choices}"
        )


class NoOpposite(AbuseDeskError):
    """Raise when an action has no single opposite action that reverses it."""


class ReasonRequired(AbuseDeskError):
    """Raise when an action, approval or appeal decision needs a reason in words and has none."""


class InvalidPolicy(AbuseDeskError):
    """Raise when an enforcement policy cannot be loaded; lists each problem with its place."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid enforcement policy: " + "; ".join(self.problems))


class SelfApproval(AbuseDeskError):
    """Raise when the analyst who proposed an action tries to approve it."""


class ApprovalRequired(AbuseDeskError):
    """Raise when an action that needs a second approver is executed unapproved."""


class ConflictedReviewer(AbuseDeskError):
    """Raise when an appeal's reviewer proposed or approved the action appealed."""


class InvalidAppealDecision(AbuseDeskError):
    """Raise when an appeal decision is unknown or its lifted and kept actions do not fit."""
