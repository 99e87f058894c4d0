"""Why a message bounced: one reason taxonomy and the hard/soft rule, for every bounce reader.

The DSN reader, the reader of non-standard bounces and the SES reader all classify
through :func:`classify`, so a bounce means the same whatever format brought it. The
taxonomy, the hard/soft rule and the mappings to SES bounce types and to sisimai's
reason names are written down in ``docs/bounces.md``; the tables here are that document
in code.

A reason is decided, in order, by the remote server's own words (the diagnostic text),
then by the enhanced status code (RFC 3463), then by the SMTP reply code; the SMTP
command the refusal answered and the status code's name then tell a mailbox lookup's
"unknown user" from a filter's (the order of sisimai's decision logic). ``hard`` means
the *address* is bad (unknown user, unknown domain, moved away) and the failure is
permanent: the address should be suppressed. Everything else is ``soft``: a temporary
failure, or a refusal of this message or this sender (blocked, spam, policy, size ...)
that says nothing against the address itself.
"""

import re
from dataclasses import dataclass

# The reason vocabulary (see docs/bounces.md for what each one means).
USER_UNKNOWN = "user_unknown"
MAILBOX_FULL = "mailbox_full"
HOST_UNKNOWN = "host_unknown"
HAS_MOVED = "has_moved"
SUSPENDED = "suspended"
BLOCKED = "blocked"
SPAM_DETECTED = "spam_detected"
FILTERED = "filtered"
SENDER_REJECTED = "sender_rejected"
POLICY = "policy"
RATE_LIMITED = "rate_limited"
EXPIRED = "expired"
AUTH_FAILURE = "auth_failure"
SECURITY_ERROR = "security_error"
RELAYING_DENIED = "relaying_denied"
CONTENT_REJECTED = "content_rejected"
MESSAGE_TOO_LARGE = "message_too_large"
NETWORK_ERROR = "network_error"
SYSTEM_ERROR = "system_error"
SYNTAX_ERROR = "syntax_error"
AUTO_REPLY = "auto_reply"
UNDETERMINED = "undetermined"

REASONS = (
    USER_UNKNOWN,
    MAILBOX_FULL,
    HOST_UNKNOWN,
    HAS_MOVED,
    SUSPENDED,
    BLOCKED,
    SPAM_DETECTED,
    FILTERED,
    SENDER_REJECTED,
    POLICY,
    RATE_LIMITED,
    EXPIRED,
    AUTH_FAILURE,
    SECURITY_ERROR,
    RELAYING_DENIED,
    CONTENT_REJECTED,
    MESSAGE_TOO_LARGE,
    NETWORK_ERROR,
    SYSTEM_ERROR,
    SYNTAX_ERROR,
    AUTO_REPLY,
    UNDETERMINED,
)

# Reasons that condemn the address itself; permanent failures for them are hard bounces.
HARD_REASONS = frozenset({USER_UNKNOWN, HOST_UNKNOWN, HAS_MOVED})

# Our reason -> (SES bounceType, bounceSubType) that SES would publish for it.
SES_BOUNCE_TYPES: dict[str, tuple[str, str]] = {
    USER_UNKNOWN: ("Permanent", "NoEmail"),
    HOST_UNKNOWN: ("Permanent", "General"),
    HAS_MOVED: ("Permanent", "General"),
    SUSPENDED: ("Transient", "General"),
    MAILBOX_FULL: ("Transient", "MailboxFull"),
    MESSAGE_TOO_LARGE: ("Transient", "MessageTooLarge"),
    CONTENT_REJECTED: ("Transient", "ContentRejected"),
    SPAM_DETECTED: ("Transient", "ContentRejected"),
    BLOCKED: ("Transient", "General"),
    FILTERED: ("Transient", "General"),
    SENDER_REJECTED: ("Transient", "General"),
    POLICY: ("Transient", "General"),
    RATE_LIMITED: ("Transient", "General"),
    EXPIRED: ("Transient", "General"),
    AUTH_FAILURE: ("Transient", "General"),
    SECURITY_ERROR: ("Transient", "General"),
    RELAYING_DENIED: ("Transient", "General"),
    NETWORK_ERROR: ("Transient", "General"),
    SYSTEM_ERROR: ("Transient", "General"),
    SYNTAX_ERROR: ("Transient", "General"),
    AUTO_REPLY: ("Transient", "General"),
    UNDETERMINED: ("Undetermined", "Undetermined"),
}

# SES (bounceType, bounceSubType) -> our reason; a pair not listed falls back on the type.
_FROM_SES: dict[tuple[str, str], str] = {
    ("permanent", "noemail"): USER_UNKNOWN,
    ("permanent", "suppressed"): USER_UNKNOWN,
    ("permanent", "onaccountsuppressionlist"): USER_UNKNOWN,
    ("transient", "mailboxfull"): MAILBOX_FULL,
    ("transient", "messagetoolarge"): MESSAGE_TOO_LARGE,
    ("transient", "contentrejected"): CONTENT_REJECTED,
    ("transient", "attachmentrejected"): CONTENT_REJECTED,
}

# sisimai's reason names -> ours. Several of sisimai's finer reasons share one of ours;
# ``feedback`` (a complaint) and ``delivered`` (a success) are not bounces at all.
SISIMAI_REASONS: dict[str, str] = {
    "userunknown": USER_UNKNOWN,
    "mailboxfull": MAILBOX_FULL,
    "hostunknown": HOST_UNKNOWN,
    "notaccept": HOST_UNKNOWN,
    "hasmoved": HAS_MOVED,
    "suspend": SUSPENDED,
    "blocked": BLOCKED,
    "badreputation": BLOCKED,
    "requireptr": BLOCKED,
    "spamdetected": SPAM_DETECTED,
    "filtered": FILTERED,
    "rejected": SENDER_REJECTED,
    "policyviolation": POLICY,
    "notcompliantrfc": POLICY,
    "ratelimited": RATE_LIMITED,
    "toomanyconn": RATE_LIMITED,
    "speeding": RATE_LIMITED,
    "expired": EXPIRED,
    "authfailure": AUTH_FAILURE,
    "securityerror": SECURITY_ERROR,
    "failedstarttls": SECURITY_ERROR,
    "norelaying": RELAYING_DENIED,
    "contenterror": CONTENT_REJECTED,
    "virusdetected": CONTENT_REJECTED,
    "mesgtoobig": MESSAGE_TOO_LARGE,
    "emailtoolarge": MESSAGE_TOO_LARGE,
    "exceedlimit": MESSAGE_TOO_LARGE,
    "networkerror": NETWORK_ERROR,
    "systemerror": SYSTEM_ERROR,
    "systemfull": SYSTEM_ERROR,
    "mailererror": SYSTEM_ERROR,
    "syntaxerror": SYNTAX_ERROR,
    "vacation": AUTO_REPLY,
    "onhold": UNDETERMINED,
    "undefined": UNDETERMINED,
}

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]{1,500}", re.IGNORECASE)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"(?<![\w.])([245])([0-5])(\d)(?![\w.])")
_COMMAND = re.compile(
    r"(?:in reply to (?:end of )?|after (?:end of )?|>>> ?|our )(MAIL FROM|RCPT TO|DATA)\b",
    re.IGNORECASE,
)
# A command written as a bare upper-case word ("SMTP:RCPT host", "[RCPT_TO]", "most
# progress was RCPT TO response"), not part of a name or an address (DATABASE@...).
_COMMAND_WORD = re.compile(r"(?<![A-Za-z0-9@.-])(MAIL FROM|RCPT|DATA)(?![A-Za-z0-9@.-])")
# qmail's account of which command was refused.
_COMMAND_PHRASE = re.compile(r"does not like (recipient|sender)", re.IGNORECASE)
# A domain that says it takes no mail (null MX, RFC 7505) or has no mail exchanger at all
# is unknown as a destination, even when the bounce that reports it is marked temporary:
# the DNS answered, it did not fail.
_NO_MAIL_DOMAIN = re.compile(
    r"null ?mx|no mx (?:record )?found|(?:doesn't|does not|not) (?:accept|receive) (?:any )?(?:e-?)?mail",
    re.IGNORECASE,
)
# What the sending MTA says before quoting the reply: the stage that failed.
_STAGE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (BLOCKED, re.compile(r"refused to talk to me|my name was rejected", re.IGNORECASE)),
    (SENDER_REJECTED, re.compile(r"sender (?:address )?was rejected", re.IGNORECASE)),
)
_REFUSAL = re.compile(r"(?<![\w.])[45][0-5]\d(?![\w.])")
# Diagnostics are short; past this the text is not scanned (bounded cost on hostile input).
_TEXT_LIMIT = 4000


def _patterns(*words: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{w})" for w in words), re.IGNORECASE)


# The remote server's words, most specific first: the first reason whose pattern matches
# the diagnostic wins. Each pattern is a phrase servers use for that reason in general,
# not the wording of one product.
_TEXT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        POLICY,
        _patterns(
            r"(?<![/\w])rfc ?(?:2822|5322|822|5321|2821)(?![;\w-])",
            r"not (?:rfc )?compliant",
            r"header error",
            r"(?:multiple|duplicate) (?:\w+ )?headers",
            r"multiple addresses in from",
            r"protocol violation",
        ),
    ),
    (
        SPAM_DETECTED,
        _patterns(
            r"(?:rejected|blocked|classified|identified|detected|flagged) (?:due to |as |because of )?(?:being )?(?:spam|junk)",
            r"(?:blacklisted|blocklisted|listed) (?:url|uri|link|domain)s? in (?:the )?(?:message|body)",
            r"\buribl\b|\bsurbl\b",
        ),
    ),
    (
        BLOCKED,
        _patterns(
            r"reverse (?:dns|lookup|ptr)",
            r"\bptr\b",
            r"\brdns\b",
            r"(?:no|missing|doesn't have an?|does not have an?) (?:reverse|ptr)",
            # The sending host's name and address do not confirm each other.
            r"unverif(?:y|i)able sending ips?",
            r"cannot (?:find your hostname|resolve your address)",
            r"ip name lookup failed",
            r"mismatches client ip",
            r"unresolvable relay host ?name",
        ),
    ),
    (
        AUTH_FAILURE,
        _patterns(
            r"\bspf\b",
            r"\bdkim\b",
            r"\bdmarc\b",
            r"sender policy framework",
            r"authentication (?:check|result)s? (?:failed|fail)",
            r"not (?:pass|passing) authentication",
            r"unauthenticated (?:email|mail|message)",
            r"does not meet (?:the )?required authentication",
            r"authentication information",
            r"fails? to pass",
        ),
    ),
    (
        RELAYING_DENIED,
        _patterns(
            r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed))",
            r"not (?:permitted|allowed|authori[sz]ed) to relay",
            r"(?:unable|refuse[sd]?) to relay",
            r"we do not relay",
            r"relay (?:prohibited|refused)",
            r"no relaying",
            r"(?:not configured|not permitted|not allowed) to relay",
        ),
    ),
    (
        SECURITY_ERROR,
        _patterns(
            r"starttls",
            r"\btls\b (?:required|is required|negotiation)",
            r"encryption (?:is )?required",
            r"certificate",
            r"authentication (?:is )?required",
            r"must (?:be )?authenticat",
            r"invalid credentials",
            r"\bsmtp auth",
            r"support (?:starttls|tls)",
            r"(?<!rejected: )access denied(?!\W+(?:banned|blocked|black|block|listed|sending ip))",
            r"unauthenticated senders?",
            r"sender not authenticated",
        ),
    ),
    (
        SENDER_REJECTED,
        _patterns(
            r"sender (?:address |domain )?(?:was |is )?(?:rejected|refused|denied|blocked|not allowed|verify failed|verification failed)",
            r"unroutable sender",
            r"(?:domain|address) of sender",
            r"sender (?:domain|address) (?:is |does not |doesn't )?(?:invalid|unknown|not exist|not resolve|must resolve|exist)",
            r"(?:invalid|unknown|bad|unverified) sender",
            r"envelope (?:sender|from)",
            r"mail from (?:address )?(?:rejected|refused|invalid)",
            r"return[- ]path",
            r"(?:sender|from) address rejected",
            r"rejected:? (?:sender|from)",
            r"(?:not have|no) permission to (?:post|send)",
            r"not allowed to post",
        ),
    ),
    (
        HAS_MOVED,
        _patterns(
            r"has moved",
            r"user not local",
            r"no longer (?:with|at|employed|works)",
            r"address (?:has )?changed",
        ),
    ),
    (
        MESSAGE_TOO_LARGE,
        _patterns(
            r"(?:message|mail|email|data) (?:is )?too (?:large|big|long)",
            r"(?:message|mail) size (?:limit|exceeds|too)",
            r"exceeds? (?:the )?(?:maximum|max|size|message size)",
            r"size limit",
        ),
    ),
    (
        MAILBOX_FULL,
        _patterns(
            r"mail ?box (?:is )?full",
            r"(?:mail ?box|account|inbox|user|mail ?folder) (?:is )?(?:over|exceeded|full)",
            r"full mail ?box",
            r"over ?quota",
            r"quota (?:exceeded|full|violation)",
            r"exceeded (?:storage|(?:his|her|their|the) (?:storage|quota))",
            r"(?:insufficient|not enough) (?:disk )?(?:space|storage) (?:for|in) (?:the )?(?:user|mail ?box|recipient)",
            r"mailbox size limit",
            r"mail ?box exceeds",
            r"too much mail",
            r"out of storage",
        ),
    ),
    (
        SUSPENDED,
        _patterns(
            r"suspended",
            r"(?:account|mail ?box|user|address) (?:has been |is |was )?(?:disabled|deactivated|inactive|locked|closed|frozen|blocked by (?:the )?administrator)",
            r"(?:disabled|deactivated|inactive|expired|closed) (?:account|mail ?box|user)",
            r"mailbox (?:unavailable|not available) \(?(?:disabled|inactive)",
            r"temporarily (?:disabled|deactivated)",
            r"is (?:inactive|disabled|deactivated)",
            r"\b(?:temporar(?:il)?y )?locked\b",
        ),
    ),
    (
        # A lookup that failed (a malformed answer, "try again") is trouble with the DNS,
        # not an answer that the host does not exist: tried before ``host_unknown``.
        NETWORK_ERROR,
        _patterns(
            r"host not found, try again",
            r"host name lookup failure",
            r"malformed (?:or unexpected )?name server reply",
            r"unable to resolve route",
            r"dns records for the destination computer could not be found",
        ),
    ),
    (
        HOST_UNKNOWN,
        _patterns(
            r"host (?:or domain name )?(?:unknown|not found)",
            r"unknown (?:host|domain)",
            r"domain (?:name )?(?:may )?(?:not found|not exist|does not exist|doesn't exist|unknown)",
            r"no such (?:domain|host)",
            r"(?:unrout(?:e)?able|unresolvable) (?:mail )?domain",
            r"name or service not known",
            r"\bnxdomain\b",
            r"no (?:mx|mail exchanger|valid mx)",
            r"null mx",
            r"mx records? point",
            r"does not accept (?:any )?(?:e-?)?mail",
            r"not accept(?:ing)? (?:any )?(?:e-?)?mail",
            r"(?:doesn't|does not) receive (?:e-?)?mail",
            r"domain (?:is )?not (?:valid|configured|hosted)",
            r"bad destination system",
            r"unroute?able address",
            r"no smtp service",
            r"^(?:\d{3}[ -])?(?:[a-z0-9-]+\.)+[a-z]{2,} does not exist",
            r"domain (?:is )?(?:not reachable|unreachable)",
            r"name service error",
            r"dns (?:error|failure|lookup)",
            r"name server",
            r"temporary (?:lookup|dns) failure",
        ),
    ),
    (
        FILTERED,
        _patterns(
            r"(?:rejected|blocked|refused|denied) by (?:the )?(?:recipient|user|addressee)(?!'?s? domain| domain)",
            r"recipient(?:'s)? (?:filter|rule|preference)",
            # A refusal that names no address ("550 : User unknown") comes from a filter
            # answering for the mailbox, not from the mailbox lookup.
            r"^\d{3}:? : user unknown",
            r"user (?:refuses|refused|does not accept|doesn't accept)",
            r"not (?:authori[sz]ed|allowed|permitted) to (?:receive|accept)",
            r"(?:mailbox|recipient) (?:disallows|refuses|does not accept)",
            r"filtered",
        ),
    ),
    (
        USER_UNKNOWN,
        _patterns(
            r"user (?:is )?unknown",
            r"unknown (?:user|recipient|mail ?box|local[- ]part|address|account)",
            r"no such (?:user|recipient|mail ?box|address|account|person)",
            r"(?:user|recipient|mail ?box|address|account|addressee) (?:was |is )?(?:not found|unknown|not exist|does not exist|doesn't exist|does not match|(?:could not|couldn't) be found)",
            r"(?:user|recipient|mail ?box|address|account|person) .{0,40}(?:does not|doesn't|did not) exist",
            r"invalid (?:recipient|mail ?box|user|address|e-?mail address)",
            r"(?:not a valid|is not a known|not a known) (?:user|recipient|mail ?box)",
            r"recipient address rejected: access denied",
            r"no mail ?box here",
            r"not listed in",
            r"addressee unknown",
            r"bad destination mail ?box",
            r"(?:user|mail ?box) unavailable",
            r"mailbox (?:is )?unavailable",
            r"no (?:such|valid) (?:recipients?|users?)",
            r"doesn't have an? .{0,40}account",
            r"not our customer",
            r"invalid (?:final )?(?:delivery )?userid",
            r"recipient address rejected\W*$",
            r"account (?:does not|doesn't) exist",
            r"(?:unknown|invalid) (?:or illegal )?alias",
            r"not (?:a )?valid recipient",
            r"no account by that name",
            r"address (?:is )?(?:not|no longer) (?:valid|in use|active)",
        ),
    ),
    (
        SPAM_DETECTED,
        _patterns(
            r"spam(?!haus|cop)",
            r"junk (?:e-?)?mail",
            r"unsolicited",
            r"bulk (?:e-?)?mail",
            r"\buce\b",
            r"content filter",
            r"message (?:was )?(?:classified|considered|identified) as",
            r"looks like (?:an? )?(?:spam|junk)",
            r"(?:message|mail) content rejected",
            r"\bube\b",
        ),
    ),
    (
        CONTENT_REJECTED,
        _patterns(
            r"virus",
            r"malware",
            r"infected",
            r"attachment",
            r"content (?:refused|not allowed)",
            r"executable",
            r"prohibited (?:file|content)",
            r"banned (?:file|content)",
        ),
    ),
    (
        BLOCKED,
        _patterns(
            r"block ?listed",
            r"black ?listed",
            r"blocked",
            r"\bblock list",
            r"listed (?:in|on|at|by)",
            r"spamhaus",
            r"\bsorbs\b",
            r"spamcop",
            r"barracuda",
            r"\brbl\b",
            r"\bdnsbl\b",
            r"reputation",
            r"(?:user|recipient) complaints",
            r"client host (?:\[[^\]]*\] )?(?:rejected|blocked)",
            r"(?:your|the sending|sender|connecting) ip",
            r"refused to talk",
            r"my name (?:was )?rejected",
            r"(?:helo|ehlo)\b[^.]{0,40}(?:rejected|refused|denied|invalid)",
            r"banned",
            r"connection (?:refused|rejected) (?:from|by policy)",
            r"not allowed to send",
            r"dialup|dynamic ip|residential",
            r"invalid ip",
            r"not accepting connections",
            r"service refused",
        ),
    ),
    (
        RATE_LIMITED,
        _patterns(
            r"rate limit",
            r"rate of",
            r"at a rate",
            r"too many recipients",
            r"recipients this hour",
            r"too many (?:connections|messages|mails|emails|sessions|concurrent)",
            r"throttl",
            r"(?:sending|message|connection) rate",
            r"too fast",
            r"exceeded (?:the )?(?:rate|limit of|maximum number)",
            r"temporarily deferred",
            r"unusual rate",
        ),
    ),
    (
        EXPIRED,
        _patterns(
            r"expired",
            r"retry (?:timeout|time) (?:exceeded|expired)",
            r"could not be delivered (?:within|for|in)",
            r"(?:has not|hasn't|not) been delivered (?:for|within|after)",
            r"(?:message|delivery) timed out",
            r"gave up",
            r"failed \d+ attempts",
            r"failing for a long time",
            r"did not accept (?:our )?(?:requests? to )?connect",
            r"giving up",
            r"time ?out (?:exceeded|reached)",
            r"too long in (?:the )?queue",
            r"delivery time",
            r"(?:queue|queued) (?:too long|lifetime)",
            r"host (?:is )?not reachable",
            r"delayed",
            r"delay",
            r"timed? ?out",
        ),
    ),
    (
        NETWORK_ERROR,
        _patterns(
            r"connection (?:refused|timed out|reset|closed|lost|failed)",
            r"lost connection",
            r"(?:unable|could not|can't|cannot|failed) to connect",
            r"no route to host",
            r"network (?:is )?(?:unreachable|error)",
            r"mail (?:for .{0,60})?loops? back",
            r"(?:mail|routing) loop",
            r"too many hops",
            r"hop count",
            r"host (?:is )?(?:unreachable|down)",
        ),
    ),
    (
        POLICY,
        _patterns(
            r"polic(?:y|ies)",
            r"prohibited",
            r"not (?:permitted|allowed)",
            r"administrative(?:ly)? prohibit",
            r"(?<![/\w])rfc ?(?:2822|5322|822|5321|2821)(?![;\w-])",
            r"(?:message|header)s? (?:not|non)[- ]compliant",
            r"duplicate header",
            r"(?:missing|invalid|malformed) (?:header|message-id|date|from)",
            r"denied",
            r"refused",
        ),
    ),
    (
        SYNTAX_ERROR,
        _patterns(
            r"syntax error",
            r"command (?:not recognized|unrecognized|not implemented)",
            r"(?:bad|improper) sequence of commands",
            r"unrecognized command",
        ),
    ),
    (
        SYSTEM_ERROR,
        _patterns(
            r"system (?:error|failure|full|not accepting)",
            r"internal (?:server )?error",
            r"local (?:error|configuration)",
            r"(?:temporary )?local (?:problem|failure|error)",
            r"mailer (?:error|failure)",
            r"command (?:died|failed)",
            r"(?:disk|storage|filesystem) (?:is )?full",
            r"insufficient (?:system )?storage",
            r"out of memory",
            r"configuration error",
            r"server (?:error|busy)",
            r"transaction failed",
            r"write error",
            r"service (?:is )?(?:currently )?(?:unavailable|not available)",
            r"insufficient (?:disk|system) (?:space|storage)",
            r"lock failure",
            r"error (?:while )?writing",
            r"try again",
            r"unable to (?:deliver|process)",
            r"exit (?:code|status)",
        ),
    ),
)

# Enhanced status codes (class dropped: ``subject.detail``) -> reason, for when the text
# names none. ``subject`` alone is the fallback for a detail not listed.
_STATUS_DETAILS: dict[str, str] = {
    "1.1": USER_UNKNOWN,
    "1.2": HOST_UNKNOWN,
    "1.3": USER_UNKNOWN,
    "1.4": FILTERED,
    "1.5": USER_UNKNOWN,
    "1.6": HAS_MOVED,
    "1.7": SENDER_REJECTED,
    "1.8": SENDER_REJECTED,
    "1.9": SYSTEM_ERROR,
    "1.10": HOST_UNKNOWN,
    "2.0": FILTERED,
    "2.1": SUSPENDED,
    "2.2": MAILBOX_FULL,
    "2.3": MESSAGE_TOO_LARGE,
    "2.4": FILTERED,
    "3.1": SYSTEM_ERROR,
    "3.2": SYSTEM_ERROR,
    "3.3": CONTENT_REJECTED,
    "3.4": MESSAGE_TOO_LARGE,
    "3.5": SYSTEM_ERROR,
    "4.1": NETWORK_ERROR,
    "4.2": NETWORK_ERROR,
    "4.3": NETWORK_ERROR,
    "4.4": HOST_UNKNOWN,
    "4.5": NETWORK_ERROR,
    "4.6": NETWORK_ERROR,
    "4.7": EXPIRED,
    "5.1": SYNTAX_ERROR,
    "5.2": SYNTAX_ERROR,
    "5.3": RATE_LIMITED,
    "5.4": SYNTAX_ERROR,
    "5.5": SYNTAX_ERROR,
    "6.0": CONTENT_REJECTED,
    "7.0": SECURITY_ERROR,
    "7.1": FILTERED,
    "7.2": POLICY,
    "7.3": SECURITY_ERROR,
    "7.4": SECURITY_ERROR,
    "7.5": SECURITY_ERROR,
    "7.6": SECURITY_ERROR,
    "7.7": SECURITY_ERROR,
    "7.8": SECURITY_ERROR,
    "7.9": SECURITY_ERROR,
    "7.10": SECURITY_ERROR,
    "7.11": SECURITY_ERROR,
    "7.12": SECURITY_ERROR,
    "7.13": SUSPENDED,
    "7.14": SECURITY_ERROR,
    "7.15": SECURITY_ERROR,
    "7.16": MESSAGE_TOO_LARGE,
    "7.17": HAS_MOVED,
    "7.18": HAS_MOVED,
    "7.19": SUSPENDED,
    "7.20": AUTH_FAILURE,
    "7.21": AUTH_FAILURE,
    "7.22": AUTH_FAILURE,
    "7.23": AUTH_FAILURE,
    "7.24": AUTH_FAILURE,
    "7.25": BLOCKED,
    "7.26": AUTH_FAILURE,
    "7.27": SENDER_REJECTED,
    "7.28": SPAM_DETECTED,
    "7.29": AUTH_FAILURE,
    "7.30": AUTH_FAILURE,
}
_STATUS_SUBJECTS: dict[str, str] = {
    "1": USER_UNKNOWN,
    "3": SYSTEM_ERROR,
    "4": NETWORK_ERROR,
    "5": SYNTAX_ERROR,
    "6": CONTENT_REJECTED,
    "7": POLICY,
}
# Status details that name a bad destination mailbox: they confirm an "unknown user"
# whatever the SMTP command (see ``_filter_verdict``).
_MAILBOX_STATUSES = frozenset({"1.0", "1.1", "1.3"})
# Status details that name a state of the mailbox other than "unknown": an "unknown user"
# given with one of them is a filter's verdict (see ``_filter_verdict``).
_FILTER_STATUSES = frozenset({"1.4", "2.0", "2.1", "2.4"})
# SMTP reply codes (RFC 5321) that name a reason by themselves.
_REPLY_CODES: dict[str, str] = {
    "421": SYSTEM_ERROR,
    "451": SYSTEM_ERROR,
    "452": MAILBOX_FULL,
    "500": SYNTAX_ERROR,
    "501": SYNTAX_ERROR,
    "502": SYNTAX_ERROR,
    "503": SYNTAX_ERROR,
    "504": SYNTAX_ERROR,
    "551": HAS_MOVED,
    "552": MAILBOX_FULL,
    "553": USER_UNKNOWN,
    "556": HOST_UNKNOWN,
}


@dataclass(frozen=True)
class Classification:
    """A bounce's reason (our taxonomy) and whether it is a ``hard`` or ``soft`` bounce."""

    reason: str
    bounce_class: str


def classify(
    status: str | None,
    diagnostic: str | None = None,
    *,
    action: str | None = None,
    command: str | None = None,
) -> Classification:
    """Return the reason and hard/soft class of one failed recipient.

    *status* is the enhanced status code (or None), *diagnostic* the remote server's
    text (a Diagnostic-Code, or the lines of a plain-text bounce), *action* the DSN
    action (``failed``, ``delayed``) when known, and *command* the SMTP command the
    refusal answered (see :func:`smtp_command`), which changes what the words mean: an
    "unknown user" after the message's data was sent is a filter's verdict, and an
    unknown address at ``MAIL FROM`` is the sender's.
    """
    text = _join_continuations((diagnostic or "")[:_TEXT_LIMIT])
    code = status_code(status) or status_code(text)
    reply = reply_code(text)
    reason = (
        _stage_reason(text)
        or reason_from_text(_remote_words(text))
        or reason_from_text(text)
        or _expired_delay(code, action)
        or reason_from_status(code)
        or (_REPLY_CODES.get(reply) if reply else None)
        or (EXPIRED if action == "delayed" else UNDETERMINED)
    )
    command = command or smtp_command(text)
    if command == "MAIL" and reason in (USER_UNKNOWN, HOST_UNKNOWN, FILTERED):
        reason = SENDER_REJECTED
    elif reason == USER_UNKNOWN and _filter_verdict(code, command):
        reason = FILTERED
    temporary = is_temporary(code, reply, action)
    if reason == HOST_UNKNOWN and temporary and not _NO_MAIL_DOMAIN.search(text):
        # A lookup that failed for now says the DNS is unwell, not that the host is unknown.
        reason = NETWORK_ERROR
    hard = reason in HARD_REASONS and not temporary
    return Classification(reason=reason, bounce_class="hard" if hard else "soft")


def _filter_verdict(code: str | None, command: str | None) -> bool:
    """Tell whether an "unknown user" is a filter's verdict rather than the mailbox lookup's.

    The refusal of ``RCPT TO`` (the command that names the mailbox) and a status that
    names a bad mailbox address (x.1.0, x.1.1, x.1.3) are the lookup's own answer. Short
    of those, the words are a filter's when they came after the message data was sent
    (``DATA``), or when the status names another state of the mailbox (x.1.4, x.2.0,
    x.2.1, x.2.4: ambiguous, disabled, list expansion): a gateway answering for the
    mailbox, which says nothing certain about the address. Without a command or a status
    the words are taken at face value.
    """
    if command == "RCPT" or _detail(code) in _MAILBOX_STATUSES:
        return False
    return command == "DATA" or _detail(code) in _FILTER_STATUSES


def _join_continuations(text: str) -> str:
    """Drop the repeats of a multi-line SMTP reply's code ("550-5.7.1 ... 550-5.7.1 ...").

    Each line of the reply starts with the code again; the repeats, after the first
    line, split the server's sentences apart.
    """
    first = _REFUSAL.search(text)
    if first is None:
        return text
    code = re.escape(first.group(0))
    repeat = re.compile(rf"\s{code}[- ](?:[245]\.\d{{1,3}}\.\d{{1,3}}\s)?")
    return text[: first.end()] + repeat.sub(" ", text[first.end() :])


def _expired_delay(code: str | None, action: str | None) -> str | None:
    """Return ``expired`` for a delay that names only a generic network or protocol status."""
    subject = _detail(code).partition(".")[0]
    return EXPIRED if action == "delayed" and subject in ("", "0", "4", "5") else None


def _stage_reason(text: str) -> str | None:
    """Return the reason the sending MTA's own account of the failed stage names, if any."""
    match = _REPLY.search(text)
    prose = text[: match.start()] if match else text
    for reason, pattern in _STAGE_RULES:
        if pattern.search(prose):
            return reason
    return None


def _remote_words(text: str) -> str:
    """Return the remote server's own words: *text* from its first reply or status code.

    Notices wrap the server's answer in their own prose ("Google tried to deliver your
    message, but it was rejected ... The error that the other server returned was: 554
    5.7.1 ..."); the answer says why, the prose only that it failed.
    """
    match = _REFUSAL.search(text) or _STATUS.search(text)
    return text[match.start() :] if match else ""


def _detail(code: str | None) -> str:
    return code.partition(".")[2] if code else ""


def smtp_command(text: str | None) -> str | None:
    """Return the SMTP command (``MAIL``, ``RCPT``, ``DATA``) a refusal in *text* answered.

    Read from the phrases MTAs use ("in reply to end of DATA command", "after RCPT TO",
    "our RCPT TO", a ``>>> DATA`` transcript line, qmail's "does not like recipient"),
    else from the command written as a bare upper-case word ("SMTP:RCPT", "[RCPT_TO]"),
    around the first refusal (a 4xx or 5xx reply): the last command named before it, or
    else the first "in reply to" after it. Later commands in a transcript answer other
    questions ("503 no valid recipients").
    """
    if not text:
        return None
    text = text[:_TEXT_LIMIT]
    # (position, command, whether it is an "in reply to" after the fact)
    named: list[tuple[int, str, bool]] = [
        (m.start(), m.group(1), m.group(0).lower().startswith("in"))
        for m in _COMMAND.finditer(text)
    ]
    named += [
        (m.start(), "RCPT" if m.group(1).lower() == "recipient" else "MAIL", False)
        for m in _COMMAND_PHRASE.finditer(text)
    ]
    if not named:
        named = [(m.start(), m.group(1), False) for m in _COMMAND_WORD.finditer(text)]
    if not named:
        return None
    named.sort()
    refusal = _REFUSAL.search(text)
    at = refusal.start() if refusal else len(text)
    before = [n for n in named if n[0] < at and not n[2]]
    after = [n for n in named if n[0] >= at and n[2]]
    chosen = before[-1] if before else after[0] if after else named[-1]
    word = chosen[1].upper()
    return "MAIL" if word.startswith("MAIL") else "RCPT" if word.startswith("RCPT") else "DATA"


def reason_from_text(text: str) -> str | None:
    """Return the reason the remote server's words name, or None.

    Help links are left out: their paths name topics ("#filtered", "?p=spam"), not why
    this message failed."""
    text = _URL.sub(" ", text)
    for reason, pattern in _TEXT_RULES:
        if pattern.search(text):
            return reason
    return None


def reason_from_status(code: str | None) -> str | None:
    """Return the reason an enhanced status code (``5.1.1``) names, or None."""
    if not code:
        return None
    _, _, rest = code.partition(".")
    if rest in _STATUS_DETAILS:
        return _STATUS_DETAILS[rest]
    subject, _, detail = rest.partition(".")
    # x.0.0 and other catch-all codes say nothing about the reason.
    if subject == "0" or detail == "" or int(detail) >= 900:
        return None
    return _STATUS_SUBJECTS.get(subject)


def reason_from_ses(bounce_type: str | None, bounce_sub_type: str | None) -> str:
    """Return our reason for an SES bounce, from its bounceType and bounceSubType."""
    kind = (bounce_type or "").strip().lower()
    sub = (bounce_sub_type or "").strip().lower()
    # Permanent/General and every Transient/General bounce name no reason.
    return _FROM_SES.get((kind, sub), UNDETERMINED)


def reason_from_sisimai(name: str) -> str | None:
    """Return our reason for one of sisimai's reason names, or None when it is no bounce."""
    return SISIMAI_REASONS.get(name.strip().lower())


def status_code(text: str | None) -> str | None:
    """Return the first enhanced status code (``class.subject.detail``) in *text*."""
    if text and (match := _STATUS.search(text)):
        return ".".join(match.groups())
    return None


def reply_code(text: str | None) -> str | None:
    """Return the first SMTP reply code (``550``) in *text*, or None."""
    if text and (match := _REPLY.search(text[:_TEXT_LIMIT])):
        return match.group(0)
    return None


def is_temporary(status: str | None, reply: str | None, action: str | None) -> bool:
    """Tell whether a failure is temporary: delayed, a 4.x.x status or a 4xx reply."""
    if action == "delayed":
        return True
    if status:
        return status.startswith("4")
    return bool(reply) and str(reply).startswith("4")
