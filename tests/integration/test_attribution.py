"""Attribution against the inventory on a real database, strongest evidence first."""

from datetime import timedelta

from sqlalchemy.orm import Session

from abusedesk.attribution.service import attribute
from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.inventory import SqlInventoryLookup
from abusedesk.storage.tables import IpAllocation, IpPool
from tests.factories.inventory import make_account, make_dedicated_ip, make_sent_mail


def _resolve(session: Session, **indicators: str) -> tuple[str, int, str] | None:
    found = attribute(
        {k: (v,) for k, v in indicators.items()}, utcnow(), SqlInventoryLookup(session)
    )
    return None if found is None else (found.method, found.account_id, found.confidence)


def test_provider_message_id_wins_over_a_conflicting_domain(container: Container) -> None:
    """Our own message id in the send log decides, even when the From domain is another's."""
    with unit_of_work(container.sessions) as session:
        first, first_identity = make_account(session, "1", domain="one.example")
        second, _ = make_account(session, "2", domain="two.example")
        mail = make_sent_mail(session, first, first_identity, 1, domain="one.example")
        session.flush()
        assert _resolve(
            session, provider_message_id=mail.provider_message_id, from_domain="two.example"
        ) == (
            "provider_message_id",
            first,
            "high",
        )
        del second


def test_dkim_domain_of_a_verified_identity_gives_medium_confidence(container: Container) -> None:
    """A DKIM d= that one account verified attributes to it with medium confidence."""
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, domain="shop.example")
        assert _resolve(session, dkim_domain="shop.example") == (
            "dkim_domain",
            account_id,
            "medium",
        )


def test_domain_verified_by_two_accounts_attributes_to_nobody(container: Container) -> None:
    """An identity two accounts hold is ambiguous and is not guessed."""
    with unit_of_work(container.sessions) as session:
        make_account(session, "1", domain="shared.example")
        make_account(session, "2", domain="shared.example")
        assert _resolve(session, from_domain="shared.example") is None


def test_dedicated_ip_attributes_only_while_allocated(container: Container) -> None:
    """A dedicated IP names its account during its allocation, and nobody before it."""
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session)
        make_dedicated_ip(session, account_id, "198.51.100.7", since=utcnow() - timedelta(days=1))
        session.flush()
        lookup = SqlInventoryLookup(session)
        now = attribute({"source_ip": ("198.51.100.7",)}, utcnow(), lookup)
        before = attribute({"source_ip": ("198.51.100.7",)}, utcnow() - timedelta(days=2), lookup)
    assert (now and now.account_id, before) == (account_id, None)


def test_shared_pool_ip_identifies_nobody(container: Container) -> None:
    """A source IP in a shared pool is not evidence against any one account."""
    with unit_of_work(container.sessions) as session:
        pool = IpPool(name="shared-1", kind="shared")
        session.add(pool)
        session.flush()
        session.add(
            IpAllocation(ip="192.0.2.50", pool_id=pool.id, valid_from=utcnow() - timedelta(days=5))
        )
        session.flush()
        assert _resolve(session, source_ip="192.0.2.50") is None
