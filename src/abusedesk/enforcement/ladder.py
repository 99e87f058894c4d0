"""The enforcement ladder: account standings, the one table of account actions, resource actions.

An account stands on one rung: healthy, warned, under_review, throttled, paused,
suspended or terminated. Each account action is allowed from a set of standings and
leaves the account on one resulting standing (the table :data:`ACCOUNT_ACTIONS`).
Lifting actions step one rung down and keep the account watched: ``resume`` takes a
paused account back to throttled (so an appeal may lift a pause and keep the throttle),
``lift_throttle`` back to under_review, ``unsuspend`` back to paused. Only ``reinstate``
returns an account to healthy, and it restarts the account's metrics window: rates are
then computed only over mail sent after the reinstatement.

Terminated is final: the only action allowed from it is ``reinstate``, which, from
terminated, needs a second approver (see :func:`needs_second_approver`) like every
action, a reason.

Resource actions (block an identity, domain, number, sender id or mailbox; suppress an
address) do not move the account; each has an opposite that undoes it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from abusedesk.enforcement.errors import (
    ActionNotAllowed,
    NoOpposite,
    ReasonRequired,
    UnknownAction,
    UnknownStanding,
)


class Standing:
    """The rungs of the ladder, lowest first, stored as strings."""

    HEALTHY = "healthy"
    WARNED = "warned"
    UNDER_REVIEW = "under_review"
    THROTTLED = "throttled"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"

    ALL = (HEALTHY, WARNED, UNDER_REVIEW, THROTTLED, PAUSED, SUSPENDED, TERMINATED)


class AccountAction:
    """Actions that move an account on the ladder."""

    WARN = "warn"
    REVIEW = "review"
    THROTTLE = "throttle"
    PAUSE = "pause"
    SUSPEND = "suspend"
    TERMINATE = "terminate"
    CLEAR_WARNING = "clear_warning"
    END_REVIEW = "end_review"
    LIFT_THROTTLE = "lift_throttle"
    RESUME = "resume"
    UNSUSPEND = "unsuspend"
    REINSTATE = "reinstate"

    ALL = (
        WARN,
        REVIEW,
        THROTTLE,
        PAUSE,
        SUSPEND,
        TERMINATE,
        CLEAR_WARNING,
        END_REVIEW,
        LIFT_THROTTLE,
        RESUME,
        UNSUSPEND,
        REINSTATE,
    )
    # Actions that move an account up the ladder.
    PUNITIVE = frozenset({WARN, REVIEW, THROTTLE, PAUSE, SUSPEND, TERMINATE})


class ResourceAction:
    """Actions on one resource of an account; they leave the account's standing as it is."""

    BLOCK_IDENTITY = "block_identity"
    BLOCK_DOMAIN = "block_domain"
    BLOCK_NUMBER = "block_number"
    BLOCK_SENDER_ID = "block_sender_id"
    BLOCK_MAILBOX = "block_mailbox"
    SUPPRESS_ADDRESS = "suppress_address"
    UNBLOCK_IDENTITY = "unblock_identity"
    UNBLOCK_DOMAIN = "unblock_domain"
    UNBLOCK_NUMBER = "unblock_number"
    UNBLOCK_SENDER_ID = "unblock_sender_id"
    UNBLOCK_MAILBOX = "unblock_mailbox"
    UNSUPPRESS_ADDRESS = "unsuppress_address"

    ALL = (
        BLOCK_IDENTITY,
        BLOCK_DOMAIN,
        BLOCK_NUMBER,
        BLOCK_SENDER_ID,
        BLOCK_MAILBOX,
        SUPPRESS_ADDRESS,
        UNBLOCK_IDENTITY,
        UNBLOCK_DOMAIN,
        UNBLOCK_NUMBER,
        UNBLOCK_SENDER_ID,
        UNBLOCK_MAILBOX,
        UNSUPPRESS_ADDRESS,
    )
    PUNITIVE = frozenset(
        {
            BLOCK_IDENTITY,
            BLOCK_DOMAIN,
            BLOCK_NUMBER,
            BLOCK_SENDER_ID,
            BLOCK_MAILBOX,
            SUPPRESS_ADDRESS,
        }
    )


_S = Standing
_A = AccountAction
_R = ResourceAction
_NOT_TERMINATED = frozenset(_S.ALL) - {_S.TERMINATED}

# The one table of account actions: action -> (standings it may run from, resulting standing).
# Staying on the same rung is not an action.
ACCOUNT_ACTIONS: Mapping[str, tuple[frozenset[str], str]] = MappingProxyType(
    {
        _A.WARN: (frozenset({_S.HEALTHY}), _S.WARNED),
        _A.REVIEW: (frozenset({_S.HEALTHY, _S.WARNED}), _S.UNDER_REVIEW),
        _A.THROTTLE: (frozenset({_S.HEALTHY, _S.WARNED, _S.UNDER_REVIEW}), _S.THROTTLED),
        _A.PAUSE: (
            frozenset({_S.HEALTHY, _S.WARNED, _S.UNDER_REVIEW, _S.THROTTLED}),
            _S.PAUSED,
        ),
        _A.SUSPEND: (
            frozenset({_S.HEALTHY, _S.WARNED, _S.UNDER_REVIEW, _S.THROTTLED, _S.PAUSED}),
            _S.SUSPENDED,
        ),
        _A.TERMINATE: (_NOT_TERMINATED, _S.TERMINATED),
        _A.CLEAR_WARNING: (frozenset({_S.WARNED}), _S.HEALTHY),
        _A.END_REVIEW: (frozenset({_S.UNDER_REVIEW}), _S.HEALTHY),
        _A.LIFT_THROTTLE: (frozenset({_S.THROTTLED}), _S.UNDER_REVIEW),
        _A.RESUME: (frozenset({_S.PAUSED}), _S.THROTTLED),
        _A.UNSUSPEND: (frozenset({_S.SUSPENDED}), _S.PAUSED),
        _A.REINSTATE: (frozenset(_S.ALL) - {_S.HEALTHY}, _S.HEALTHY),
    }
)

# Each action and the action that undoes it. Reinstate has none: it erases the whole
# climb, and no single action puts an account back where it was.
_OPPOSITES: Mapping[str, str] = MappingProxyType(
    {
        _A.WARN: _A.CLEAR_WARNING,
        _A.REVIEW: _A.END_REVIEW,
        _A.THROTTLE: _A.LIFT_THROTTLE,
        _A.PAUSE: _A.RESUME,
        _A.SUSPEND: _A.UNSUSPEND,
        _A.TERMINATE: _A.REINSTATE,
        _R.BLOCK_IDENTITY: _R.UNBLOCK_IDENTITY,
        _R.BLOCK_DOMAIN: _R.UNBLOCK_DOMAIN,
        _R.BLOCK_NUMBER: _R.UNBLOCK_NUMBER,
        _R.BLOCK_SENDER_ID: _R.UNBLOCK_SENDER_ID,
        _R.BLOCK_MAILBOX: _R.UNBLOCK_MAILBOX,
        _R.SUPPRESS_ADDRESS: _R.UNSUPPRESS_ADDRESS,
    }
)
_REVERSE: Mapping[str, str] = MappingProxyType(
    {undo: do for do, undo in _OPPOSITES.items() if do != _A.TERMINATE}
)

ALL_ACTIONS = frozenset(_A.ALL) | frozenset(_R.ALL)


@dataclass(frozen=True)
class AccountMove:
    """One planned account action: from and to which standing, why, and what it implies."""

    action: str
    current: str
    target: str
    reason: str

    @property
    def restarts_metrics_window(self) -> bool:
        """Tell whether the account's rates start afresh after this move (reinstatement)."""
        return self.action == AccountAction.REINSTATE

    @property
    def audit_tag(self) -> str:
        """Return the audit tag for this move, e.g. ``enforcement:account:pause``."""
        return f"enforcement:account:{self.action}"

    def describe(self) -> str:
        """Return the move in words, saying when the metrics window restarts."""
        text = f"{self.action}: {self.current} -> {self.target}"
        if self.restarts_metrics_window:
            text += "; the metrics window restarts now"
        return text


def check_standing(standing: str) -> str:
    """Return *standing* if it is a rung of the ladder; raise UnknownStanding otherwise."""
    if standing not in Standing.ALL:
        raise UnknownStanding(
            f"unknown account standing {standing!r}; known: {', '.join(Standing.ALL)}"
        )
    return standing


def check_action(action: str) -> str:
    """Return *action* if it is an account or resource action; raise UnknownAction otherwise."""
    if action not in ALL_ACTIONS:
        raise UnknownAction(
            f"unknown action {action!r}; account actions: {', '.join(AccountAction.ALL)};"
            f" resource actions: {', '.join(ResourceAction.ALL)}"
        )
    return action


def is_account_action(action: str) -> bool:
    """Tell whether *action* moves the account (rather than one resource)."""
    return check_action(action) in ACCOUNT_ACTIONS


def allowed_actions(standing: str) -> frozenset[str]:
    """Return the account actions allowed for an account that is *standing*."""
    check_standing(standing)
    return frozenset(a for a, (sources, _) in ACCOUNT_ACTIONS.items() if standing in sources)


def needs_second_approver(action: str, standing: str) -> bool:
    """Tell whether the ladder itself asks a second approver (reinstating a terminated account).

    The policy adds its own list (suspend and terminate always); see policy.Policy.
    """
    return action == AccountAction.REINSTATE and standing == Standing.TERMINATED


def plan_account_action(standing: str, action: str, *, reason: str) -> AccountMove:
    """Return the move *action* makes from *standing*; raise when the table forbids it."""
    check_standing(standing)
    if check_action(action) not in ACCOUNT_ACTIONS:
        raise UnknownAction(f"{action} acts on a resource, not on the account's standing")
    sources, target = ACCOUNT_ACTIONS[action]
    if standing not in sources:
        raise ActionNotAllowed(action, standing, allowed_actions(standing))
    text = reason.strip()
    if not text:
        raise ReasonRequired(f"say why the account gets {action}")
    return AccountMove(action, standing, target, text)


def opposite(action: str) -> str:
    """Return the action that undoes *action* (and the other way round, e.g. resume -> pause)."""
    check_action(action)
    if action in _OPPOSITES:
        return _OPPOSITES[action]
    if action in _REVERSE:
        return _REVERSE[action]
    raise NoOpposite(
        f"{action} has no single opposite: it returns the account to healthy from any rung;"
        " propose the punitive action again if it was wrong"
    )
