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


# Each builds a value past the output cap without printing it: only its length is shown,
# so a sandbox that measured text only once rendered would let every one through.
GROWTH = {
    "center": '{{ "a"|center(200000)|length }}',
    "format filter width": '{{ "%200000d"|format(1)|length }}',
    "format filter precision": '{{ "%.200000f"|format(1)|length }}',
    "% width": '{{ ("%200000d" % 1)|length }}',
    "% width from the values": '{{ ("%*d" % (200000, 1))|length }}',
    "str.format": '{{ "{:>200000}".format(1)|length }}',
    "str.format_map": '{{ "{x:>200000}".format_map({"x": 1})|length }}',
    "chained replace": '{{ ("x" * 500)|replace("x", "x" * 500)|length }}',
    "replace of nothing": '{{ ("x" * 1000)|replace("", "y" * 200)|length }}',
    "indent": '{{ ("\\n" * 1000)|indent(300, blank=True)|length }}',
    "wordwrap": '{{ ("x " * 1000)|wordwrap(1, wrapstring="y" * 200)|length }}',
    "join filter": '{% set a = "x" * 60000 %}{{ [a, a]|join|length }}',
    "~": '{% set a = "x" * 60000 %}{{ (a ~ a)|length }}',
    "+": '{% set a = "x" * 60000 %}{{ (a + a)|length }}',
    "set block": (
        '{% set b %}{% for i in range(300) %}{{ "x" * 1000 }}{% endfor %}{% endset %}{{ b|length }}'
    ),
    "filter block": (
        '{% filter length %}{% for i in range(300) %}{{ "x" * 1000 }}{% endfor %}{% endfilter %}'
    ),
    "str.ljust": '{{ "a".ljust(200000)|length }}',
    "str.join": '{% set a = "x" * 60000 %}{{ "".join([a, a])|length }}',
    "list repetition": '{{ (["x" * 1000] * 1000)|length }}',
    "huge number": "{% set n = 10 ** 100 %}{{ n ** 45 > 0 }}",
    "number squared": "{% set n = 10 ** 100 %}{{ (n ** 20) * (n ** 20) > 0 }}",
    "batch fill": "{{ [1]|batch(200000, 0)|list|length }}",
    "slice fill": "{{ [1]|slice(200000, 0)|list|length }}",
    "printed list": '{% set a = "x" * 60000 %}{{ [a, a]|length }}{{ [a, a] }}',
}


@pytest.mark.parametrize("body", GROWTH.values(), ids=GROWTH.keys())
def test_huge_values_are_refused_before_they_are_built(body: str) -> None:
    """Filters, operators, methods and blocks that grow text are measured first."""
    with pytest.raises(TemplateRefused, match="sandbox refused"):
        render("s", body, {})


ORDINARY = {
    '{{ "%5.2f"|format(3.14159) }}': " 3.14",
    '{{ "%s and %s" % ("a", "b") }}': "a and b",
    '{{ "%(n)d%%" % {"n": 5} }}': "5%",
    '{{ "abc"|center(7) }}': "  abc  ",
    '{{ "a b c"|wordwrap(2) }}': "a\nb\nc",
    '{{ ["a", "b"]|join(", ") }}': "a, b",
    '{{ "x-y"|replace("-", " to ") }}': "x to y",
    '{{ "a\\nb"|indent(2) }}': "a\n  b",
    '{{ "case " ~ 7 }}': "case 7",
    "{{ [1, 2] + [3] }}": "[1, 2, 3]",
    "{{ 2 ** 10 * 3 }}": "3072",
    '{{ "a long line of text"|truncate(12) }}': "a long...",
    "{% set x %}hello{% endset %}{{ x|upper }}": "HELLO",
    '{{ "Ab".lower() }} {{ "a-b".split("-")|last }}': "ab b",
    "{{ [1, 2, 3]|batch(2)|list }}": "[[1, 2], [3]]",
}


@pytest.mark.parametrize(("body", "expected"), ORDINARY.items())
def test_ordinary_formatting_still_works(body: str, expected: str) -> None:
    """The caps leave everyday formatting alone."""
    assert render("s", body, {}).body == expected


@pytest.mark.parametrize(
    "body",
    [
        "{% block a %}{{ self.a() }}{% endblock %}",
        "{{ lipsum(100000) }}",
        '{{ {"a": 1}|tojson(indent=100000) }}',
        '{{ "a"|urlize }}',
    ],
)
def test_blocks_lipsum_and_html_filters_are_not_there(body: str) -> None:
    """Blocks (which can call themselves), filler text and HTML/JSON filters are refused."""
    with pytest.raises(InvalidTemplate):
        check("pause", "Notice", body)
    with pytest.raises(InvalidTemplate):
        render("s", body, {})


@pytest.mark.parametrize(
    "body",
    [
        '{{ ("%" * 20000)|urlencode|urlencode|urlencode|length }}',
        '{{ ("&" * 20000)|forceescape|forceescape|forceescape|length }}',
    ],
)
def test_chains_of_growing_filters_stop_at_the_cap(body: str) -> None:
    """Escaping or encoding again and again cannot multiply a text past the cap."""
    with pytest.raises(TemplateRefused, match="filter would make text longer"):
        render("s", body, {})


@pytest.mark.parametrize(
    "body", ["{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "{{ " + "[" * 5000 + "]" * 5000 + " }}"]
)
def test_deeply_nested_brackets_are_refused_in_words(body: str) -> None:
    """Nesting that would exhaust the parser's stack is a refusal, not a crash."""
    with pytest.raises(InvalidTemplate, match="nested too deeply"):
        check("pause", "Notice", body)
    with pytest.raises(InvalidTemplate, match="nested too deeply"):
        render("s", body, {})
