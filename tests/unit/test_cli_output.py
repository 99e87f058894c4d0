"""Printing untrusted text in the terminal: escaped control characters, no markup."""

import io

import pytest
from rich.console import Console

from abusedesk.cli.context import plain, terminal_safe


def rendered(value: object) -> str:
    """Return what a terminal console prints for plain(*value*)."""
    out = io.StringIO()
    Console(file=out, width=200, color_system=None, force_terminal=True).print(plain(value))
    return out.getvalue()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("nul\x00 del\x7f", "nul\\x00 del\\x7f"),
        ("csi\x9b2J", "csi\\x9b2J"),
        ("carriage\rreturn", "carriage\\x0dreturn"),
    ],
)
def test_control_characters_become_escapes(value: str, expected: str) -> None:
    """C0 controls, DEL and C1 controls are written as \\xNN escapes."""
    assert terminal_safe(value) == expected


def test_newline_and_tab_are_kept() -> None:
    """Newlines and tabs lay text out; they are left as they are."""
    assert terminal_safe("one\n\ttwo") == "one\n\ttwo"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("name\u202egpj.exe", "name\\u202egpj.exe"),
        ("lone \udcff byte", "lone \\udcff byte"),
        ("line\u2028separator", "line\\u2028separator"),
    ],
)
def test_text_that_reads_differently_is_escaped(value: str, expected: str) -> None:
    """Bidirectional overrides, line separators and lone surrogates are escaped too."""
    assert terminal_safe(value) == expected


def test_ordinary_unicode_is_kept() -> None:
    """Letters of any script and emoji are not escaped."""
    assert terminal_safe("Grüße, 日本, ✉") == "Grüße, 日本, ✉"


def test_markup_is_printed_as_text() -> None:
    """Square brackets that rich would read as markup, even unbalanced ones, print as is."""
    assert rendered("[bold]x[/x] [/]") == "[bold]x[/x] [/]\n"


def test_emoji_codes_are_printed_as_text() -> None:
    """An emoji code such as :warning: is not replaced by the emoji."""
    assert rendered(":warning:") == ":warning:\n"


def test_printed_output_has_no_raw_escape() -> None:
    """What a console prints from hostile text carries no escape byte of its own."""
    assert rendered("\x1b[2J\x1b]0;x\x07") == "\\x1b[2J\\x1b]0;x\\x07\n"
