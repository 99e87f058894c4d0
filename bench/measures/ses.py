"""SES: does every SES JSON file parse to the type (and subtype) it is named after?

``ses-notifications-fx-private-relay`` names each file after what it holds. The expected
type is the earliest word of the name (``_ses_body``/``_sns_body`` left off) that names
one, taking the longest name at that place: ``bounce``, ``complaint``, ``delivery_delay``,
``delivery``, ``send``, ``reject``, ``open``, ``click``, ``rendering_failure``,
``subscription``; ``received`` or ``email`` (an inbound mail) mean ``Received``, and
``subscription_confirmation`` an SNS subscription confirmation, which must be refused with
``sns_subscription_confirmation``. So ``delivery_notification_complaint_from_simulator``
is a Delivery and ``ooto_bounce_notification`` a Bounce. For a bounce, ``hard`` and
``soft`` in the name give the bounce type (Permanent, Transient), and a word that is a
documented bounce subtype (``mailboxfull``, ``noemail`` ...) the subtype. A file is right
when it parses as ``ses`` with that kind (see ``abusedesk.parsing.ses``), and a bounce or
complaint has at least one event.

``sisimai-set-of-emails/obsoleted/json-amazonses-*.json`` are old SES notifications whose
names give no type: each is right when it parses as ``ses`` to a documented type.

Denominators: every named file with a type word (files without one are listed as
failures, not dropped); every sisimai SES file.
"""

import re
from pathlib import Path

from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.ses import ABUSE_TYPES, SES_TYPES
from bench.measures import Measure, parse_file
from bench.measures.tally import share_right

SNS_CONFIRMATION = "subscription_confirmation"
# Words of a file name that name a type; the longest at a place wins.
_TYPE_WORDS = {
    "bounce": "Bounce",
    "complaint": "Complaint",
    "delivery_delay": "DeliveryDelay",
    "delivery": "Delivery",
    "send": "Send",
    "reject": "Reject",
    "open": "Open",
    "click": "Click",
    "rendering_failure": "Rendering Failure",
    "subscription": "Subscription",
    "received": "Received",
    "email": "Received",
    SNS_CONFIRMATION: SNS_CONFIRMATION,
}
_BOUNCE_TYPES = {"hard": "Permanent", "soft": "Transient"}
# The bounce subtypes SES documents, lowercased as a file name would write them.
_BOUNCE_SUBTYPES = {
    name.lower(): name
    for name in (
        "Undetermined",
        "General",
        "NoEmail",
        "Suppressed",
        "OnAccountSuppressionList",
        "MailboxFull",
        "MessageTooLarge",
        "ContentRejected",
        "AttachmentRejected",
    )
}
_SUFFIX = re.compile(r"_(?:ses|sns)_body$")


def measures(corpus: Path) -> list[Measure]:
    """Return the SES figures over *corpus*."""
    named = sorted((corpus / "ses-notifications-fx-private-relay").rglob("*.json"))
    old = sorted((corpus / "sisimai-set-of-emails" / "obsoleted").glob("json-amazonses-*.json"))
    return [
        share_right("ses files parse to their named type", named, _named_problem, corpus),
        share_right("ses sisimai files parse to an SES type", old, _type_problem, corpus),
    ]


def expected_kind(name: str) -> tuple[str | None, str | None, str | None]:
    """Return the type, bounce type and bounce subtype a file name gives (None if not)."""
    words = _SUFFIX.sub("", name.lower()).split("_")
    ses_type = None
    for start in range(len(words)):
        for end in range(len(words), start, -1):
            ses_type = _TYPE_WORDS.get("_".join(words[start:end]))
            if ses_type is not None:
                break
        if ses_type is not None:
            break
    if ses_type != "Bounce":
        return ses_type, None, None
    bounce_type = next((_BOUNCE_TYPES[w] for w in words if w in _BOUNCE_TYPES), None)
    subtype = next((_BOUNCE_SUBTYPES[w] for w in words if w in _BOUNCE_SUBTYPES), None)
    return ses_type, bounce_type, subtype


def _named_problem(path: Path) -> str | None:
    """Return why the file at *path* did not parse to its named kind, or None if it did."""
    ses_type, bounce_type, subtype = expected_kind(path.stem)
    if ses_type is None:
        return "the name gives no type"
    result = parse_file(path)
    if ses_type == SNS_CONFIRMATION:
        if isinstance(result, ParseError) and result.reason == "sns_subscription_confirmation":
            return None
        return f"expected sns_subscription_confirmation, got {_outcome(result)}"
    if isinstance(result, ParseError) or result.report_format != "ses" or result.kind is None:
        return f"expected {ses_type}, got {_outcome(result)}"
    parts = result.kind.split("/")
    expected = [ses_type, bounce_type, subtype]
    for index, wanted in enumerate(expected):
        if wanted is not None and (len(parts) <= index or parts[index] != wanted):
            return f"expected {'/'.join(p or '*' for p in expected)}, got {result.kind}"
    if ses_type in ABUSE_TYPES and not result.events:
        return f"a {ses_type} with no events"
    return None


def _type_problem(path: Path) -> str | None:
    """Return why the file at *path* did not parse to a documented SES type, or None."""
    result = parse_file(path)
    if isinstance(result, ParseError) or result.report_format != "ses" or result.kind is None:
        return _outcome(result)
    return None if _type_of(result.kind) in SES_TYPES else _outcome(result)


def _type_of(kind: str) -> str:
    return kind.split("/", 1)[0]


def _outcome(result: object) -> str:
    if isinstance(result, ParseError):
        return f"refused ({result.reason})"
    return f"{getattr(result, 'report_format', '?')} {getattr(result, 'kind', None)}"
