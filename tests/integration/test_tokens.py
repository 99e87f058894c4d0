"""Service API tokens on a real database: issued once, stored as hashes, checked, revoked."""

import hashlib
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import ApiToken, AuditEntry
from abusedesk.storage.tokens import (
    LAST_USED_GRANULARITY,
    InvalidToken,
    IssuedToken,
    SqlTokenRepository,
    TokenAmbiguous,
    TokenNotFound,
    TokenRequestInvalid,
)

TOKEN_SHAPE = re.compile(r"abd_[0-9a-f]{12}_[0-9a-f]{64}")
tokens = SqlTokenRepository()


def issue(container: Container, *scopes: str, name: str = "ses-forwarder") -> IssuedToken:
    """Create a token in its own transaction."""
    with unit_of_work(container.sessions) as session:
        return tokens.create(session, name, scopes or ("reports:write",), actor="cli", now=utcnow())


def audit_rows(container: Container) -> list[tuple[str, str, str, str, object, object]]:
    """Return (tag, actor, subject_type, subject_id, before, after) for every audit row."""
    with unit_of_work(container.sessions) as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(r.tag, r.actor, r.subject_type, r.subject_id, r.before, r.after) for r in rows]


def run_cli(settings_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the abusedesk command line in a process of its own against the test database."""
    env = {
        **os.environ,
        "ABUSEDESK_DATABASE__URL": settings_url,
        "ABUSEDESK_STORAGE__EVIDENCE_DIR": str(tmp_path / "evidence"),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-c", "from abusedesk.cli import main; main()", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_token_has_the_documented_shape(container: Container) -> None:
    """A token reads abd_<12 hex prefix>_<64 hex secret> and starts with its prefix."""
    issued = issue(container)

    assert (bool(TOKEN_SHAPE.fullmatch(issued.token)), issued.token.split("_")[1]) == (
        True,
        issued.info.prefix,
    )


def test_only_the_hash_of_a_token_is_stored(container: Container) -> None:
    """The row holds the token's SHA-256 and nowhere its secret part."""
    issued = issue(container)
    secret = issued.token.split("_")[2]

    with unit_of_work(container.sessions) as session:
        row = session.scalars(select(ApiToken)).one()
        stored = [str(getattr(row, column.key)) for column in ApiToken.__table__.columns]

    assert (row.token_hash, [value for value in stored if secret in value]) == (
        hashlib.sha256(issued.token.encode()).hexdigest(),
        [],
    )


def test_creating_a_token_is_audited(container: Container) -> None:
    """Creation writes auth:token:create by its actor, with name, prefix and scopes."""
    issued = issue(container, "reports:write", "reports:read")

    assert audit_rows(container) == [
        (
            "auth:token:create",
            "cli",
            "api_token",
            str(issued.info.token_id),
            None,
            {
                "name": "ses-forwarder",
                "prefix": issued.info.prefix,
                "scopes": ["reports:read", "reports:write"],
            },
        )
    ]


def test_valid_token_verifies_to_its_record(container: Container) -> None:
    """Verifying a valid token returns its name and scopes."""
    issued = issue(container, "reports:read")

    with unit_of_work(container.sessions) as session:
        info = tokens.verify(session, issued.token, now=utcnow())

    assert (info.token_id, info.name, info.scopes) == (
        issued.info.token_id,
        "ses-forwarder",
        ("reports:read",),
    )


def test_verifying_records_when_the_token_was_last_used(container: Container) -> None:
    """The first use of a token sets last_used_at to the time of use."""
    issued = issue(container)
    used_at = utcnow()

    with unit_of_work(container.sessions) as session:
        tokens.verify(session, issued.token, now=used_at)
    with unit_of_work(container.sessions) as session:
        info = tokens.find(session, str(issued.info.token_id))

    assert info.last_used_at == used_at


def test_last_use_is_recorded_once_per_granule(container: Container) -> None:
    """Uses closer together than the granularity leave the recorded time alone."""
    issued = issue(container)
    first = utcnow()
    with unit_of_work(container.sessions) as session:
        tokens.verify(session, issued.token, now=first)
        tokens.verify(session, issued.token, now=first + LAST_USED_GRANULARITY / 2)
        later = tokens.verify(session, issued.token, now=first + LAST_USED_GRANULARITY)

    assert later.last_used_at == first + LAST_USED_GRANULARITY


def test_revoked_token_is_refused(container: Container) -> None:
    """A revoked token no longer verifies."""
    issued = issue(container)
    with unit_of_work(container.sessions) as session:
        tokens.revoke(session, issued.info.prefix, actor="cli", now=utcnow())

    with unit_of_work(container.sessions) as session, pytest.raises(InvalidToken, match="revoked"):
        tokens.verify(session, issued.token, now=utcnow())


def test_known_prefix_with_another_secret_is_refused(container: Container) -> None:
    """Knowing a token's prefix is not enough: the whole token must hash the same."""
    issued = issue(container)
    forged = f"abd_{issued.info.prefix}_{'0' * 64}"

    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(InvalidToken, match="not known"),
    ):
        tokens.verify(session, forged, now=utcnow())


@pytest.mark.parametrize(
    "presented",
    ["", "abd_", "Bearer abd_0123456789ab_" + "0" * 64, "abd_0123456789AB_" + "0" * 64, "abd_xyz"],
)
def test_malformed_token_is_refused(container: Container, presented: str) -> None:
    """Anything not shaped like a token is refused before any lookup."""
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(InvalidToken, match="malformed"),
    ):
        tokens.verify(session, presented, now=utcnow())


@pytest.mark.parametrize("form", ["id", "prefix", "display prefix"])
def test_token_can_be_revoked_by_id_or_prefix(container: Container, form: str) -> None:
    """Revocation finds the token by its id, its bare prefix or abd_<prefix>."""
    issued = issue(container)
    identifier = {
        "id": str(issued.info.token_id),
        "prefix": issued.info.prefix,
        "display prefix": issued.info.display_prefix,
    }[form]
    now = utcnow()

    with unit_of_work(container.sessions) as session:
        outcome = tokens.revoke(session, identifier, actor="cli", now=now)

    assert (outcome.info.token_id, outcome.info.revoked_at, outcome.changed) == (
        issued.info.token_id,
        now,
        True,
    )


def test_revoking_is_audited(container: Container) -> None:
    """Revocation writes auth:token:revoke with the time before and after, and the reason."""
    issued = issue(container)
    now = utcnow()
    with unit_of_work(container.sessions) as session:
        tokens.revoke(session, issued.info.prefix, actor="cli", now=now, reason="leaked in a log")

    with unit_of_work(container.sessions) as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.tag == "auth:token:revoke")
        ).one()

    assert (entry.actor, entry.subject_id, entry.before, entry.after, entry.reason) == (
        "cli",
        str(issued.info.token_id),
        {"revoked_at": None},
        {"revoked_at": now.isoformat()},
        "leaked in a log",
    )


def test_revoking_twice_changes_nothing_the_second_time(container: Container) -> None:
    """A second revocation keeps the first time and writes no second audit row."""
    issued = issue(container)
    first = utcnow()
    with unit_of_work(container.sessions) as session:
        tokens.revoke(session, issued.info.prefix, actor="cli", now=first)
    with unit_of_work(container.sessions) as session:
        again = tokens.revoke(
            session, issued.info.prefix, actor="cli", now=first + timedelta(hours=1)
        )

    revocations = [row for row in audit_rows(container) if row[0] == "auth:token:revoke"]
    assert (again.changed, again.info.revoked_at, len(revocations)) == (False, first, 1)


def test_revoking_an_unknown_token_says_so(container: Container) -> None:
    """An identifier that matches no token raises TokenNotFound."""
    with unit_of_work(container.sessions) as session, pytest.raises(TokenNotFound):
        tokens.revoke(session, "abd_0123456789ab", actor="cli", now=utcnow())


def test_identifier_naming_two_tokens_is_refused(container: Container) -> None:
    """A digits-only prefix equal to another token's id is ambiguous, not guessed."""
    first = issue(container)
    with unit_of_work(container.sessions) as session:
        session.add(
            ApiToken(
                name="digits",
                token_prefix=f"{first.info.token_id:012d}",
                token_hash="1" * 64,
                scopes=["reports:read"],
                created_at=utcnow(),
            )
        )

    with unit_of_work(container.sessions) as session, pytest.raises(TokenAmbiguous):
        tokens.find(session, f"{first.info.token_id:012d}")


@pytest.mark.parametrize(
    ("name", "scopes", "message"),
    [
        ("ci", ["reports:wirte"], "unknown scope reports:wirte"),
        ("ci", [], "name at least one scope"),
        ("   ", ["reports:read"], "needs a name"),
        ("x" * 101, ["reports:read"], "at most 100"),
    ],
)
def test_token_request_that_makes_no_sense_is_refused(
    container: Container, name: str, scopes: list[str], message: str
) -> None:
    """Unknown scopes, no scopes or a bad name are refused and nothing is stored."""
    with (
        unit_of_work(container.sessions) as session,
        pytest.raises(TokenRequestInvalid, match=message),
    ):
        tokens.create(session, name, scopes, actor="cli", now=utcnow())
    with unit_of_work(container.sessions) as session:
        assert tokens.list_tokens(session) == []


def test_cli_creates_a_token_printed_once_that_verifies(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """`abusedesk token create` prints a token that then verifies with its scopes."""
    result = run_cli(
        database_url, tmp_path, "token", "create", "ses-forwarder", "--scope", "reports:write"
    )
    printed = TOKEN_SHAPE.findall(result.stdout)

    with unit_of_work(container.sessions) as session:
        info = tokens.verify(session, printed[0], now=utcnow())
    assert (result.returncode, len(printed), info.name, info.scopes) == (
        0,
        1,
        "ses-forwarder",
        ("reports:write",),
    )


def test_cli_refuses_an_unknown_scope(database_url: str, tmp_path: Path) -> None:
    """`abusedesk token create` with a mistyped scope exits 2 and names the known ones."""
    result = run_cli(database_url, tmp_path, "token", "create", "ci", "--scope", "report:write")

    assert (
        result.returncode,
        "known scopes: events:attribute, events:read, inventory:read, inventory:write, metrics:read, reports:read, reports:write"
        in result.stderr,
    ) == (
        2,
        True,
    )


def test_cli_lists_tokens_without_their_secrets(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """`abusedesk token list` shows name and prefix but never the secret."""
    issued = issue(container, name="dmarc-importer")

    result = run_cli(database_url, tmp_path, "token", "list")

    assert (
        result.returncode,
        "dmarc-importer" in result.stdout,
        issued.info.display_prefix in result.stdout,
        issued.token.split("_")[2] in result.stdout,
    ) == (0, True, True, False)


def test_cli_revokes_a_token_by_prefix(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    """`abusedesk token revoke abd_<prefix>` revokes it, audited as the cli."""
    issued = issue(container)

    result = run_cli(database_url, tmp_path, "token", "revoke", issued.info.display_prefix)

    with unit_of_work(container.sessions) as session:
        info = tokens.find(session, issued.info.display_prefix)
    assert (result.returncode, info.revoked_at is not None, audit_rows(container)[-1][:2]) == (
        0,
        True,
        ("auth:token:revoke", "cli"),
    )
