"""Service API tokens: issue, list, revoke and verify them; only their SHA-256 is stored.

A token reads ``abd_<prefix>_<secret>``. The prefix is an identifier, not a secret: it
finds the row, and the hash of the whole token is then compared in constant time.
"""

import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.core.hashing import sha256_hex
from abusedesk.storage import audit
from abusedesk.storage.tables import ApiToken

TAG = "abd"
PREFIX_BYTES = 6
SECRET_BYTES = 32
# Recording every use would turn each API read into a write; a minute is precise enough
# to tell a token that is still in use from one that can be revoked.
LAST_USED_GRANULARITY = timedelta(minutes=1)
NAME_MAX_LENGTH = 100

# What a token may be allowed to do. A scope is added here together with the endpoint
# that checks it, so that a mistyped scope fails at creation instead of at first use.
SCOPES: dict[str, str] = {
    "events:attribute": "attribute unattributed events to accounts by hand, or dismiss them",
    "events:read": "read events and the unattributed inbox",
    "inventory:read": "read accounts, their resources and IPs from the inventory",
    "inventory:write": "upsert inventory rows (the provider's change feed)",
    "metrics:read": "read service metrics (report counts, parser health)",
    "reports:read": "read reports and their processing status",
    "reports:write": "submit reports",
}

_TOKEN_PATTERN = re.compile(
    rf"{TAG}_(?P<prefix>[0-9a-f]{{{2 * PREFIX_BYTES}}})_[0-9a-f]{{{2 * SECRET_BYTES}}}"
)
_PREFIX_PATTERN = re.compile(rf"(?:{TAG}_)?(?P<prefix>[0-9a-f]{{{2 * PREFIX_BYTES}}})")
# Compared against when no row matches, so that an unknown prefix costs a comparison too.
_NO_SUCH_HASH = "0" * 64
_CREATE_ATTEMPTS = 5


class InvalidToken(AbuseDeskError):
    """Raise when a presented token is malformed, unknown or revoked."""


class MissingScope(AbuseDeskError):
    """Raise when a valid token lacks a scope the request needs."""

    def __init__(self, needed: Sequence[str]) -> None:
        super().__init__(f"this token lacks the scope {', '.join(needed)}")
        self.needed = tuple(needed)


class TokenRequestInvalid(AbuseDeskError):
    """Raise when a token cannot be created as asked (bad name, unknown scope)."""


class TokenNotFound(NotFound):
    """Raise when no token matches an id or prefix."""


class TokenAmbiguous(AbuseDeskError):
    """Raise when an identifier matches one token's id and another token's prefix."""


@dataclass(frozen=True)
class TokenInfo:
    """A token as stored, without its secret."""

    token_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def display_prefix(self) -> str:
        """Return the public start of the token (``abd_<prefix>``), safe to show and log."""
        return f"{TAG}_{self.prefix}"

    def require(self, scopes: Iterable[str]) -> None:
        """Raise MissingScope unless the token holds every one of *scopes*."""
        missing = [scope for scope in scopes if scope not in self.scopes]
        if missing:
            raise MissingScope(missing)


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token: its stored record and the full token, shown only once."""

    info: TokenInfo
    token: str


@dataclass(frozen=True)
class Revocation:
    """The outcome of revoking: the token, and whether this call revoked it."""

    info: TokenInfo
    changed: bool


class SqlTokenRepository:
    """Store service tokens as hashes and check presented ones against them."""

    def create(
        self, session: Session, name: str, scopes: Iterable[str], *, actor: str, now: datetime
    ) -> IssuedToken:
        """Issue a token for *name* with *scopes*, and audit it; the secret is not stored."""
        clean_name = _check_name(name)
        clean_scopes = _check_scopes(scopes)
        for _attempt in range(_CREATE_ATTEMPTS):
            prefix = secrets.token_hex(PREFIX_BYTES)
            token = f"{TAG}_{prefix}_{secrets.token_hex(SECRET_BYTES)}"
            row = ApiToken(
                name=clean_name,
                token_prefix=prefix,
                token_hash=sha256_hex(token.encode("ascii")),
                scopes=list(clean_scopes),
                created_at=now,
            )
            try:
                # A savepoint, so that a prefix collision leaves the transaction usable.
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                continue
            audit.record(
                session,
                actor=actor,
                tag="auth:token:create",
                subject_type="api_token",
                subject_id=row.id,
                at=now,
                after={"name": clean_name, "prefix": prefix, "scopes": list(clean_scopes)},
            )
            return IssuedToken(_info(row), token)
        raise RuntimeError(f"no free token prefix after {_CREATE_ATTEMPTS} attempts")

    def list_tokens(self, session: Session) -> list[TokenInfo]:
        """Return every token, revoked ones included, oldest first."""
        return [_info(row) for row in session.scalars(select(ApiToken).order_by(ApiToken.id))]

    def find(self, session: Session, identifier: str) -> TokenInfo:
        """Return the token whose id or prefix (``abd_<prefix>`` or bare) is *identifier*."""
        return _info(self._find_row(session, identifier))

    def revoke(
        self,
        session: Session,
        identifier: str,
        *,
        actor: str,
        now: datetime,
        reason: str | None = None,
    ) -> Revocation:
        """Revoke the token named by id or prefix, and audit it; revoking twice changes nothing."""
        row = self._find_row(session, identifier)
        if row.revoked_at is not None:
            return Revocation(_info(row), changed=False)
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(revoked_at=now))
        audit.record(
            session,
            actor=actor,
            tag="auth:token:revoke",
            subject_type="api_token",
            subject_id=row.id,
            at=now,
            before={"revoked_at": None},
            after={"revoked_at": now.isoformat()},
            reason=reason,
        )
        session.refresh(row)
        return Revocation(_info(row), changed=True)

    def verify(self, session: Session, presented: str, *, now: datetime) -> TokenInfo:
        """Return the token *presented* belongs to and note its use; raise InvalidToken if none."""
        match = _TOKEN_PATTERN.fullmatch(presented)
        if match is None:
            raise InvalidToken("the token is malformed")
        row = session.scalar(select(ApiToken).where(ApiToken.token_prefix == match["prefix"]))
        expected = row.token_hash if row is not None else _NO_SUCH_HASH
        digest = sha256_hex(presented.encode("ascii"))
        if not hmac.compare_digest(expected, digest) or row is None:
            raise InvalidToken("the token is not known")
        if row.revoked_at is not None:
            raise InvalidToken("the token was revoked")
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
            session.refresh(row)
        return _info(row)

    def _find_row(self, session: Session, identifier: str) -> ApiToken:
        identifier = identifier.strip().lower()
        conditions = []
        if identifier.isdigit():
            conditions.append(ApiToken.id == int(identifier))
        prefix = _PREFIX_PATTERN.fullmatch(identifier)
        if prefix is not None:
            conditions.append(ApiToken.token_prefix == prefix["prefix"])
        if not conditions:
            raise TokenNotFound(f"{identifier!r} is neither a token id nor a token prefix")
        rows = list(session.scalars(select(ApiToken).where(or_(*conditions))))
        if not rows:
            raise TokenNotFound(f"no token has the id or prefix {identifier!r}")
        if len(rows) > 1:
            raise TokenAmbiguous(
                f"{identifier!r} is one token's id and another's prefix; "
                f"name the token as {TAG}_<prefix> or by its id"
            )
        return rows[0]


def _check_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise TokenRequestInvalid("a token needs a name that says who or what uses it")
    if len(clean) > NAME_MAX_LENGTH or not clean.isprintable():
        raise TokenRequestInvalid(f"a token name is at most {NAME_MAX_LENGTH} printable characters")
    return clean


def _check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(scope.strip() for scope in scopes))
    if not wanted:
        raise TokenRequestInvalid(f"name at least one scope: {', '.join(sorted(SCOPES))}")
    unknown = [scope for scope in wanted if scope not in SCOPES]
    if unknown:
        raise TokenRequestInvalid(
            f"unknown scope {', '.join(unknown)}; known scopes: {', '.join(sorted(SCOPES))}"
        )
    return tuple(sorted(wanted))


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        token_id=row.id,
        name=row.name,
        prefix=row.token_prefix,
        scopes=tuple(str(scope) for scope in row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
