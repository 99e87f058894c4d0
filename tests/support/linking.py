"""A small provider with a ring in it, its reports sent through the real pipeline.

* ``9001`` (terminated) and ``9002`` pay with one card: a link on its own;
* ``9002`` and ``9003`` signed up from one IP, and their reported mail links to one
  tracking domain: two weak values that corroborate each other, a link;
* ``9004`` links to that tracking domain too, but shares nothing else: no link;
* ``9100`` to ``9111`` carry the same invoice placeholder card: common, it links nobody.
"""

from typing import Any

from sqlalchemy import update

from abusedesk.bootstrap import Container
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import Account
from tests.factories.arf import arf_report
from tests.factories.inventory import make_account
from tests.support.unattributed import ingest

TRACKER = "trk.ring-tracker.test"
RING_IP = "192.0.2.250"
COMMON_CARD = "pf_invoice"
PLACEHOLDER_HOLDERS = tuple(str(n) for n in range(9100, 9112))


def domain_of(external_id: str) -> str:
    """Return the sending domain of account *external_id*."""
    return f"a{external_id}.example"


def add_account(
    container: Container,
    external_id: str,
    *,
    card: str | None = None,
    attributes: Any = None,
    standing: str = "healthy",
) -> int:
    """Insert an account with its own domain, card, attributes and standing; return its id."""
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, external_id, domain=domain_of(external_id))
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(
                payment_fingerprint=card,
                attributes={} if attributes is None else attributes,
                standing=standing,
            )
        )
    return account_id


def report_linking(external_id: str, url: str, serial: int) -> bytes:
    """Return a complaint about mail from account *external_id* whose body links to *url*."""
    domain = domain_of(external_id)
    raw = arf_report(message_id=f"m{serial}@{domain}", from_domain=domain, serial=serial)
    return raw.replace(f"http://offers.{domain}/deal".encode(), url.encode())


def plant_ring(container: Container) -> dict[str, int]:
    """Make the accounts of this module's provider and process their reports; return the
    account ids by external id."""
    ids = {
        "9001": add_account(container, "9001", card="pf_ring", standing="terminated"),
        "9002": add_account(container, "9002", card="pf_ring", attributes={"signup_ip": RING_IP}),
        "9003": add_account(container, "9003", attributes={"signup_ip": RING_IP}),
        "9004": add_account(container, "9004"),
    }
    for external_id in PLACEHOLDER_HOLDERS:
        ids[external_id] = add_account(container, external_id, card=COMMON_CARD)
    ingest(
        container,
        [
            report_linking(external_id, f"http://{TRACKER}/o/{serial}", serial)
            for serial, external_id in enumerate(("9002", "9003", "9004"), start=1)
        ],
    )
    return ids


def set_card(container: Container, account_id: int, card: str | None) -> None:
    """Change an account's payment fingerprint."""
    with unit_of_work(container.sessions) as session:
        session.execute(
            update(Account).where(Account.id == account_id).values(payment_fingerprint=card)
        )
