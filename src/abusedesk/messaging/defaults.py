"""The built-in notice templates, used until an admin saves a version of their own.

Every action uses the one action template (its words say what happened); the messages
about appeals and the reporter's acknowledgement have their own.
"""

from typing import Final

from abusedesk.messaging.templates import (
    ACTION_NOTICE,
    APPEAL_DECISION,
    APPEAL_RECEIVED,
    REPORTER_ACK,
)

# What each action did, as the notice's sentence "We have <words>." says it.
ACTION_WORDS: Final = {
    "warn": "sent your account a formal warning",
    "review": "placed your account under review",
    "throttle": "throttled your account's sending",
    "pause": "paused your account's sending",
    "suspend": "suspended your account",
    "terminate": "terminated your account",
    "clear_warning": "cleared the warning on your account",
    "end_review": "ended the review of your account",
    "lift_throttle": "lifted the throttle on your account's sending",
    "resume": "resumed your account's sending",
    "unsuspend": "lifted the suspension of your account",
    "reinstate": "reinstated your account in good standing",
    "block_identity": "blocked a sending identity",
    "block_domain": "blocked a sending domain",
    "block_number": "blocked a sending number",
    "block_sender_id": "blocked a sender id",
    "block_mailbox": "blocked a mailbox",
    "suppress_address": "suppressed a recipient address",
    "unblock_identity": "unblocked a sending identity",
    "unblock_domain": "unblocked a sending domain",
    "unblock_number": "unblocked a sending number",
    "unblock_sender_id": "unblocked a sender id",
    "unblock_mailbox": "unblocked a mailbox",
    "unsuppress_address": "lifted the suppression of a recipient address",
}

_ACTION_SUBJECT = "[{{ case.reference }}] We have {{ action.words }}"
_ACTION_BODY = """Hello {{ account.name }},

We have {{ action.words }}{% if action.resource %} ({{ action.resource }}){% endif %}, on {{ action.executed_on }}.

{% if not action.lifting %}

Under our enforcement policy (version {{ action.policy_version }}), this follows from what we measured:
- {{ figures.complaint_rate.sentence }}
- {{ figures.bounce_rate.sentence }}
{% if evidence %}

The reports behind it ({{ evidence|length }} of {{ evidence_count }}; recipients' addresses are replaced by tags):
{% for item in evidence %}
- {{ item.occurred_at }}, {{ item.category }}, reported by {{ item.reporter }}{% if item.summary %}: {{ item.summary }}{% endif %}
{% if "message_id" in item.indicators %}; your message {{ item.indicators.message_id | first }}{% endif %}{% if "recipient_hash" in item.indicators %} to {{ item.indicators.recipient_hash | first }}{% endif %}

{% endfor %}
{% endif %}

See the details, reply, or appeal with what you fixed:
{{ portal_url }}
(this link works until {{ portal_expires_on }})
{% endif %}

You can also reply to this message; your answer reaches {{ case.reference }}.

{{ desk }}
"""

_APPEAL_RECEIVED_SUBJECT = "[{{ case.reference }}] We received your appeal"
_APPEAL_RECEIVED_BODY = """Hello {{ account.name }},

We received your appeal against the action taken on your account ({{ action.action }}) on {{ appeal.submitted_on }}.
An analyst who took no part in the action will review it; expect our decision by {{ appeal.due_on }}.

You can follow it here: {{ portal_url }}

{{ desk }}
"""

_APPEAL_DECISION_SUBJECT = "[{{ case.reference }}] Decision on your appeal"
_APPEAL_DECISION_BODY = """Hello {{ account.name }},

We have reviewed your appeal against the action taken on your account ({{ action.action }}): {{ appeal.decision_words }}.

Reason: {{ appeal.reason }}
{% if appeal.lifted %}
Lifted: {{ appeal.lifted|join(", ") }}
{% endif %}

You can reply to this message with any question.

{{ desk }}
"""

_REPORTER_ACK_SUBJECT = "Your report was received ({{ case_reference }})"
_REPORTER_ACK_BODY = """Hello,

Thank you for your report of {{ report.received_on }} ({{ report.reference }}).
We have opened {{ case_reference }} and are looking into it. We do not share the outcome
of our investigations, but every report is read and counted.

This is an automatic acknowledgement; replies to it are not read.

{{ desk }}
"""

# kind -> (subject, body)
DEFAULT_TEMPLATES: Final = {
    ACTION_NOTICE: (_ACTION_SUBJECT, _ACTION_BODY),
    APPEAL_RECEIVED: (_APPEAL_RECEIVED_SUBJECT, _APPEAL_RECEIVED_BODY),
    APPEAL_DECISION: (_APPEAL_DECISION_SUBJECT, _APPEAL_DECISION_BODY),
    REPORTER_ACK: (_REPORTER_ACK_SUBJECT, _REPORTER_ACK_BODY),
}


def default_template(kind: str) -> tuple[str, str]:
    """Return the built-in (subject, body) for *kind*: its own, or the action template."""
    return DEFAULT_TEMPLATES.get(kind, DEFAULT_TEMPLATES[ACTION_NOTICE])
