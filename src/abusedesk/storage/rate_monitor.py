"""Rates of every subject, their statuses and transitions, and the reads pages show them with.

Subjects: each account, and within it each identity, configuration set (and other
resource the provider reports figures for), Feedback-ID campaign and destination group
(Gmail, Microsoft ...); each IP pool across the accounts sending through it.

The figures come from ``rate_daily``, the daily sums of ``sending_stats`` the inventory
store keeps as it writes hourly rows. A ``RateBook`` holds the last 90-odd days of them
in memory as one array (figures x subjects x days): it is read whole once (and again every
``reload_hours``), and on each run after that only yesterday's and today's sums are read
again, so one run over 100,000 accounts reads a few hundred thousand rows, not millions.
Corrections to older days reach the book at its next whole read.

``evaluate`` reads every subject's rates and statuses in one vectorised pass
(``reputation.batch``); only subjects whose status changes are written to
``rate_statuses`` in full, each change becoming a signal draft; those that stay not
healthy get fresh figures.
"""

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from sqlalchemy import bindparam, case, or_, select
from sqlalchemy.orm import Session

from abusedesk.attribution.keys import ResourceKind
from abusedesk.enforcement.ladder import AccountAction, Standing
from abusedesk.enforcement.policy import Policy, Threshold
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind
from abusedesk.monitoring.signals import Step as SignalStep
from abusedesk.reputation.batch import (
    REVIEWABLE,
    STOPPED,
    RateArrays,
    day_number,
    day_start,
    representative_rates,
    standing_groups,
    status_codes,
    trap_codes,
)
from abusedesk.reputation.rates import (
    BOUNCE_RATE,
    COMPLAINT_RATE,
    DEFAULT_WINDOW,
    AccountFigures,
    Rate,
    RateWindow,
    fresh_start_day,
    percent,
)
from abusedesk.reputation.status import (
    MIN_MESSAGES_TO_ACT,
    MetricStatus,
    Status,
    Step,
    metric_status,
)
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.enforcement import ActionState, current_policy
from abusedesk.storage.reputation import DAILY_FIGURES
from abusedesk.storage.tables import (
    Account,
    EnforcementAction,
    IpPool,
    RateDaily,
    RateStatus,
    Resource,
    table_of,
)

SPAM_TRAPS: Final = "spam_traps"
METRICS: Final = (COMPLAINT_RATE, BOUNCE_RATE, SPAM_TRAPS)


class Subject:
    """The kinds of subject a rate is read for."""

    ACCOUNT = "account"
    IDENTITY = "identity"
    CONFIGURATION_SET = "configuration_set"
    IP_POOL = "ip_pool"
    FEEDBACK_ID = "feedback_id"
    DESTINATION_GROUP = "destination_group"

    ALL = (ACCOUNT, IDENTITY, CONFIGURATION_SET, IP_POOL, FEEDBACK_ID, DESTINATION_GROUP)


# Positions of the figures in the book's first axis (the order of DAILY_FIGURES).
_SENT, _BOUNCES, _FBL, _COMPLAINTS, _TRAPS = range(len(DAILY_FIGURES))
_IDENTITY_KINDS: Final = (ResourceKind.IDENTITY_DOMAIN, ResourceKind.IDENTITY_ADDRESS)
# How high each status stands: a rise raises a signal, a fall to 0 heals it.
_LEVEL: Final = {
    Status.HEALTHY: 0,
    Status.ALMOST_HEALED: 0,
    Status.UNDER_REVIEW: 1,
    Status.PENDING_PAUSE: 2,
    Status.PAUSED: 2,
}
_STATUS_RANK: Final = {status: rank for rank, status in enumerate(Status.ALL)}
_MAX_KEY: Final = 200
_NO_ACCOUNT: Final = -1
_EMPTY: Final = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class RateRules:
    """What the monitor reads rates over and when spam-trap hits count against a subject."""

    window: RateWindow = DEFAULT_WINDOW
    min_to_act: int = MIN_MESSAGES_TO_ACT
    trap_days: int = 21
    trap_review_hits: int = 1
    trap_pause_hits: int = 25
    subjects: tuple[str, ...] = Subject.ALL

    @property
    def columns(self) -> int:
        """Return how many days the book keeps: enough for the longest window."""
        return max(self.window.max_days, self.trap_days)


# --- the book: daily figures of every subject in memory ----------------------------------


@dataclass
class RateBook:
    """The daily figures of every subject over the last ``columns`` days, today last.

    ``store`` holds one (capacity x columns) matrix per figure (``DAILY_FIGURES``); its
    first ``size`` rows are the subjects'. ``figure`` gives one of them.
    """

    columns: int
    today: int = 0
    loaded_at: datetime | None = None
    keys: dict[tuple[str, str], int] = field(default_factory=dict)
    subject_types: list[str] = field(default_factory=list)
    subject_ids: list[str] = field(default_factory=list)
    owners: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    store: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((len(DAILY_FIGURES), 0, 0), dtype=np.int64)
    )
    group_names: list[str] = field(default_factory=list)
    group_codes: dict[str, int] = field(default_factory=dict)
    type_names: dict[str, int] = field(default_factory=dict)
    _types: NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    # Subjects known by a number: (sorted numbers, their rows), per subject type.
    numbered: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Return how many subjects the book holds."""
        return len(self.subject_ids)

    @property
    def first_day(self) -> int:
        """Return the day number of the first column."""
        return self.today - self.columns + 1

    @property
    def account_ids(self) -> NDArray[np.int64]:
        """Return each subject's account id, -1 for none (a shared pool)."""
        return self.owners[: self.size]

    def figure(self, position: int) -> NDArray[np.int64]:
        """Return figure *position* of every subject: a (subjects x days) view."""
        return self.store[position, : self.size]

    def move_to(self, today: int) -> None:
        """Make *today* the last column: older days fall off, new ones start empty."""
        if self.store.shape[2] != self.columns:
            self.store = np.zeros((len(DAILY_FIGURES), self.size, self.columns), np.int64)
        shift = today - self.today
        if shift <= 0 and self.today:
            return
        if shift >= self.columns or not self.today:
            self.store[:] = 0
        else:
            self.store[:, :, :-shift] = self.store[:, :, shift:]
            self.store[:, :, -shift:] = 0
        self.today = today

    def type_code(self, subject_type: str) -> int:
        """Return a small number standing for *subject_type*."""
        return self.type_names.setdefault(subject_type, len(self.type_names))

    def type_codes(self) -> NDArray[np.int16]:
        """Return every subject's type as its number (``type_code``)."""
        if len(self._types) != self.size:
            known = self._types.tolist()
            more = [self.type_code(t) for t in self.subject_types[len(known) :]]
            self._types = np.array(known + more, dtype=np.int16)
        return self._types

    def group_code(self, group: str) -> int:
        """Return a small number standing for destination group *group*."""
        code = self.group_codes.get(group)
        if code is None:
            code = self.group_codes[group] = len(self.group_names)
            self.group_names.append(group)
        return code

    def rows_for(
        self, subject_type: str, subject_ids: Sequence[str], account_ids: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Return the rows of these subjects, adding the ones the book does not hold yet."""
        rows = np.empty(len(subject_ids), dtype=np.int64)
        added: list[int] = []
        for position, subject_id in enumerate(subject_ids):
            key = (subject_type, subject_id)
            row = self.keys.get(key)
            if row is None:
                row = len(self.subject_ids)
                self.keys[key] = row
                self.subject_types.append(subject_type)
                self.subject_ids.append(subject_id)
                added.append(int(account_ids[position]))
            rows[position] = row
        if added:
            self._make_room(self.size)
            self.owners[self.size - len(added) : self.size] = added
        return rows

    def numbered_rows(
        self,
        subject_type: str,
        numbers: NDArray[np.int64],
        account_ids: NDArray[np.int64],
        name: Callable[[int], str],
    ) -> NDArray[np.int64]:
        """Return the rows of subjects known by a number (sorted, unique *numbers*).

        Accounts are numbered by their id, destination groups by account and group code:
        looked up with arrays, so that a run over 100,000 accounts makes no Python call
        per account. *name* gives the subject id of a number the book does not hold yet.
        """
        known, known_rows = self.numbered.get(subject_type, (_EMPTY, _EMPTY))
        at = np.minimum(np.searchsorted(known, numbers), max(len(known) - 1, 0))
        found = (known[at] == numbers) if len(known) else np.zeros(len(numbers), dtype=bool)
        rows = np.empty(len(numbers), dtype=np.int64)
        rows[found] = known_rows[at[found]]
        if not found.all():
            missing = numbers[~found]
            added = self.rows_for(
                subject_type, [name(int(n)) for n in missing.tolist()], account_ids[~found]
            )
            rows[~found] = added
            merged = np.concatenate([known, missing])
            order = np.argsort(merged, kind="stable")
            self.numbered[subject_type] = (
                merged[order],
                np.concatenate([known_rows, added])[order],
            )
        return rows

    def group_subject(self, number: int) -> str:
        """Return the subject id of destination-group number *number* (account and group)."""
        return f"{number // _GROUP_SPACE}:{self.group_names[number % _GROUP_SPACE]}"

    def _make_room(self, size: int) -> None:
        """Grow the store (doubling) so that it holds *size* subjects."""
        capacity = self.store.shape[1]
        if size <= capacity:
            return
        grown = max(size, 2 * capacity, 1024)
        store = np.zeros((len(DAILY_FIGURES), grown, self.columns), np.int64)
        store[:, :capacity] = self.store
        owners = np.full(grown, _NO_ACCOUNT, dtype=np.int64)
        owners[: len(self.owners)] = self.owners
        self.store, self.owners = store, owners

    def add(
        self,
        rows: NDArray[np.int64],
        days: NDArray[np.int64],
        figures: NDArray[np.int64],
        *,
        replace: bool = False,
    ) -> None:
        """Add *figures* (n x figures) at *rows* and day numbers *days*; older days are skipped.

        With *replace*, the cells given are emptied first: they then hold exactly what
        this call brings (every row of theirs must be in it).
        """
        columns = days - self.first_day
        inside = (columns >= 0) & (columns < self.columns)
        flat = rows[inside] * self.columns + columns[inside]
        values = figures[inside]
        # Sum the rows that fall on one cell first: then each cell is added to once.
        cells, inverse = np.unique(flat, return_inverse=True)
        if len(cells) == len(flat):
            sums = np.empty_like(values)
            sums[inverse] = values
        else:
            sums = np.zeros((len(cells), values.shape[1]), dtype=np.int64)
            np.add.at(sums, inverse, values)
        for position in range(len(DAILY_FIGURES)):
            matrix = self.store[position].reshape(-1)
            if replace:
                matrix[cells] = sums[:, position]
            else:
                matrix[cells] += sums[:, position]


def read_book(session: Session, book: RateBook, *, now: datetime, whole: bool) -> int:
    """Bring *book* up to *now*: every day when *whole*, else yesterday and today; return rows.

    Reads ``rate_daily`` (in chunks of ``READ_CHUNK`` rows, straight from the driver: this
    is the monitor's hot path) and sums it into the book's subjects: accounts, their
    destination groups, resources, IP pools and Feedback-IDs.
    """
    today = day_number(now)
    if whole:
        book.today = 0
    book.move_to(today)
    first = book.first_day if whole else today - 1
    # A whole read starts from an empty book and adds chunk by chunk; a short one gathers
    # its rows and replaces the cells they fall on (a cell may take several rows).
    gathered: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]] = []

    def put(rows: NDArray[np.int64], days: NDArray[np.int64], values: NDArray[np.int64]) -> None:
        if whole:
            book.add(rows, days, values)
        else:
            gathered.append((rows, days, values))

    figures = ", ".join(DAILY_FIGURES)
    days = f"day >= {int(first)} AND day <= {int(today)}"
    read = 0
    accounts = (
        f"SELECT account_id, day, {figures}, destination_group FROM rate_daily{_scan(session, whole)}"  # noqa: S608  # our names and integers
        f" WHERE resource_key = '' AND {days}"
    )
    for chunk in _stream(session, accounts):
        read += len(chunk)
        mixed = np.array(chunk, dtype=object)
        numbers = mixed[:, :-1].astype(np.int64)
        account_ids, day_numbers, values = numbers[:, 0], numbers[:, 1], numbers[:, 2:]
        unique, inverse = np.unique(account_ids, return_inverse=True)
        rows = book.numbered_rows(Subject.ACCOUNT, unique, unique, str)
        put(rows[inverse], day_numbers, values)
        groups, group_inverse = np.unique(mixed[:, -1].astype(str), return_inverse=True)
        codes = np.array([book.group_code(str(g)) for g in groups], dtype=np.int64)
        pairs, pair_inverse = np.unique(
            account_ids * _GROUP_SPACE + codes[group_inverse], return_inverse=True
        )
        rows = book.numbered_rows(
            Subject.DESTINATION_GROUP, pairs, pairs // _GROUP_SPACE, book.group_subject
        )
        put(rows[pair_inverse], day_numbers, values)
    # Who sends through each part: (lowest, highest) account id seen with it.
    senders: dict[str, tuple[int, int]] = {}
    parts = (
        f"SELECT day, {figures}, account_id, resource_key FROM rate_daily{_scan(session, whole)}"  # noqa: S608  # our names and integers
        # "> ''" rather than "<> ''": the same rows, but an index range on (day, resource_key).
        f" WHERE resource_key > '' AND {days}"
    )
    for chunk in _stream(session, parts):
        read += len(chunk)
        mixed = np.array(chunk, dtype=object)
        numbers = mixed[:, :-1].astype(np.int64)
        unique, inverse = np.unique(mixed[:, -1].astype(str), return_inverse=True)
        keys = [str(k) for k in unique.tolist()]
        lowest = np.full(len(keys), np.iinfo(np.int64).max)
        highest = np.full(len(keys), -1)
        np.minimum.at(lowest, inverse, numbers[:, -1])
        np.maximum.at(highest, inverse, numbers[:, -1])
        for key, low, high in zip(keys, lowest.tolist(), highest.tolist(), strict=True):
            before = senders.get(key, (low, high))
            senders[key] = (min(before[0], low), max(before[1], high))
        rows = np.empty(len(keys), dtype=np.int64)
        by_type: dict[str, list[int]] = {}
        for position, key in enumerate(keys):
            by_type.setdefault(_part_type(key), []).append(position)
        for subject_type, positions in by_type.items():
            chosen = np.array(positions, dtype=np.int64)
            owners = np.array([_owner(senders[keys[p]]) for p in positions], np.int64)
            rows[chosen] = book.rows_for(subject_type, [keys[p] for p in positions], owners)
        put(rows[inverse], numbers[:, 0], numbers[:, 1:-1])
    if gathered:
        book.add(
            np.concatenate([g[0] for g in gathered]),
            np.concatenate([g[1] for g in gathered]),
            np.concatenate([g[2] for g in gathered]),
            replace=True,
        )
    for key, seen in senders.items():
        row = book.keys.get((_part_type(key), key))
        if row is None:
            continue
        owner = _owner(seen)
        # A whole read says who sends through a part now; a short one can only find that
        # a part is shared (a second account), never that it stopped being.
        if whole or book.owners[row] != owner:
            book.owners[row] = owner if whole else _NO_ACCOUNT
    if whole:
        book.loaded_at = now
    return read


# Rows read from the database at a time: bounds the memory a whole read takes.
READ_CHUNK: Final = 200_000
# Destination groups per account in the codes read_book builds (far more than exist).
_GROUP_SPACE: Final = 1 << 16


def _scan(session: Session, whole: bool) -> str:
    """Return SQLite's hint to read the table in order rather than through the day index.

    A whole read takes nearly every row: one pass over the table beats a lookup per row.
    """
    return " NOT INDEXED" if whole and session.get_bind().dialect.name == "sqlite" else ""


def _stream(session: Session, sql: str) -> Iterable[list[Any]]:
    """Yield the rows of *sql* a chunk at a time, through the driver's own cursor.

    PostgreSQL reads through a server-side cursor, so that a whole read never holds every
    row in memory at once.
    """
    raw = session.connection().connection.dbapi_connection
    if raw is None:
        raise RuntimeError("the session's connection is closed")
    if session.get_bind().dialect.name == "postgresql":
        cursor = raw.cursor(name="rate_book")
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(sql)
        while chunk := cursor.fetchmany(READ_CHUNK):
            yield list(chunk)
    finally:
        cursor.close()


def _owner(seen: tuple[int, int]) -> int:
    """Return the one account seen sending through a part, or -1 when several were."""
    lowest, highest = seen
    return lowest if lowest == highest else _NO_ACCOUNT


def _part_type(resource_key: str) -> str:
    """Return the subject type of a ``sending_stats.resource_key`` naming part of the mail."""
    kind = resource_key.split(":", 1)[0]
    if kind in _IDENTITY_KINDS:
        return Subject.IDENTITY
    if kind in ("pool", ResourceKind.IP_POOL):
        return Subject.IP_POOL
    if kind == "feedback_id":
        return Subject.FEEDBACK_ID
    return kind


# --- what the evaluation needs besides the figures ---------------------------------------


@dataclass(frozen=True)
class StoredStatus:
    """A status as ``rate_statuses`` holds it."""

    status: str
    since: datetime
    signal_key: str | None


@dataclass(frozen=True)
class RateContext:
    """The policy, the accounts' standings and fresh starts, and the statuses stored."""

    policy: Policy
    standings: Mapping[int, str]
    fresh_starts: Mapping[int, datetime]
    pause_proposed: Collection[int]
    stored: Mapping[tuple[str, str, str], StoredStatus]


def read_context(session: Session, *, now: datetime) -> RateContext:
    """Read what ``evaluate`` needs besides the figures: policy, standings, stored statuses.

    Healthy accounts with no fresh start are not read (most of them): absent means healthy.
    Stored statuses are those not healthy, and those changed at *now* (so that a second
    run at the same moment returns the same drafts).
    """
    standings: dict[int, str] = {}
    fresh: dict[int, datetime] = {}
    for account_id, standing, since in session.execute(
        select(Account.id, Account.standing, Account.metrics_since).where(
            or_(Account.standing != Standing.HEALTHY, Account.metrics_since.is_not(None))
        )
    ):
        standings[account_id] = standing
        if since is not None:
            fresh[account_id] = since
    proposed = set(
        session.scalars(
            select(EnforcementAction.account_id).where(
                EnforcementAction.action == AccountAction.PAUSE,
                EnforcementAction.state.in_(sorted(ActionState.PENDING)),
                EnforcementAction.resource_id.is_(None),
            )
        )
    )
    stored = {
        (row.subject_type, row.subject_id, row.metric): StoredStatus(
            row.status, row.since, row.signal_key
        )
        for row in session.execute(
            select(
                RateStatus.subject_type,
                RateStatus.subject_id,
                RateStatus.metric,
                RateStatus.status,
                RateStatus.since,
                RateStatus.signal_key,
            ).where(or_(RateStatus.status != Status.HEALTHY, RateStatus.since >= now))
        )
    }
    return RateContext(current_policy(session), standings, fresh, proposed, stored)


# --- the evaluation ------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRow:
    """One subject's status for one metric, to be written to ``rate_statuses``."""

    subject_type: str
    subject_id: str
    account_id: int | None
    metric: str
    status: str
    since: datetime
    acted_on: bool
    value: float | None
    count: int
    eligible: int
    window_since: datetime | None
    days: int
    sentence: str
    reason: str
    signal_key: str | None
    figures: Mapping[str, Any]


@dataclass(frozen=True)
class Evaluation:
    """What one pass found: the rows to write and the drafts of the changes."""

    rows: tuple[StatusRow, ...]
    drafts: tuple[SignalDraft, ...]
    subjects: int
    problems: tuple[str, ...] = ()
    refreshed: tuple["Refresh", ...] = ()


def evaluate(
    book: RateBook, context: RateContext, rules: RateRules, *, now: datetime
) -> Evaluation:
    """Read every subject's rates and spam-trap hits; return the changes and their drafts.

    Subjects whose status changed (or was changed at *now*) get a full row and their
    drafts; subjects that stay not healthy get their figures refreshed only.
    """
    size = book.size
    if size == 0:
        return Evaluation((), (), 0)
    types = book.type_codes()
    chosen = np.isin(types, [book.type_code(t) for t in rules.subjects])
    is_account = types == book.type_code(Subject.ACCOUNT)
    floor = _floor_columns(book, context)
    standings = _account_rows(book, context.standings)
    groups = np.full(size, REVIEWABLE, dtype=np.int8)
    for row, standing in standings.items():
        groups[row] = standing_groups([standing])[0]
    proposed = np.zeros(size, dtype=bool)
    for row in _account_rows(book, dict.fromkeys(context.pause_proposed, True)):
        proposed[row] = True
    rows: list[StatusRow] = []
    refreshed: list[Refresh] = []
    drafts: list[SignalDraft] = []
    problems: list[str] = []
    rates: dict[str, Any] = {}
    for metric, eligible_at, count_at in (
        (COMPLAINT_RATE, _FBL, _COMPLAINTS),
        (BOUNCE_RATE, _SENT, _BOUNCES),
    ):
        threshold = context.policy.thresholds.get(metric)
        if threshold is None:
            problems.append(f"policy v{context.policy.version} has no {metric} threshold")
            continue
        arrays = representative_rates(
            book.figure(eligible_at), book.figure(count_at), floor_column=floor, window=rules.window
        )
        rates[metric] = arrays
        codes, _ = status_codes(arrays, threshold, groups, proposed, min_to_act=rules.min_to_act)
        changed, steady = _to_look_at(
            book, context, metric=metric, codes=codes, chosen=chosen, now=now
        )
        for row in changed:
            rate = arrays.rate(row, metric, today=book.today, now=now, window=rules.window)
            standing = standings.get(row, Standing.HEALTHY)
            judged = metric_status(
                rate,
                threshold,
                standing if is_account[row] else Standing.HEALTHY,
                pause_proposed=bool(proposed[row]),
                min_to_act=rules.min_to_act,
            )
            made = _change(
                book, context, row, judged, threshold, now=now, rates=rates, window=rules.window
            )
            if made is not None:
                rows.append(made[0])
                drafts.extend(made[1])
        refreshed.extend(_refresh(book, metric, steady, arrays))
    hits = _trap_hits(book, floor, rules.trap_days)
    codes = trap_codes(hits, rules.trap_review_hits, rules.trap_pause_hits)
    changed, steady = _to_look_at(
        book, context, metric=SPAM_TRAPS, codes=codes, chosen=chosen, now=now
    )
    for row in changed:
        made_traps = _trap_change(
            book,
            context,
            row,
            hits=int(hits[row]),
            status=Status.ALL[codes[row]],
            rules=rules,
            now=now,
        )
        if made_traps is not None:
            rows.append(made_traps[0])
            drafts.extend(made_traps[1])
    refreshed.extend(
        Refresh(
            book.subject_types[r],
            book.subject_ids[r],
            SPAM_TRAPS,
            None,
            int(hits[r]),
            0,
            None,
            rules.trap_days,
        )
        for r in steady
    )
    return Evaluation(tuple(rows), tuple(drafts), size, tuple(problems), tuple(refreshed))


@dataclass(frozen=True)
class Refresh:
    """New figures for a subject whose status stays as it is (not healthy)."""

    subject_type: str
    subject_id: str
    metric: str
    value: float | None
    count: int
    eligible: int
    window_since: datetime | None
    days: int


def _refresh(
    book: RateBook, metric: str, steady: Sequence[int], arrays: RateArrays
) -> list[Refresh]:
    """Return the refreshed figures of the *steady* rows."""
    refreshed = []
    for row in steady:
        total, counted = int(arrays.eligible[row]), int(arrays.count[row])
        first = int(arrays.first_day[row])
        refreshed.append(
            Refresh(
                book.subject_types[row],
                book.subject_ids[row],
                metric,
                None if total == 0 else counted / total,
                counted,
                total,
                None if total == 0 else day_start(book.today - (book.columns - 1 - first)),
                int(arrays.days[row]),
            )
        )
    return refreshed


def _account_rows(book: RateBook, by_account: Mapping[int, Any]) -> dict[int, Any]:
    """Return {row of the account's own subject: value} for the accounts the book holds."""
    found = {}
    for account_id, value in by_account.items():
        row = book.keys.get((Subject.ACCOUNT, str(account_id)))
        if row is not None:
            found[row] = value
    return found


def _floor_columns(book: RateBook, context: RateContext) -> NDArray[np.int64]:
    """Return each subject's first column that counts: after its account's fresh start."""
    floor = np.zeros(book.size, dtype=np.int64)
    if not context.fresh_starts:
        return floor
    accounts = np.array(sorted(context.fresh_starts), dtype=np.int64)
    columns = np.array(
        [
            min(
                max(0, day_number(fresh_start_day(context.fresh_starts[a])) - book.first_day),
                book.columns,
            )
            for a in accounts.tolist()
        ],
        dtype=np.int64,
    )
    owners = book.account_ids
    at = np.clip(np.searchsorted(accounts, owners), 0, len(accounts) - 1)
    found = accounts[at] == owners
    floor[found] = columns[at[found]]
    return floor


def _trap_hits(book: RateBook, floor: NDArray[np.int64], days: int) -> NDArray[np.int64]:
    """Return each subject's spam-trap hits over the last *days* days (after a fresh start)."""
    start = book.columns - days
    traps = book.figure(_TRAPS)[:, start:]
    if not floor.any():
        total: NDArray[np.int64] = traps.sum(axis=1)
        return total
    column = np.arange(start, book.columns)
    hits: NDArray[np.int64] = np.where(column[None, :] >= floor[:, None], traps, 0).sum(axis=1)
    return hits


def _to_look_at(
    book: RateBook,
    context: RateContext,
    *,
    metric: str,
    codes: NDArray[np.int8],
    chosen: NDArray[np.bool_],
    now: datetime,
) -> tuple[list[int], list[int]]:
    """Return the rows to judge again (changed, or changed at *now*) and those to refresh.

    A row changed when its status differs from the stored one (absent: healthy); a
    row whose status stays not healthy only has its figures refreshed.
    """
    stored_codes = np.zeros(len(codes), dtype=np.int8)
    again = np.zeros(len(codes), dtype=bool)
    for (subject_type, subject_id, stored_metric), stored in context.stored.items():
        if stored_metric != metric:
            continue
        row = book.keys.get((subject_type, subject_id))
        if row is not None:
            stored_codes[row] = _STATUS_RANK[stored.status]
            again[row] = stored.since >= now
    changed = ((codes != stored_codes) | again) & chosen
    steady = ~changed & chosen & (codes != _STATUS_RANK[Status.HEALTHY])
    return np.flatnonzero(changed).tolist(), np.flatnonzero(steady).tolist()


def _change(
    book: RateBook,
    context: RateContext,
    row: int,
    judged: MetricStatus,
    threshold: Threshold,
    *,
    now: datetime,
    rates: Mapping[str, Any],
    window: RateWindow,
) -> tuple[StatusRow, list[SignalDraft]] | None:
    """Return the status row to write for one rate, and the drafts its change raises."""
    subject_type, subject_id = book.subject_types[row], book.subject_ids[row]
    account_id = _account_of(book, row)
    stored = context.stored.get((subject_type, subject_id, judged.metric))
    rate = judged.rate
    figures: dict[str, Any] = {
        **rate.to_dict(),
        "rate": rate.value,
        "window_since": None if rate.since is None else rate.since.isoformat(),
        "window_days": rate.days,
        "status": judged.status,
        "review_threshold": threshold.review,
        "pause_threshold": threshold.pause,
        "review_threshold_percent": percent(threshold.review),
        "pause_threshold_percent": percent(threshold.pause),
    }
    if subject_type == Subject.ACCOUNT and set(rates) == {COMPLAINT_RATE, BOUNCE_RATE}:
        both = AccountFigures(
            account_id=int(book.account_ids[row]),
            at=now,
            complaint=rates[COMPLAINT_RATE].rate(
                row, COMPLAINT_RATE, today=book.today, now=now, window=window
            ),
            bounce=rates[BOUNCE_RATE].rate(
                row, BOUNCE_RATE, today=book.today, now=now, window=window
            ),
            metrics_since=context.fresh_starts.get(int(book.account_ids[row])),
        )
        figures["account_sentence"] = both.sentence()
        figures["account_figures"] = both.evidence()
    step = judged.step if subject_type == Subject.ACCOUNT else Step.NONE
    return _transition(
        book,
        row,
        account_id=account_id,
        metric=judged.metric,
        status=judged.status,
        stored=stored,
        acted_on=judged.acted_on,
        rate=rate,
        reason=judged.reason,
        step=step,
        figures=figures,
        now=now,
    )


def _trap_change(
    book: RateBook,
    context: RateContext,
    row: int,
    *,
    hits: int,
    status: str,
    rules: RateRules,
    now: datetime,
) -> tuple[StatusRow, list[SignalDraft]] | None:
    """Return the status row for a subject's spam-trap hits, and the drafts its change raises."""
    subject_type, subject_id = book.subject_types[row], book.subject_ids[row]
    account_id = _account_of(book, row)
    stored = context.stored.get((subject_type, subject_id, SPAM_TRAPS))
    sentence = (
        f"{hits:,} spam-trap hit{'' if hits == 1 else 's'} in the last {rules.trap_days} days"
    )
    step = Step.NONE
    if subject_type == Subject.ACCOUNT:
        standing = context.standings.get(int(book.account_ids[row]), Standing.HEALTHY)
        group = standing_groups([standing])[0]
        if status == Status.PENDING_PAUSE and group != STOPPED:
            if int(book.account_ids[row]) not in context.pause_proposed:
                step = Step.PROPOSE_PAUSE
        elif status == Status.UNDER_REVIEW and group == REVIEWABLE:
            step = Step.REVIEW
    limit = rules.trap_pause_hits if status == Status.PENDING_PAUSE else rules.trap_review_hits
    if status == Status.HEALTHY:
        reason = f"{sentence}: none counts against the sender now"
    else:
        reason = f"{sentence}, at or above {limit:,}; the addresses are never disclosed"
    figures = {
        "metric": SPAM_TRAPS,
        "trap_hits": hits,
        "trap_days": rules.trap_days,
        "review_hits": rules.trap_review_hits,
        "pause_hits": rules.trap_pause_hits,
        "status": status,
        "sentence": sentence,
    }
    return _transition(
        book,
        row,
        account_id=account_id,
        metric=SPAM_TRAPS,
        status=status,
        stored=stored,
        acted_on=True,
        rate=None,
        count=hits,
        days=rules.trap_days,
        reason=reason,
        sentence=sentence,
        step=step,
        figures=figures,
        now=now,
    )


def _transition(
    book: RateBook,
    row: int,
    *,
    account_id: int | None,
    metric: str,
    status: str,
    stored: StoredStatus | None,
    acted_on: bool,
    rate: Rate | None,
    reason: str,
    step: str,
    figures: Mapping[str, Any],
    now: datetime,
    count: int = 0,
    days: int = 0,
    sentence: str | None = None,
) -> tuple[StatusRow, list[SignalDraft]] | None:
    """Return the row to write and the drafts for a status moving from *stored* to *status*.

    A rise (to under review or pending pause, on enough messages) raises a signal; a fall
    to healthy or almost healed resolves the one raised; a fall from pending pause to
    under review keeps it. A change already written at *now* is given back as it was
    raised (same dedupe key), so that running twice at one moment changes nothing.
    """
    subject_type, subject_id = book.subject_types[row], book.subject_ids[row]
    before = Status.HEALTHY if stored is None else stored.status
    key = None if stored is None else stored.signal_key
    since = now if stored is None or before != status else stored.since
    draft_kind: str | None = None
    raised_now = _dedupe_key(subject_type, subject_id, metric, status, now)
    if stored is not None and before == status and stored.since >= now:
        # Judged by an earlier run at this moment: give back what it raised.
        before = "unknown"
        if _LEVEL[status] > 0 and key == raised_now:
            draft_kind = _kind(metric, status)
        elif _LEVEL[status] == 0 and key is not None:
            draft_kind = SignalKind.RATE_HEALED
    elif before != status or (key is None and _LEVEL[status] > 0):
        rises = _LEVEL[status] > _LEVEL[before] or key is None
        if rises and _LEVEL[status] > 0 and status != Status.PAUSED and acted_on:
            draft_kind, key = _kind(metric, status), raised_now
        elif _LEVEL[status] == 0 and _LEVEL[before] > 0 and key is not None:
            draft_kind = SignalKind.RATE_HEALED
    if stored is None and status == Status.HEALTHY:
        return None
    drafts: list[SignalDraft] = []
    sentence = sentence if sentence is not None else (rate.sentence() if rate else "")
    if draft_kind is not None:
        healed = draft_kind == SignalKind.RATE_HEALED
        drafts.append(
            SignalDraft(
                kind=draft_kind,
                subject_type=subject_type,
                subject_id=subject_id,
                reason=reason,
                figures={**figures, "previous_status": before, "subject": subject_id},
                at=now,
                dedupe_key=(
                    _dedupe_key(subject_type, subject_id, metric, "healed", now) if healed else key
                )
                or "",
                account_id=account_id,
                severity=_severity(status, account_id, healed=healed),
                step=SignalStep.NONE if healed else step,
                resolves=key if healed else None,
            )
        )
    made = StatusRow(
        subject_type=subject_type,
        subject_id=subject_id,
        account_id=account_id,
        metric=metric,
        status=status,
        since=since,
        acted_on=acted_on,
        value=None if rate is None else rate.value,
        count=count if rate is None else rate.count,
        eligible=0 if rate is None else rate.eligible,
        window_since=None if rate is None else rate.since,
        days=days if rate is None else rate.days,
        sentence=sentence,
        reason=reason,
        signal_key=key,
        figures=figures,
    )
    return made, drafts


def _account_of(book: RateBook, row: int) -> int | None:
    account_id = int(book.account_ids[row])
    return None if account_id == _NO_ACCOUNT else account_id


def _kind(metric: str, status: str) -> str:
    if metric == SPAM_TRAPS:
        return SignalKind.SPAM_TRAP
    if status == Status.PENDING_PAUSE:
        return SignalKind.RATE_PENDING_PAUSE
    return SignalKind.RATE_REVIEW


def _severity(status: str, account_id: int | None, *, healed: bool) -> str:
    if healed:
        return Severity.LOW
    # Mail of many accounts (a shared pool) going bad is an incident, whoever sent it.
    if status == Status.PENDING_PAUSE or account_id is None:
        return Severity.HIGH
    return Severity.MEDIUM


def _dedupe_key(subject_type: str, subject_id: str, metric: str, what: str, now: datetime) -> str:
    """Return a dedupe key of at most 200 characters; long subject ids are digested."""
    key = f"rates:{subject_type}:{subject_id}:{metric}:{what}:{now:%Y-%m-%dT%H:%M}"
    if len(key) <= _MAX_KEY:
        return key
    digest = hashlib.sha256(subject_id.encode()).hexdigest()[:24]
    return f"rates:{subject_type}:#{digest}:{metric}:{what}:{now:%Y-%m-%dT%H:%M}"


# --- writing statuses ----------------------------------------------------------------------


def write_statuses(
    session: Session,
    rows: Sequence[StatusRow],
    *,
    now: datetime,
    refreshed: Sequence["Refresh"] = (),
) -> int:
    """Upsert *rows* into ``rate_statuses`` with their labels, update the *refreshed*
    figures; return how many rows were written."""
    if refreshed:
        _write_refreshed(session, refreshed, now=now)
    if not rows:
        return len(refreshed)
    labels = subject_labels(session, [(r.subject_type, r.subject_id) for r in rows])
    values = [
        {
            "subject_type": r.subject_type,
            "subject_id": r.subject_id,
            "label": labels.get((r.subject_type, r.subject_id), r.subject_id)[:320],
            "account_id": r.account_id,
            "metric": r.metric,
            "status": r.status,
            "since": r.since,
            "checked_at": now,
            "acted_on": r.acted_on,
            "value": r.value,
            "count": r.count,
            "eligible": r.eligible,
            "window_since": r.window_since,
            "days": r.days,
            "sentence": r.sentence,
            "reason": r.reason,
            "signal_key": r.signal_key,
        }
        for r in rows
    ]
    statement = insert_for(session, RateStatus)
    keys = ("subject_type", "subject_id", "metric")
    session.execute(
        statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: statement.excluded[name] for name in values[0] if name not in keys},
        ),
        values,
    )
    return len(values) + len(refreshed)


# PostgreSQL: fresh figures are copied into a temporary table, then joined in one UPDATE.
_FRESH_TABLE: Final = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS rate_fresh (subject_type varchar(40),"
    " subject_id varchar(250), metric varchar(40), value double precision, count bigint,"
    " eligible bigint, window_since timestamptz, days integer) ON COMMIT DELETE ROWS"
)
_FRESH_UPDATE: Final = (
    "UPDATE rate_statuses AS s SET checked_at = %s, value = f.value, count = f.count,"
    " eligible = f.eligible, window_since = f.window_since, days = f.days"
    " FROM rate_fresh AS f WHERE s.subject_type = f.subject_type"
    " AND s.subject_id = f.subject_id AND s.metric = f.metric"
)


def _write_refreshed(session: Session, refreshed: Sequence["Refresh"], *, now: datetime) -> None:
    """Update the figures of statuses that stay as they are.

    PostgreSQL copies them into a temporary table and joins it in one UPDATE (a round
    trip per row would take seconds for thousands of rows); SQLite, in process, takes one
    statement per row.
    """
    table = table_of(RateStatus)
    if session.get_bind().dialect.name == "postgresql":
        raw = session.connection().connection.dbapi_connection
        if raw is None:
            raise RuntimeError("the session's connection is closed")
        cursor = raw.cursor()
        try:
            cursor.execute(_FRESH_TABLE)
            with cursor.copy(
                "COPY rate_fresh (subject_type, subject_id, metric, value, count, eligible,"
                " window_since, days) FROM STDIN"
            ) as copy:
                for r in refreshed:
                    copy.write_row(
                        (
                            r.subject_type,
                            r.subject_id,
                            r.metric,
                            r.value,
                            r.count,
                            r.eligible,
                            r.window_since,
                            r.days,
                        )
                    )
            cursor.execute(_FRESH_UPDATE, (now,))
        finally:
            cursor.close()
        return
    session.execute(
        table.update()
        .where(
            table.c.subject_type == bindparam("b_type"),
            table.c.subject_id == bindparam("b_id"),
            table.c.metric == bindparam("b_metric"),
        )
        .values(
            checked_at=now,
            value=bindparam("b_value"),
            count=bindparam("b_count"),
            eligible=bindparam("b_eligible"),
            window_since=bindparam("b_window_since"),
            days=bindparam("b_days"),
        ),
        [
            {
                "b_type": r.subject_type,
                "b_id": r.subject_id,
                "b_metric": r.metric,
                "b_value": r.value,
                "b_count": r.count,
                "b_eligible": r.eligible,
                "b_window_since": r.window_since,
                "b_days": r.days,
            }
            for r in refreshed
        ],
    )


def labelled(session: Session, drafts: Sequence[SignalDraft]) -> list[SignalDraft]:
    """Return *drafts* with their subject named as an analyst knows it, in reason and figures.

    ``account 4411: complaint rate 0.40% ...``; the figures keep the subject id and add
    its ``label`` (external id, domain, pool name, Feedback-ID ...).
    """
    labels = subject_labels(session, [(d.subject_type, d.subject_id) for d in drafts])
    named = []
    for draft in drafts:
        label = labels.get((draft.subject_type, draft.subject_id), draft.subject_id)
        words = draft.subject_type.replace("_", " ")
        named.append(
            replace(
                draft,
                reason=f"{words} {label}: {draft.reason}",
                figures={**draft.figures, "label": label},
            )
        )
    return named


def subject_labels(
    session: Session, subjects: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Return what an analyst calls each subject: external id, domain, pool name ..."""
    wanted = set(subjects)
    accounts: set[int] = set()
    resources: set[int] = set()
    pools: set[int] = set()
    for subject_type, subject_id in wanted:
        if subject_type == Subject.ACCOUNT:
            accounts.add(int(subject_id))
        elif subject_type == Subject.DESTINATION_GROUP:
            accounts.add(int(subject_id.split(":", 1)[0]))
        elif subject_id.startswith("pool:"):
            pools.add(int(subject_id.split(":", 1)[1]))
        elif subject_type != Subject.FEEDBACK_ID and subject_id.partition(":")[2].isdigit():
            resources.add(int(subject_id.partition(":")[2]))
    names = _names(session, Account.id, Account.external_id, accounts)
    values = _names(session, Resource.id, Resource.value, resources)
    pool_names = _names(session, IpPool.id, IpPool.name, pools)
    labels: dict[tuple[str, str], str] = {}
    for subject_type, subject_id in wanted:
        head, _, tail = subject_id.partition(":")
        if subject_type == Subject.ACCOUNT:
            label = names.get(int(subject_id), subject_id)
        elif subject_type == Subject.DESTINATION_GROUP:
            label = f"{names.get(int(head), head)} to {tail}"
        elif head == "pool" and tail.isdigit():
            label = pool_names.get(int(tail), subject_id)
        elif subject_type == Subject.FEEDBACK_ID:
            label = tail
        else:
            label = values.get(int(tail), subject_id) if tail.isdigit() else subject_id
        labels[(subject_type, subject_id)] = label
    return labels


def _names(session: Session, id_column: Any, name_column: Any, ids: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        rows = session.execute(select(id_column, name_column).where(id_column.in_(chunk)))
        found.update({int(row[0]): str(row[1]) for row in rows})
    return found


# --- reads for pages -----------------------------------------------------------------------


@dataclass(frozen=True)
class RatePoint:
    """One day of a rate's history: the rate as it stood at the day's end, and the day's own."""

    day: datetime
    value: float | None
    count: int
    eligible: int
    days: int
    day_count: int
    day_eligible: int

    @property
    def day_value(self) -> float | None:
        """Return the day's own rate (not representative), None when nothing was eligible."""
        return None if self.day_eligible == 0 else self.day_count / self.day_eligible


def rate_history(
    session: Session,
    account_id: int,
    *,
    days: int = 30,
    now: datetime,
    window: RateWindow = DEFAULT_WINDOW,
) -> dict[str, list[RatePoint]]:
    """Return the account's daily points per metric over the last *days* days, oldest first.

    ``complaint_rate`` and ``bounce_rate`` give, for each day, the representative rate as
    it stood at the day's end (today: now) and the day's own figures; ``spam_traps`` gives
    each day's trap hits (``count``; ``eligible`` is the day's messages sent). Figures
    before the account's fresh start (``accounts.metrics_since``) do not count.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    today = day_number(now)
    width = window.max_days
    first = today - days - width + 2
    since = session.scalar(select(Account.metrics_since).where(Account.id == account_id))
    table = table_of(RateDaily)
    totals = np.zeros((days + width - 1, len(DAILY_FIGURES)), dtype=np.int64)
    rows = session.execute(
        select(table.c.day, *[table.c[name] for name in DAILY_FIGURES]).where(
            table.c.account_id == account_id,
            table.c.resource_key == "",
            table.c.day >= first,
            table.c.day <= today,
        )
    ).all()
    for day, *figures in rows:
        totals[day - first] += np.array(figures, dtype=np.int64)
    if since is not None:
        blank = day_number(fresh_start_day(since)) - first
        totals[: max(0, min(blank, len(totals)))] = 0
    ends = [day_start(first + width - 1 + i) for i in range(days)]
    history: dict[str, list[RatePoint]] = {}
    for metric, eligible_at, count_at in (
        (COMPLAINT_RATE, _FBL, _COMPLAINTS),
        (BOUNCE_RATE, _SENT, _BOUNCES),
    ):
        eligible = sliding_window_view(totals[:, eligible_at], width)
        counts = sliding_window_view(totals[:, count_at], width)
        arrays = representative_rates(
            np.ascontiguousarray(eligible), np.ascontiguousarray(counts), window=window
        )
        values = arrays.values
        history[metric] = [
            RatePoint(
                day=ends[i],
                value=None if np.isnan(values[i]) else float(values[i]),
                count=int(arrays.count[i]),
                eligible=int(arrays.eligible[i]),
                days=int(arrays.days[i]),
                day_count=int(counts[i, -1]),
                day_eligible=int(eligible[i, -1]),
            )
            for i in range(days)
        ]
    history[SPAM_TRAPS] = [
        RatePoint(
            day=ends[i],
            value=float(totals[width - 1 + i, _TRAPS]),
            count=int(totals[width - 1 + i, _TRAPS]),
            eligible=int(totals[width - 1 + i, _SENT]),
            days=1,
            day_count=int(totals[width - 1 + i, _TRAPS]),
            day_eligible=int(totals[width - 1 + i, _SENT]),
        )
        for i in range(days)
    ]
    return history


@dataclass(frozen=True)
class RateStatusView:
    """A subject's status for one metric, as a page shows it."""

    subject_type: str
    subject_id: str
    label: str
    account_id: int | None
    metric: str
    status: str
    since: datetime
    checked_at: datetime
    acted_on: bool
    value: float | None
    count: int
    eligible: int
    window_since: datetime | None
    days: int
    sentence: str
    reason: str

    @property
    def words(self) -> str:
        """Return the status as an analyst reads it, e.g. ``pending pause``."""
        return self.status.replace("_", " ")

    @property
    def percent(self) -> str | None:
        """Return the rate as a percentage (None for spam traps and unknown rates)."""
        return None if self.value is None else percent(self.value)


def current_statuses(
    session: Session,
    *,
    account_id: int | None = None,
    subject_type: str | None = None,
    statuses: Collection[str] | None = None,
    worst_first: bool = True,
    limit: int = 100,
) -> list[RateStatusView]:
    """Return stored statuses, worst first (pending pause before under review, higher rates
    first) or most recently changed first.

    *account_id* keeps one account's subjects (its own, its identities, groups ...);
    *subject_type* one kind of subject; *statuses* some statuses only. A subject with no
    row has always been healthy. Figures are those of the last change, or of the last run
    while the status is not healthy (``checked_at``).
    """
    query = select(RateStatus)
    if account_id is not None:
        query = query.where(RateStatus.account_id == account_id)
    if subject_type is not None:
        query = query.where(RateStatus.subject_type == subject_type)
    if statuses is not None:
        query = query.where(RateStatus.status.in_(sorted(statuses)))
    if worst_first:
        rank = case(_STATUS_RANK, value=RateStatus.status, else_=0)
        query = query.order_by(
            rank.desc(), RateStatus.value.desc().nulls_last(), RateStatus.since, RateStatus.id
        )
    else:
        query = query.order_by(RateStatus.since.desc(), RateStatus.id.desc())
    return [
        RateStatusView(
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            label=row.label,
            account_id=row.account_id,
            metric=row.metric,
            status=row.status,
            since=row.since,
            checked_at=row.checked_at,
            acted_on=row.acted_on,
            value=row.value,
            count=row.count,
            eligible=row.eligible,
            window_since=row.window_since,
            days=row.days,
            sentence=_sentence_now(row),
            reason=row.reason,
        )
        for row in session.scalars(query.limit(limit))
    ]


def _sentence_now(row: RateStatus) -> str:
    """Return the status's figures in words as last checked (refreshes keep only numbers)."""
    if row.metric == SPAM_TRAPS:
        hits = row.count
        return f"{hits:,} spam-trap hit{'' if hits == 1 else 's'} in the last {row.days} days"
    if row.metric not in (COMPLAINT_RATE, BOUNCE_RATE):
        return row.sentence
    rate = Rate(row.metric, row.count, row.eligible, row.window_since, row.checked_at, row.days)
    return rate.sentence()
