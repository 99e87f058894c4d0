"""The blocklist scenario's inventory and the settings that point the watch at a test server."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import BlocklistSettings
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import IpAllocation, IpPool
from tests.factories.inventory import LONG_AGO, make_account, make_resource
from tests.support.dns import (
    CLEAN_DOMAIN,
    CLEAN_IP,
    DEDICATED_IP,
    LISTED_DOMAIN,
    PHISHING_DOMAIN,
    SHARED_IP,
    ZONES,
    FixtureDns,
)

# The dedicated IP moves from account 4411 to account 6633 at this moment.
MOVED_AT = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)


def make_inventory(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Store three accounts and our IP space; return the accounts' ids by external id.

    4411 holds the dedicated IP (until MOVED_AT, then 6633 does) and the clean IP, and
    sends as news.<listed domain>; 5522 sends as shop.<listed domain> and as the phishing
    domain, from the IPv6 address of its dedicated pool; 6633 sends as the clean domain.
    The shared pool holds the shared IP.
    """
    with unit_of_work(sessions) as session:
        acme, _ = make_account(session, "4411", domain=f"news.{LISTED_DOMAIN}")
        globex, _ = make_account(session, "5522", domain=f"shop.{LISTED_DOMAIN}")
        make_resource(session, globex, "identity_domain", PHISHING_DOMAIN, since=LONG_AGO)
        initech, _ = make_account(session, "6633", domain=CLEAN_DOMAIN)
        shared = IpPool(name="shared-1", kind="shared", account_id=None)
        dedicated = IpPool(name="globex-dedicated", kind="dedicated", account_id=globex)
        session.add_all([shared, dedicated])
        session.flush()
        session.add_all(
            [
                IpAllocation(
                    ip=DEDICATED_IP, account_id=acme, valid_from=LONG_AGO, valid_to=MOVED_AT
                ),
                IpAllocation(
                    ip=DEDICATED_IP, account_id=initech, valid_from=MOVED_AT, valid_to=None
                ),
                IpAllocation(ip=CLEAN_IP, account_id=acme, valid_from=LONG_AGO, valid_to=None),
                IpAllocation(ip=SHARED_IP, pool_id=shared.id, valid_from=LONG_AGO, valid_to=None),
                # Written the long way on purpose: targets are read in compressed form.
                IpAllocation(
                    ip="2001:DB8:0::10", pool_id=dedicated.id, valid_from=LONG_AGO, valid_to=None
                ),
            ]
        )
    return {"4411": acme, "5522": globex, "6633": initech}


def watch_settings(dns: FixtureDns, **changes: Any) -> BlocklistSettings:
    """Return settings that ask every scenario list at *dns*, switched on, with *changes*."""
    return BlocklistSettings(**watch_values(dns, **changes))


def watch_values(dns: FixtureDns, **changes: Any) -> dict[str, Any]:
    """Return the scenario's blocklist settings as values, with *changes*."""
    values: dict[str, Any] = {
        "enabled": True,
        "lists": list(ZONES),
        "zones": dict(ZONES),
        "nameservers": [dns.nameserver],
        "port": dns.port,
        "timeout_seconds": 0.3,
        "queries_per_second": 10_000,
    }
    values.update(changes)
    return values
