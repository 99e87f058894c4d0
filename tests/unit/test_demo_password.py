"""The demo users' password: generated or given, it passes the policy for every demo user."""

import pytest

from abusedesk.access.errors import WeakPassword
from abusedesk.access.policy import check_password
from abusedesk.cli.demo import _check_demo_password, _random_password
from abusedesk.storage.seed import DEMO_USERS


def test_generated_passwords_never_contain_a_demo_username() -> None:
    # About one random token in 500 contains a short username such as "ana" by chance.
    for _ in range(3000):
        password = _random_password(12)
        for username, _, _ in DEMO_USERS:
            check_password(password, username=username, min_length=12)


def test_a_given_password_holding_a_demo_username_is_refused() -> None:
    username = DEMO_USERS[0][0]
    with pytest.raises(WeakPassword, match="username"):
        _check_demo_password(f"Tr0ub4dor-{username}-horse-staple", 12)
