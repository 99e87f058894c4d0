"""What a monitor raises: a signal draft with its reason, figures and the step it asks for.

Every monitor (rates, blocklists, spikes, linked accounts, mailbox compromise, SMS
pumping) returns drafts; `abusedesk.monitoring.rules` decides what each does to casework,
and storage records it once per dedupe key.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class SignalKind:
    """The kinds of signal, named ``<monitor>.<what>``."""

    RATE_REVIEW = "rate.under_review"
    RATE_PENDING_PAUSE = "rate.pending_pause"
    RATE_HEALED = "rate.healed"
    SPAM_TRAP = "rate.spam_trap"
    BLOCKLIST_LISTED = "blocklist.listed"
    BLOCKLIST_DELISTED = "blocklist.delisted"
    SPIKE = "spike.jump"
    SENDING_BURST = "spike.new_account_burst"
    REPORTER_COLLAPSE = "spike.reporter_collapse"
    LINKED_TO_TERMINATED = "link.terminated_account"
    CLUSTER = "link.cluster"
    # A link or cluster signal's situation is over (the link went, the cluster changed).
    LINK_ENDED = "link.ended"
    MAILBOX_COMPROMISE = "activity.mailbox_compromise"
    SMS_PUMPING = "activity.sms_pumping"
    # A compromise or pumping episode ended: quiet for the monitor's quiet hours.
    ACTIVITY_ENDED = "activity.ended"


class Severity:
    """How urgent a signal is: it sets the priority a case it opens or escalates gets."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    ALL = (LOW, MEDIUM, HIGH)


class Step:
    """The ladder step a signal asks for; `none` only records and, by rule, opens a case."""

    NONE = "none"
    REVIEW = "review"
    PROPOSE_PAUSE = "propose_pause"

    ALL = (NONE, REVIEW, PROPOSE_PAUSE)


@dataclass(frozen=True)
class SignalDraft:
    """One signal a monitor wants raised.

    *subject_type* and *subject_id* name what the signal is about (``account`` and its
    id, ``ip`` and the address, ``domain``, ``reporter``, ``cluster``, ``identity``,
    ``configuration_set``, ``ip_pool``, ``feedback_id``, ``destination_group``);
    *account_id* is the account it concerns, if any: only those can open cases.
    *figures* must be JSON-able. The same *dedupe_key* raises once. *resolves* names the
    dedupe key of an earlier signal this one ends (a delisting ends its listing).
    """

    kind: str
    subject_type: str
    subject_id: str
    reason: str
    figures: Mapping[str, Any]
    at: datetime
    dedupe_key: str
    account_id: int | None = None
    severity: str = Severity.LOW
    step: str = Step.NONE
    resolves: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
