"""A good portal link is never answered as a refused one because something after it failed.

The refusal page (403) is for links that are malformed, tampered with or expired. Here
the reply domain slipped past the settings' checks, so the appeal's acknowledgement
cannot carry a reply address: the appeal is still stored and the customer is not told
their link is bad.
"""

import dataclasses
import re
from pathlib import Path

import httpx
from sqlalchemy import func, select

from abusedesk.bootstrap import build
from abusedesk.storage.db import read_only
from abusedesk.storage.tables import AppealRow
from abusedesk.web.app import create_app
from tests.support.access import access_settings
from tests.support.portal import paused_with_notice, team
from tests.support.web import serving

_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
WORDS = {
    "root_cause": "A signup form without confirmation let a list broker add addresses.",
    "fix": "Double opt-in on every form; the broker's addresses are removed.",
    "prevention": "Weekly complaint review and a cap on new contacts per day.",
}


def test_an_appeal_whose_acknowledgement_fails_is_not_answered_as_a_refused_link(
    database_url: str, tmp_path: Path
) -> None:
    """Good link, acknowledgement failing: the appeal is kept, no refusal page."""
    container = build(access_settings(database_url, tmp_path))
    try:
        team(container)
        noticed = paused_with_notice(container)
        # model_copy does not validate: the unusable domain reaches the store step.
        broken = container.notices.settings.model_copy(update={"reply_domain": "Desk Example"})
        container.notices = dataclasses.replace(container.notices, settings=broken)
        with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
            page = http.get(noticed.path)
            found = _FORM_TOKEN.search(page.text)
            assert found is not None
            posted = http.post(
                f"{noticed.path}/appeal", data={**WORDS, "form_token": found.group(1)}
            )
        with read_only(container.sessions) as session:
            stored = session.scalar(select(func.count()).select_from(AppealRow))
    finally:
        container.close()
    assert page.status_code == 200
    assert posted.status_code == 303
    assert posted.headers["location"] == f"{noticed.path}?done=appealed"
    assert "This link cannot be used" not in posted.text
    assert stored == 1
