"""Browser sessions: start, resolve and end them; only the SHA-256 of the token is stored.

The cookie holds a random token. The row's id is the token's hash, so a copy of the
database lets nobody sign in as anyone. A session ends when its user signs out, after
the idle timeout, at its absolute lifetime, or when its user is disabled or changed.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from abusedesk.access.model import User
from abusedesk.access.policy import (
    SessionLimits,
    new_csrf_secret,
    new_session_token,
    session_end_reason,
    session_id_of,
)
from abusedesk.storage import audit
from abusedesk.storage.tables import User as UserRow
from abusedesk.storage.tables import WebSession
from abusedesk.storage.users import ADDRESS_MAX, user_from_row

USER_AGENT_MAX = 300
# Recording every request would turn each page view into a write; a minute is precise
# enough for an idle timeout counted in minutes.
LAST_SEEN_GRANULARITY = timedelta(minutes=1)
# The longest token we issue, with room; longer cookies are not looked up at all.
TOKEN_MAX_LENGTH = 100


@dataclass(frozen=True)
class SessionInfo:
    """A live session, without its token."""

    session_id: str
    user_id: int
    csrf_secret: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class StartedSession:
    """A new session and its token, which goes into the cookie and nowhere else."""

    info: SessionInfo
    token: str


@dataclass(frozen=True)
class ResolvedSession:
    """The session a cookie names, its user, and whether its last-seen time needs a write."""

    info: SessionInfo
    user: User
    needs_touch: bool


class SqlSessionRepository:
    """Store browser sessions by the hash of their token."""

    def start(
        self,
        session: Session,
        user: User,
        *,
        client_address: str,
        user_agent: str,
        limits: SessionLimits,
        now: datetime,
    ) -> StartedSession:
        """Open a session for *user*; return it with the token for the cookie."""
        token = new_session_token()
        row = WebSession(
            id=session_id_of(token),
            user_id=user.user_id,
            csrf_secret=new_csrf_secret(),
            created_at=now,
            expires_at=now + limits.lifetime,
            last_seen_at=now,
            client_address=client_address[:ADDRESS_MAX],
            user_agent="".join(ch for ch in user_agent if ch.isprintable())[:USER_AGENT_MAX],
        )
        session.add(row)
        session.flush()
        return StartedSession(_info(row), token)

    def resolve(
        self, session: Session, token: str, *, limits: SessionLimits, now: datetime
    ) -> ResolvedSession | None:
        """Return the live session *token* belongs to and its enabled user, or None."""
        if not token or len(token) > TOKEN_MAX_LENGTH:
            return None
        found = session.execute(
            select(WebSession, UserRow)
            .join(UserRow, UserRow.id == WebSession.user_id)
            .where(WebSession.id == session_id_of(token))
        ).one_or_none()
        if found is None:
            return None
        row, user_row = found
        reason = session_end_reason(
            expires_at=row.expires_at,
            last_seen_at=row.last_seen_at,
            revoked_at=row.revoked_at,
            limits=limits,
            now=now,
        )
        if reason is not None or user_row.disabled_at is not None:
            return None
        return ResolvedSession(
            _info(row),
            user_from_row(user_row),
            needs_touch=now - row.last_seen_at >= LAST_SEEN_GRANULARITY,
        )

    def touch(self, session: Session, session_id: str, now: datetime) -> None:
        """Note that the session was used at *now* (it stays alive for another idle period)."""
        session.execute(
            update(WebSession)
            .where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
            .values(last_seen_at=now)
        )

    def revoke_token(self, session: Session, token: str, *, now: datetime) -> None:
        """End the session *token* belongs to, if any (a browser signing in again)."""
        if not token or len(token) > TOKEN_MAX_LENGTH:
            return
        session.execute(
            update(WebSession)
            .where(WebSession.id == session_id_of(token), WebSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def end(self, session: Session, info: SessionInfo, user: User, *, now: datetime) -> None:
        """End the session (sign-out) and audit it."""
        session.execute(
            update(WebSession)
            .where(WebSession.id == info.session_id, WebSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        audit.record(
            session,
            actor=user.username,
            tag="auth:login:logout",
            subject_type="user",
            subject_id=user.user_id,
            at=now,
        )

    def live_sessions(self, session: Session, user_id: int, *, now: datetime) -> int:
        """Return how many unrevoked, unexpired sessions *user_id* has."""
        rows = session.scalars(
            select(WebSession.id).where(
                WebSession.user_id == user_id,
                WebSession.revoked_at.is_(None),
                WebSession.expires_at > now,
            )
        )
        return len(list(rows))


def _info(row: WebSession) -> SessionInfo:
    return SessionInfo(
        session_id=row.id,
        user_id=row.user_id,
        csrf_secret=row.csrf_secret,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_seen_at=row.last_seen_at,
    )
