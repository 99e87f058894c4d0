"""``abusedesk user`` and the demo users, as an operator runs them."""

import subprocess
import sys
from pathlib import Path

from abusedesk.access.policy import PasswordHashing, ThrottlePolicy
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import make_engine, make_session_factory, read_only, unit_of_work
from abusedesk.storage.seed import DEMO_USERS
from abusedesk.storage.users import SqlUserRepository
from tests.functional.cli import cli_env

PASSWORD = "violet tractor under rain"
FAST_ENV = {
    "ABUSEDESK_ACCESS__PASSWORD_TIME_COST": "1",
    "ABUSEDESK_ACCESS__PASSWORD_MEMORY_KIB": "1024",
    "ABUSEDESK_ACCESS__PASSWORD_PARALLELISM": "1",
}
FAST = PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1)
SMALL_SEED = ("--accounts", "12", "--days", "2", "--end", "2026-03-02T12:00", "--reports", "0")


def _user_cli(
    *args: str, database_url: str, workdir: Path, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "abusedesk", *args],
        cwd=workdir,
        env=cli_env(database_url, workdir, **FAST_ENV, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _verifies(database_url: str, username: str, password: str) -> bool:
    engine = make_engine(database_url)
    try:
        with read_only(make_session_factory(engine)) as session:
            credentials = SqlUserRepository().credentials(session, username)
    finally:
        engine.dispose()
    return FAST.verify(credentials.password_hash, password)


def _locked(database_url: str, username: str) -> bool:
    engine = make_engine(database_url)
    try:
        with read_only(make_session_factory(engine)) as session:
            return SqlUserRepository().get(session, username).is_locked(utcnow())
    finally:
        engine.dispose()


def test_create_reads_the_password_from_stdin_and_list_shows_the_user(
    database_url: str, tmp_path: Path
) -> None:
    """A user created with --password-stdin can sign in with it and is listed with the role."""
    created = _user_cli(
        "user", "create", "jdoe", "--role", "lead", "--display-name", "Jo Doe",
        "--password-stdin", stdin=PASSWORD + "\n", database_url=database_url, workdir=tmp_path,
    )  # fmt: skip
    listed = _user_cli("user", "list", database_url=database_url, workdir=tmp_path)

    assert (created.returncode, created.stdout.strip()) == (0, "created user jdoe (lead)")
    assert _verifies(database_url, "jdoe", PASSWORD)
    assert "jdoe" in listed.stdout
    assert "Jo Doe" in listed.stdout
    assert "lead" in listed.stdout


def test_a_password_on_the_command_line_is_not_an_option(database_url: str, tmp_path: Path) -> None:
    """There is no --password option: a password never travels in argv."""
    result = _user_cli(
        "user", "create", "jdoe", "--role", "lead", "--password", PASSWORD,
        database_url=database_url, workdir=tmp_path,
    )  # fmt: skip

    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_weak_password_exits_2_with_the_rule(database_url: str, tmp_path: Path) -> None:
    """A password that breaks a rule is refused with exit code 2 and the reason."""
    result = _user_cli(
        "user", "create", "jdoe", "--role", "lead", "--password-stdin",
        stdin="short\n", database_url=database_url, workdir=tmp_path,
    )  # fmt: skip

    assert result.returncode == 2
    assert "at least 12 characters" in result.stderr


def test_unknown_role_exits_2_naming_the_roles(database_url: str, tmp_path: Path) -> None:
    """An unknown role is refused with the list of roles to choose from."""
    result = _user_cli(
        "user", "create", "jdoe", "--role", "boss", "--password-stdin",
        stdin=PASSWORD + "\n", database_url=database_url, workdir=tmp_path,
    )  # fmt: skip

    assert result.returncode == 2
    assert "analyst_basic" in result.stderr


def test_set_role_disable_enable_and_reset_password(database_url: str, tmp_path: Path) -> None:
    """Each change command says what it did, and a reset password is the one that verifies."""
    _user_cli(
        "user", "create", "jdoe", "--role", "analyst_basic", "--password-stdin",
        stdin=PASSWORD + "\n", database_url=database_url, workdir=tmp_path,
    )  # fmt: skip

    outputs = [
        _user_cli(*args, database_url=database_url, workdir=tmp_path, stdin=stdin).stdout.strip()
        for args, stdin in [
            (("user", "set-role", "jdoe", "analyst_advanced", "--reason", "promoted"), ""),
            (("user", "disable", "jdoe"), ""),
            (("user", "disable", "jdoe"), ""),
            (("user", "enable", "jdoe"), ""),
            (("user", "reset-password", "jdoe", "--password-stdin"), "amber kettle on fire\n"),
        ]
    ]

    assert outputs == [
        "jdoe now has the role analyst_advanced",
        "jdoe is now disabled",
        "jdoe was already disabled",
        "jdoe is now enabled",
        "set a new password for jdoe; their sessions ended",
    ]
    assert (
        _verifies(database_url, "jdoe", "amber kettle on fire"),
        _verifies(database_url, "jdoe", PASSWORD),
    ) == (True, False)


def test_unlock_lifts_a_lock(database_url: str, tmp_path: Path) -> None:
    """``user unlock`` ends a lock set by failed sign-ins."""
    _user_cli(
        "user", "create", "jdoe", "--role", "qa", "--password-stdin",
        stdin=PASSWORD + "\n", database_url=database_url, workdir=tmp_path,
    )  # fmt: skip
    engine = make_engine(database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        for _ in range(5):
            SqlUserRepository().record_attempt(
                session,
                username="jdoe",
                verified=False,
                client_address="192.0.2.1",
                account_policy=ThrottlePolicy(),
                address_policy=ThrottlePolicy(max_failures=100),
                now=utcnow(),
            )
    engine.dispose()
    locked_before = _locked(database_url, "jdoe")

    result = _user_cli("user", "unlock", "jdoe", database_url=database_url, workdir=tmp_path)

    assert (locked_before, result.stdout.strip(), _locked(database_url, "jdoe")) == (
        True,
        "unlocked jdoe",
        False,
    )


def test_changing_an_unknown_user_exits_1(database_url: str, tmp_path: Path) -> None:
    """Naming nobody fails with exit code 1 and says so."""
    result = _user_cli("user", "disable", "ghost", database_url=database_url, workdir=tmp_path)

    assert (result.returncode, "no user is named 'ghost'" in result.stderr) == (1, True)


def test_demo_seed_creates_one_user_per_role_with_the_given_password(
    database_url: str, tmp_path: Path
) -> None:
    """Demo seed makes the demo users, all with ABUSEDESK_DEMO_PASSWORD, and says so."""
    result = _user_cli(
        "demo", "seed", *SMALL_SEED, database_url=database_url, workdir=tmp_path,
        ABUSEDESK_DEMO_PASSWORD=PASSWORD,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "demo users created" in result.stdout
    assert PASSWORD not in result.stdout
    assert all(_verifies(database_url, name, PASSWORD) for name, _, _ in DEMO_USERS)


def test_demo_seed_prints_a_generated_password_once(database_url: str, tmp_path: Path) -> None:
    """Without ABUSEDESK_DEMO_PASSWORD a password is made, printed, and works; a rerun adds no user."""
    first = _user_cli("demo", "seed", *SMALL_SEED, database_url=database_url, workdir=tmp_path)
    second = _user_cli("demo", "seed", "--if-empty", database_url=database_url, workdir=tmp_path)
    lines = first.stdout.splitlines()
    header = "their password, shown only this once:"
    assert header in lines, f"exit {first.returncode}\n{first.stdout}\n{first.stderr}"
    password = lines[lines.index(header) + 1].strip()

    assert _verifies(database_url, "admin", password)
    assert (second.returncode, "demo users created" in second.stdout) == (0, False)
