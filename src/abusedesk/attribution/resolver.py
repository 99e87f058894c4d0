"""Resolve a batch of events to the accounts and resources behind them.

Every resolver turns an indicator into a *finding*: the accounts it points at (one, or
several when a value is shared), how strong that is, and what it rests on. All of a
batch's lookups are asked together (a handful of queries per batch); only events left
ambiguous ask the send log about their recipient or source IP.

The decision, per event:

1. The strongest finding that names one account picks it; findings that name several
   accounts (a shared pool, a domain two accounts verified) only narrow.
2. Findings of other kinds that agree raise the confidence by one step (to medium from
   weak evidence, to high from header evidence confirmed by our network or send log).
3. Findings that disagree are recorded as conflicts and lower it, never silently
   overruled: a rival of equal or greater strength leaves the event at low.
4. Low confidence never settles an event: it waits in the unattributed inbox with the
   best guess as a suggestion.
"""

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from ipaddress import ip_address, ip_network
from typing import NamedTuple

from abusedesk.attribution.keys import KeyKind, normal_key
from abusedesk.attribution.model import (
    Attribution,
    Candidate,
    Confidence,
    EventFacts,
    IpInterval,
    KeyHolding,
    Method,
    SendProbe,
    SentMessage,
)
from abusedesk.attribution.ports import InventoryLookup

HIGH, MEDIUM, LOW = 3, 2, 1

# How far from an event the send log is searched for its recipient, and how close a
# message from the event's own source IP must be to count as that message.
RECIPIENT_WINDOW_BEFORE = timedelta(days=7)
RECIPIENT_WINDOW_AFTER = timedelta(hours=1)
SAME_MESSAGE_SLACK = timedelta(hours=6)
# Categories about a domain or our infrastructure, not about one message we sent: a
# source IP outside our space says nothing against them.
_NOT_ABOUT_ONE_MESSAGE = frozenset({"dmarc_aggregate", "tls_report"})
MAX_CANDIDATES = 10
MAX_DOMAIN_LABELS = 8

# Which family of evidence each method belongs to: agreement counts only across families.
_FAMILY = {
    Method.PROVIDER_MESSAGE_ID: "send_log",
    Method.MESSAGE_ID: "send_log",
    Method.ENVELOPE_SENDER: "send_log",
    Method.SENDING_ACCOUNT_ID: "provider",
    Method.FEEDBACK_ID: "configuration",
    Method.CFBL_FEEDBACK_ID: "configuration",
    Method.CONFIGURATION_SET: "configuration",
    Method.MAILBOX: "identity",
    Method.ORIGINATION_NUMBER: "number",
    Method.SENDER_ID: "number",
    Method.PUSH_APPLICATION: "push",
    Method.PLATFORM_ENDPOINT: "push",
    Method.DKIM_SELECTOR: "signature",
    Method.DKIM_DOMAIN: "identity",
    Method.ENVELOPE_DOMAIN: "identity",
    Method.FROM_ADDRESS: "identity",
    Method.FROM_DOMAIN: "identity",
    Method.DEDICATED_IP: "network",
    Method.SHARED_POOL: "network",
    Method.RECIPIENT: "recipient",
    Method.URL_DOMAIN: "content",
}
# Families that confirm header evidence well enough to make it high: what a spoofer
# cannot copy into a message (our IPs, our send log, our configuration).
_CONFIRMING = frozenset({"send_log", "provider", "configuration", "network", "recipient"})
# Header evidence: anyone can write it, so a source IP outside our space contradicts it.
_SPOOFABLE = frozenset({"identity", "content", "signature"})
_METHOD_ORDER = {m: n for n, m in enumerate(_FAMILY)}

# Indicator kind -> what its values are looked up as: (key kind, method, the level of a
# finding that names one account). Domains are walked up to their parents, since a
# verified domain covers its subdomains; a URL is looked up by its host.
_LOOKUPS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "feedback_id": ((KeyKind.FEEDBACK_ID, Method.FEEDBACK_ID, HIGH),),
    "cfbl_feedback_id": ((KeyKind.CFBL_FEEDBACK_ID, Method.CFBL_FEEDBACK_ID, HIGH),),
    "dkim_selector": ((KeyKind.DKIM, Method.DKIM_SELECTOR, HIGH),),
    "origination_number": ((KeyKind.ORIGINATION_NUMBER, Method.ORIGINATION_NUMBER, HIGH),),
    "push_application": ((KeyKind.PUSH_APPLICATION, Method.PUSH_APPLICATION, HIGH),),
    "platform_endpoint": ((KeyKind.PLATFORM_ENDPOINT, Method.PLATFORM_ENDPOINT, HIGH),),
    "from_address": (
        (KeyKind.MAILBOX, Method.MAILBOX, MEDIUM),
        (KeyKind.ADDRESS, Method.FROM_ADDRESS, MEDIUM),
    ),
    "dkim_domain": ((KeyKind.DOMAIN, Method.DKIM_DOMAIN, MEDIUM),),
    "envelope_domain": (
        (KeyKind.MAIL_FROM_DOMAIN, Method.ENVELOPE_DOMAIN, MEDIUM),
        (KeyKind.DOMAIN, Method.ENVELOPE_DOMAIN, MEDIUM),
    ),
    "from_domain": ((KeyKind.DOMAIN, Method.FROM_DOMAIN, MEDIUM),),
    "sender_id": ((KeyKind.SENDER_ID, Method.SENDER_ID, MEDIUM),),
    "configuration_set": ((KeyKind.CONFIGURATION_SET, Method.CONFIGURATION_SET, LOW),),
    "domain": ((KeyKind.DOMAIN, Method.URL_DOMAIN, LOW),),
    "url": ((KeyKind.DOMAIN, Method.URL_DOMAIN, LOW),),
}
_LABELS = {
    Method.FEEDBACK_ID: "Feedback-ID",
    Method.CFBL_FEEDBACK_ID: "CFBL-Feedback-ID",
    Method.DKIM_SELECTOR: "DKIM key",
    Method.ORIGINATION_NUMBER: "Origination number",
    Method.PUSH_APPLICATION: "Push application",
    Method.PLATFORM_ENDPOINT: "Platform endpoint",
    Method.MAILBOX: "From address",
    Method.FROM_ADDRESS: "From address",
    Method.SENDER_ID: "Sender id",
    Method.CONFIGURATION_SET: "Configuration set",
    Method.DKIM_DOMAIN: "DKIM d=",
    Method.ENVELOPE_DOMAIN: "Envelope sender domain",
    Method.FROM_DOMAIN: "From domain",
    Method.URL_DOMAIN: "Linked domain",
}


class Finding:
    """What one resolver says: the accounts a value points at, and how strongly.

    A plain class with slots, its family and uniqueness worked out once: the decision
    reads them many times per event.
    """

    __slots__ = ("family", "holders", "level", "method", "shared", "text", "unique")

    def __init__(
        self,
        method: str,
        level: int,
        holders: Mapping[int, int | None],
        text: str,
        shared: bool = False,
    ) -> None:
        """Record a finding; *shared* marks a value many accounts hold (a shared pool)."""
        self.method = method
        self.level = level
        # account id -> resource id (None when the evidence names no particular resource)
        self.holders = holders
        # Says what the value is and where it was found, with {account} and {resource}
        # filled in once the batch's names are known.
        self.text = text
        # A shared value's holders were only checked for the accounts other findings
        # name: it never names an account by itself.
        self.shared = shared
        # The family of evidence the finding belongs to.
        self.family = _FAMILY[method]
        # Whether the finding names exactly one account.
        self.unique = len(holders) == 1 and not shared


class _Event:
    __slots__ = ("facts", "findings", "indicators", "misses", "occurred_at", "sent_at")

    def __init__(self, facts: EventFacts) -> None:
        self.facts = facts
        self.indicators = facts.indicators
        self.occurred_at = facts.occurred_at
        self.findings: list[Finding] = []
        self.misses: list[str] = []
        # When the reported message was sent, once the send log says so.
        self.sent_at: datetime | None = None

    def values(self, kind: str) -> tuple[str, ...]:
        return self.indicators.get(kind, ())


def attribute_events(events: Sequence[EventFacts], lookup: InventoryLookup) -> list[Attribution]:
    """Return the attribution of each event, in order, asking *lookup* in batches."""
    work = [_Event(facts) for facts in events]
    _by_send_log(work, lookup)
    _by_keys(work, lookup)
    _by_account_id(work, lookup)
    foreign, pools = _by_ip(work, lookup)
    _by_recipient(work, lookup)
    _by_pool(work, pools, lookup)
    decisions = [_decide(event, i in foreign) for i, event in enumerate(work)]
    names = _names(decisions, lookup)
    say = _sayer(names)
    return [_attribution(decision, names, say) for decision in decisions]


# --- resolvers --------------------------------------------------------------------------------


def _by_send_log(work: Sequence[_Event], lookup: InventoryLookup) -> None:
    """Our own ids: provider message id, Message-ID, and the VERP local part of the envelope."""
    provider_ids: set[str] = set()
    message_ids: set[str] = set()
    asking: list[_Event] = []
    for event in work:
        indicators = event.indicators
        if not (
            "provider_message_id" in indicators
            or "message_id" in indicators
            or "envelope_sender" in indicators
        ):
            continue
        asking.append(event)
        provider_ids.update(indicators.get("provider_message_id", ()))
        provider_ids.update(_verp_ids(event))
        message_ids.update(m.strip().strip("<>") for m in indicators.get("message_id", ()))
    if not provider_ids and not message_ids:
        return
    sent = lookup.sent_messages(provider_message_ids=provider_ids, message_ids=message_ids)
    by_provider_id = {s.provider_message_id: s for s in sent}
    by_message_id: dict[str, list[SentMessage]] = defaultdict(list)
    for s in sent:
        if s.message_id_header:
            by_message_id[s.message_id_header].append(s)
    for event in asking:
        found = [
            (method, value, [by_provider_id[value]])
            for method, values in (
                (Method.PROVIDER_MESSAGE_ID, event.values("provider_message_id")),
                (Method.ENVELOPE_SENDER, _verp_ids(event)),
            )
            for value in values
            if value in by_provider_id
        ]
        for raw in event.values("message_id"):
            value = raw.strip().strip("<>")
            if value in by_message_id:
                found.append((Method.MESSAGE_ID, value, by_message_id[value]))
        for method, value, entries in found:
            event.sent_at = event.sent_at or entries[0].sent_at
            event.findings.append(
                Finding(
                    method,
                    HIGH,
                    {e.account_id: e.resource_id for e in entries},
                    _send_log_text(method, value, entries[0].sent_at),
                )
            )
        if not found and (event.values("message_id") or event.values("provider_message_id")):
            event.misses.append("its message ids are not in the send log")


def _verp_ids(event: _Event) -> list[str]:
    """Return the local parts of the envelope sender: a VERP return path carries our id."""
    return [v.rpartition("@")[0] for v in event.values("envelope_sender") if "@" in v]


def _send_log_text(method: str, value: str, sent_at: datetime) -> str:
    label = {
        Method.PROVIDER_MESSAGE_ID: f"Provider message id {value}",
        Method.ENVELOPE_SENDER: f"The envelope sender's VERP id {value}",
        Method.MESSAGE_ID: f"Message-ID <{value}>",
    }[method]
    return f"{label} is in the send log of account {{account}}{{resource}} at {_minute(sent_at)}"


def _by_keys(work: Sequence[_Event], lookup: InventoryLookup) -> None:
    """Values that name a resource: Feedback-IDs, DKIM keys, identities, numbers ..."""
    wanted: list[list[tuple[str, str, str, int, str]]] = []
    keys: set[tuple[str, str]] = set()
    for event in work:
        asks: list[tuple[str, str, str, int, str]] = []
        for indicator, raws in event.indicators.items():
            lookups = _LOOKUPS.get(indicator)
            if lookups is None:
                continue
            values = [_host(v) for v in raws] if indicator == "url" else raws
            for key_kind, method, level in lookups:
                for raw in values:
                    value = normal_key(key_kind, raw)
                    if not value:
                        continue
                    if key_kind == KeyKind.DOMAIN:
                        for name in _parents(value):
                            asks.append((key_kind, name, method, level, raw))
                            keys.add((key_kind, name))
                    else:
                        asks.append((key_kind, value, method, level, raw))
                        keys.add((key_kind, value))
        wanted.append(asks)
    if not keys:
        return
    holdings: dict[tuple[str, str], list[KeyHolding]] = defaultdict(list)
    for holding in lookup.key_holdings(keys):
        holdings[(holding.kind, holding.value)].append(holding)
    for event, asks in zip(work, wanted, strict=True):
        if not asks:
            continue
        at = event.sent_at or event.occurred_at
        seen: set[tuple[str, int]] = set()
        for kind, value, method, level, raw in asks:
            found = holdings.get((kind, value))
            if not found:
                continue
            held = [
                h for h in found if h.valid_from <= at and (h.valid_to is None or at < h.valid_to)
            ]
            if not held:
                continue
            holders = {h.account_id: h.resource_id for h in held}
            if any((method, a) in seen for a in holders):
                continue  # a parent domain of one already found adds nothing
            seen.update((method, a) for a in holders)
            event.findings.append(Finding(method, level, holders, _key_text(method, raw, value)))


def _key_text(method: str, raw: str, value: str) -> str:
    label = _LABELS[method]
    if method in (
        Method.FROM_DOMAIN,
        Method.DKIM_DOMAIN,
        Method.ENVELOPE_DOMAIN,
        Method.URL_DOMAIN,
    ):
        where = value if raw.lower().rstrip(".") == value else f"{value} (parent of {raw})"
        return f"{label} {where} is a verified identity of account {{account}}"
    if method == Method.DKIM_SELECTOR:
        return f"{label} {value} belongs to identity {{resource_value}} of account {{account}}"
    return f"{label} {raw} belongs to account {{account}}{{resource}}"


def _by_account_id(work: Sequence[_Event], lookup: InventoryLookup) -> None:
    """The provider's own account id, as SES notifications name it."""
    wanted = {v for event in work for v in event.values("sending_account_id")}
    if not wanted:
        return
    ids = lookup.account_ids(wanted)
    for event in work:
        for value in event.values("sending_account_id"):
            if value in ids:
                event.findings.append(
                    Finding(
                        Method.SENDING_ACCOUNT_ID,
                        HIGH,
                        {ids[value]: None},
                        "The report names its sending account {account}",
                    )
                )


def _by_ip(
    work: Sequence[_Event], lookup: InventoryLookup
) -> tuple[set[int], dict[int, list[tuple[str, str]]]]:
    """Source IP at the time: a dedicated IP names its account; a shared pool is noted.

    Return the positions of events whose source IP is a public address outside our
    space, and per event the (IP, pool) pairs of shared pools it came from.
    """
    ips = {ip for event in work for v in event.values("source_ip") if (ip := _canonical(v))}
    if not ips:
        return set(), {}
    intervals: dict[str, list[IpInterval]] = defaultdict(list)
    for interval in lookup.ip_intervals(ips):
        intervals[interval.ip].append(interval)
    pools: dict[int, list[tuple[str, str]]] = defaultdict(list)
    foreign: set[int] = set()
    for position, event in enumerate(work):
        at = event.sent_at or event.occurred_at
        for raw in event.values("source_ip"):
            ip = _canonical(raw)
            if ip is None:
                continue
            if ip not in intervals:
                if _is_public(ip):
                    foreign.add(position)
                    event.misses.append(f"source IP {ip} is not in our address space")
                continue
            held = [
                i
                for i in intervals[ip]
                if i.valid_from <= at and (i.valid_to is None or at < i.valid_to)
            ]
            if not held:
                event.misses.append(f"source IP {ip} was allocated to nobody at {_minute(at)}")
            elif not held[0].shared and held[0].account_id is not None:
                event.findings.append(
                    Finding(
                        Method.DEDICATED_IP,
                        MEDIUM,
                        {held[0].account_id: None},
                        f"Source IP {ip} was dedicated to account {{account}} at {_minute(at)}",
                    )
                )
            elif held[0].pool_name:
                pools[position].append((ip, held[0].pool_name))
    return foreign, pools


def _by_pool(
    work: Sequence[_Event], pools: Mapping[int, list[tuple[str, str]]], lookup: InventoryLookup
) -> None:
    """Check the accounts an event's other findings name against its IP's shared pool.

    A shared pool may have thousands of members: only the memberships of the accounts
    already in question are read, and the pool only confirms or contradicts them.
    """
    accounts = {a for p in pools for f in work[p].findings for a in f.holders}
    names = {name for pairs in pools.values() for _, name in pairs}
    members: dict[str, list[KeyHolding]] = defaultdict(list)
    if accounts:
        for holding in lookup.pool_memberships(names, accounts):
            members[holding.value].append(holding)
    for position, pairs in pools.items():
        event = work[position]
        at = event.sent_at or event.occurred_at
        asked = {a for f in event.findings for a in f.holders}
        for ip, name in pairs:
            if not asked:
                event.misses.append(
                    f"source IP {ip} was in shared pool {name}, which names no account by itself"
                )
                continue
            holders = {
                h.account_id: h.resource_id
                for h in members[name]
                if h.account_id in asked and h.held_at(at)
            }
            event.findings.append(
                Finding(
                    Method.SHARED_POOL,
                    MEDIUM,
                    holders,
                    f"Source IP {ip} was in shared pool {name} at {_minute(at)}, "
                    "which account {account} sent through",
                    shared=True,
                )
            )


def _by_recipient(work: Sequence[_Event], lookup: InventoryLookup) -> None:
    """Ask the send log who mailed the recipient (or the complainant) around the event.

    Only events that no single strong finding settles ask: the question costs a query.
    """
    probes: dict[int, list[SendProbe]] = {}
    for position, event in enumerate(work):
        if _settled_by_one(event):
            continue
        hashes = [*event.values("recipient_hash"), *event.values("complainant_hash")]
        if not hashes:
            continue
        at = event.sent_at or event.occurred_at
        probes[position] = [
            SendProbe(h, at - RECIPIENT_WINDOW_BEFORE, at + RECIPIENT_WINDOW_AFTER)
            for h in dict.fromkeys(hashes)
        ]
    if not probes:
        return
    answers = lookup.senders({p for ps in probes.values() for p in ps})
    for position, event_probes in probes.items():
        event = work[position]
        entries = [e for p in event_probes for e in answers.get(p, ())]
        if not entries:
            event.misses.append("the recipient got nothing from us in the week before")
            continue
        ips = {_canonical(v) for v in event.values("source_ip")}
        at = event.sent_at or event.occurred_at
        same_ip = [
            e for e in entries if e.source_ip in ips and abs(e.sent_at - at) <= SAME_MESSAGE_SLACK
        ]
        chosen = same_ip or entries
        holders = {e.account_id: e.resource_id for e in chosen}
        latest = max(e.sent_at for e in chosen)
        via = " from the same source IP" if same_ip else ""
        event.findings.append(
            Finding(
                Method.RECIPIENT,
                MEDIUM if same_ip else LOW,
                holders,
                f"The send log shows mail to the recipient{via} from "
                + ("account {account}" if len(holders) == 1 else f"{len(holders)} accounts")
                + f", last at {_minute(latest)}",
            )
        )


def _settled_by_one(event: _Event) -> bool:
    return any(f.unique and f.level >= MEDIUM and f.family != "identity" for f in event.findings)


# --- the decision ------------------------------------------------------------------------------


class _Decision(NamedTuple):
    account_id: int | None
    resource_id: int | None
    finding: Finding | None
    level: int
    support: tuple[Finding, ...]
    conflicts: tuple[Finding, ...]
    # Why the confidence fell, in words, beside the conflicting findings.
    doubts: tuple[str, ...]
    candidates: tuple[tuple[int, int | None, Finding], ...]
    misses: tuple[str, ...]


def _decide(event: _Event, foreign_ip: bool) -> _Decision:
    findings = event.findings
    misses = tuple(event.misses)
    by_account: dict[int, list[Finding]] = defaultdict(list)
    for finding in findings:
        for holder in finding.holders:
            by_account[holder].append(finding)
    if not by_account:
        return _Decision(None, None, None, 0, (), (), (), (), misses)
    ranked = _ranked(by_account)
    account = ranked[0]
    if not any(f.unique for f in by_account[account]):
        # Only shared values: they settle an account only where they all meet in one.
        common = [a for a in ranked if len(by_account[a]) == len(findings)]
        if len(common) != 1:
            return _Decision(
                None, None, None, 0, (), (), (), _candidates(ranked, by_account), misses
            )
        account = common[0]
    mine = by_account[account]
    best = _best(mine)
    support = tuple(f for f in mine if f.family != best.family)
    families = {f.family for f in support}
    if best.unique:
        level = best.level
        if families & _CONFIRMING or (families and level == LOW):
            level = min(HIGH, level + 1)
    else:
        strong = any(f.level >= MEDIUM for f in mine)
        level = MEDIUM if families and strong else LOW
    conflicts = tuple(
        f
        for f in findings
        if account not in f.holders and ((f.unique and f.level >= MEDIUM) or f.shared)
    )
    for rival in conflicts:
        level = LOW if rival.unique and rival.level >= best.level else max(LOW, level - 1)
    doubts: tuple[str, ...] = ()
    if (
        foreign_ip
        and best.family in _SPOOFABLE
        and event.facts.category not in _NOT_ABOUT_ONE_MESSAGE
        and not families & _CONFIRMING
    ):
        level = max(LOW, level - 1)
        doubts = ("The source IP is not ours, so the headers may be spoofed",)
    return _Decision(
        account,
        best.holders[account],
        best,
        level,
        support,
        conflicts,
        doubts,
        _candidates([a for a in ranked if a != account], by_account),
        misses,
    )


def _candidates(
    ranked: Sequence[int], by_account: Mapping[int, list[Finding]]
) -> tuple[tuple[int, int | None, Finding], ...]:
    """Return the strongest accounts after the chosen one, each with its best finding."""
    return tuple(
        (a, best.holders[a], best)
        for a in ranked[:MAX_CANDIDATES]
        for best in (_best(by_account[a]),)
    )


def _ranked(by_account: Mapping[int, list[Finding]]) -> list[int]:
    """Return the accounts strongest first: those a finding names alone, then the others."""
    if len(by_account) == 1:
        return list(by_account)
    named = [a for a, mine in by_account.items() if any(f.unique for f in mine)]
    others = [a for a in by_account if a not in named]
    named.sort(key=lambda a: _strength(by_account[a]), reverse=True)
    others.sort(key=lambda a: (-len(by_account[a]), a))
    return named + others


def _strength(mine: Sequence[Finding]) -> tuple[int, int, int]:
    """Rank an account by its findings: its best unique one, the families agreeing, the method."""
    unique = max((f.level for f in mine if f.unique), default=0)
    return (unique, len({f.family for f in mine}), -_METHOD_ORDER[_best(mine).method])


def _best(mine: Sequence[Finding]) -> Finding:
    """Return the finding that speaks most for one account: unique, strong, early method."""
    if len(mine) == 1:
        return mine[0]
    return min(mine, key=lambda f: (not f.unique, -f.level, _METHOD_ORDER[f.method]))


# --- words -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """How the batch's accounts and resources are shown: external ids, resource values."""

    accounts: Mapping[int, str]
    resources: Mapping[int, tuple[str, str]]


def _names(decisions: Sequence[_Decision], lookup: InventoryLookup) -> Names:
    account_ids: set[int] = set()
    resource_ids: set[int] = set()
    for d in decisions:
        if d.account_id is not None:
            account_ids.add(d.account_id)
        if d.resource_id is not None:
            resource_ids.add(d.resource_id)
        for f in d.conflicts:
            if f.unique:
                account_ids.update(f.holders)
                resource_ids.update(r for r in f.holders.values() if r is not None)
    if not account_ids:
        return Names({}, {})
    accounts, resources = lookup.names(account_ids, resource_ids)
    return Names(accounts, resources)


def _attribution(d: _Decision, names: Names, say: Callable[[Finding, int], str]) -> Attribution:
    candidates = tuple(
        Candidate(account, resource, f.method, Confidence.BY_RANK[f.level if f.unique else LOW])
        for account, resource, f in d.candidates
    )
    if d.finding is None or d.account_id is None:
        if candidates:
            reason = (
                f"{len(d.candidates)} accounts share what the report names "
                f"({', '.join(sorted({_LABELS.get(c.method, c.method) for c in candidates}))}) "
                "and nothing tells them apart"
            )
        else:
            reason = "Nothing names one of our accounts"
        misses = "; ".join(d.misses)
        return Attribution(
            None, None, None, None, f"{reason}: {misses}." if misses else f"{reason}.", candidates
        )
    reason = say(d.finding, d.account_id)
    if not d.finding.unique:
        reason += f"; of those, only account {names.accounts.get(d.account_id)} fits everything"
    if d.support:
        reason += ". Agrees: " + "; ".join(say(f, d.account_id) for f in d.support)
    conflicts = tuple(_conflict(say, f) for f in d.conflicts) + d.doubts
    if conflicts:
        reason += ". Disagrees: " + "; ".join(conflicts)
    return Attribution(
        d.account_id,
        d.resource_id,
        d.finding.method,
        Confidence.BY_RANK[d.level],
        reason + ".",
        candidates,
        conflicts,
    )


def _sayer(names: Names) -> Callable[[Finding, int], str]:
    accounts, resources = names.accounts, names.resources

    def say(finding: Finding, account: int) -> str:
        resource = finding.holders.get(account)
        kind_value = resources.get(resource) if resource is not None else None
        shown = accounts.get(account)
        return finding.text.format(
            account=f"#{account}" if shown is None else shown,
            resource=f" ({kind_value[0].replace('_', ' ')} {kind_value[1]})" if kind_value else "",
            resource_value=kind_value[1] if kind_value else "?",
        )

    return say


def _conflict(say: Callable[[Finding, int], str], finding: Finding) -> str:
    if finding.unique:
        return say(finding, next(iter(finding.holders)))
    if finding.shared:
        return finding.text.partition(", which")[0] + ", and the account was no member then"
    return finding.text.format(account="?", resource="", resource_value="?")


# --- small helpers ---------------------------------------------------------------------------------


def _minute(at: datetime) -> str:
    """Return *at* to the minute as sentences write it: ``2026-11-02T10:14Z``."""
    # isoformat is several times faster than strftime; it pads years below 1000.
    if at.year >= 1000:
        return at.isoformat()[:16] + "Z"
    return f"{at:%Y-%m-%dT%H:%M}Z"


def _parents(domain: str | None) -> list[str]:
    """Return *domain* and its parents down to two labels: a verified domain covers its subdomains."""
    if not domain or "." not in domain:
        return []
    labels = domain.split(".")
    # No identity is deeper than this; a hostile name of hundreds of labels costs no more.
    first = max(0, len(labels) - MAX_DOMAIN_LABELS)
    return [".".join(labels[i:]) for i in range(first, len(labels) - 1)]


def _host(url: str) -> str:
    rest = url.partition("://")[2] or url
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = host.rpartition("@")[2]
    if host.startswith("["):
        return ""
    return host.split(":", 1)[0]


@lru_cache(maxsize=65_536)
def _canonical(value: str) -> str | None:
    value = value.strip()
    # Most IPs arrive as canonical dotted quads already: checked here in a fraction of
    # what parsing costs.
    parts = value.split(".")
    if len(parts) == 4 and all(
        p.isascii() and p.isdigit() and len(p) <= 3 and (p == "0" or p[0] != "0") and int(p) < 256
        for p in parts
    ):
        return value
    try:
        return str(ip_address(value))
    except ValueError:
        return None


_LOCAL_NETWORKS = tuple(
    ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3", "::/127", "fc00::/7", "fe80::/10",
        "ff00::/8",
    )
)  # fmt: skip


@lru_cache(maxsize=65_536)
def _is_public(ip: str) -> bool:
    """Tell whether *ip* can be a sender's address on the internet (not a private hop)."""
    address = ip_address(ip)
    return not any(address in network for network in _LOCAL_NETWORKS)
