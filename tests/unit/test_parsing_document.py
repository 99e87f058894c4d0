"""The raw document shared by the parsers."""

import pytest

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError


def test_message_nested_too_deeply_is_refused_with_its_reason() -> None:
    """A MIME structure deep enough to exhaust the stack raises mime_too_deep."""
    nested = "".join(
        f'--b{n}\nContent-Type: multipart/mixed; boundary="b{n + 1}"\n\n' for n in range(5000)
    )
    raw = f'From: a@example.org\nContent-Type: multipart/mixed; boundary="b0"\n\n{nested}'.encode()
    with pytest.raises(ParseError) as caught:
        _ = RawDocument(raw).message
    assert caught.value.reason == "mime_too_deep"
