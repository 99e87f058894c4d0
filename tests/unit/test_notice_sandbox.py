"""Notice templates run in Jinja2's immutable sandbox: errors in words, escapes refused."""

import pytest

from abusedesk.messaging.defaults import DEFAULT_TEMPLATES, default_template
from abusedesk.messaging.templates import (
    MAX_OUTPUT,
    TEMPLATE_KINDS,
    InvalidTemplate,
    TemplateRefused,
    check,
    example_context,
    render,
    variables,
)

ESCAPES = [
    "{{ account.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ account.name.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ account.update({'name': 'x'}) }}",
    "{{ evidence.append(1) }}",
    "{% for x in range(100000) %}{{ x }}{% endfor %}",
]


@pytest.mark.parametrize("body", ESCAPES)
def test_escapes_and_mutation_are_refused(body: str) -> None:
    """Private attributes, globals, mutation and huge ranges never render."""
    with pytest.raises(InvalidTemplate):
        check("pause", "Notice", body)


def test_a_private_attribute_is_refused_by_the_sandbox_itself() -> None:
    """Reaching for dunder attributes is a sandbox refusal, not a mere typo."""
    with pytest.raises(TemplateRefused, match="sandbox"):
        render("s", "{{ account.__class__.__mro__ }}", {"account": {"name": "A"}})
    with pytest.raises(TemplateRefused):
        render("s", "{{ evidence.append(1) }}", {"evidence": []})


def test_unknown_variables_are_named() -> None:
    """A variable the kind does not have is refused with its name and the allowed ones."""
    with pytest.raises(InvalidTemplate) as raised:
        check("pause", "Notice for {{ acount.name }}", "Hello {{ secret_key }}")
    text = str(raised.value)
    assert "acount" in text
    assert "secret_key" in text
    assert "account" in text


def test_misspelt_attributes_are_caught_against_the_example_values() -> None:
    """StrictUndefined: ``account.nmae`` fails when checked, never renders blank."""
    with pytest.raises(InvalidTemplate, match="nmae"):
        check("pause", "Notice", "Hello {{ account.nmae }}")


def test_syntax_errors_say_where() -> None:
    """A broken tag is reported with its line."""
    with pytest.raises(InvalidTemplate, match="body line 2"):
        check("pause", "Notice", "Hello\n{% if account.name %}unclosed")


def test_a_subject_is_one_line() -> None:
    """A subject with a line break (header injection) is refused when checked..."""
    with pytest.raises(InvalidTemplate, match="one line"):
        check("pause", "Hi\nBcc: everyone@example.com", "Body")


def test_rendered_subjects_are_flattened() -> None:
    """...and a value with line breaks cannot make one when rendered."""
    rendered = render("[{{ x }}]", "b", {"x": "a\r\nBcc: everyone@example.com"})
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_autoescape_is_off_for_text_mail() -> None:
    """The output is plain text: an ampersand stays an ampersand."""
    assert render("s", "{{ x }}", {"x": "Smith & Co <x>"}).body == "Smith & Co <x>"


def test_output_is_capped() -> None:
    """A template cannot make a huge message."""
    body = "{% for i in range(1000) %}{% for j in range(1000) %}xx{% endfor %}{% endfor %}"
    with pytest.raises(InvalidTemplate, match=f"{MAX_OUTPUT:,}"):
        render("s", body, {})


def test_a_reporter_acknowledgement_cannot_name_the_account() -> None:
    """Reporters learn nothing about the account: its variables are not theirs."""
    assert "account" not in variables("reporter_ack")
    with pytest.raises(InvalidTemplate, match="account"):
        check("reporter_ack", "Thanks", "We acted on {{ account.name }}")


@pytest.mark.parametrize("kind", sorted(TEMPLATE_KINDS))
def test_every_built_in_template_passes_its_own_check(kind: str) -> None:
    """The templates that ship render with their kind's example values."""
    subject, body = default_template(kind)
    check(kind, subject, body)
    rendered = render(subject, body, example_context(kind))
    assert rendered.subject
    assert rendered.body.strip()


def test_the_action_template_quotes_the_figures() -> None:
    """The built-in action notice quotes the figures' sentence and the portal link."""
    subject, body = DEFAULT_TEMPLATES["action"]
    context = example_context("pause")
    rendered = render(subject, body, context)
    assert context["figures"]["complaint_rate"]["sentence"] in rendered.body
    assert context["portal_url"] in rendered.body


def test_unknown_kinds_are_refused() -> None:
    """A template for a kind abusedesk never sends is refused."""
    with pytest.raises(InvalidTemplate, match="kind"):
        check("explode", "s", "b")
