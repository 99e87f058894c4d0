"""docs/access.md shows the role/permission table exactly as the code defines it."""

import re
from pathlib import Path

from abusedesk.access.model import role_table_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "access.md"
_TABLE = re.compile(r"<!-- role-table:start -->\n(.*?)<!-- role-table:end -->", re.DOTALL)


def test_the_documented_role_table_is_the_codes_table() -> None:
    """The table between the markers equals role_table_markdown(); paste it again if not."""
    found = _TABLE.search(DOC.read_text(encoding="utf-8"))

    assert found is not None, "docs/access.md lost its role-table markers"
    assert found.group(1) == role_table_markdown()
