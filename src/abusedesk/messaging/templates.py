"""Notice templates: plain-text mail rendered in Jinja2's immutable sandbox.

Admins edit templates, so a template is untrusted code: it runs in
``ImmutableSandboxedEnvironment`` (no attribute starting with ``_``, no methods that
change data, no access to Python internals), with ``StrictUndefined`` (a misspelt
variable is an error, never a silent blank) and autoescape off (the output is text
mail, not HTML).

A template can neither run without bound nor make a huge value: every way to build
text is measured *before* the text is built, and refused when it would pass
`MAX_OUTPUT` (100,000) characters. That covers ``~`` and ``+`` (joining), ``*``
(repetition), ``%`` and the ``format`` filter (printf-style widths and precisions
count), the ``center``, ``indent``, ``replace``, ``wordwrap``, ``truncate`` and
``join`` filters, text captured by ``{% set %}`` and ``{% filter %}`` blocks, and any
list or mapping printed. ``str.format`` and ``str.format_map`` are refused (use ``~``
or the ``format`` filter), as are the string methods that pad or splice text
(``center``, ``ljust``, ``rjust``, ``zfill``, ``expandtabs``, ``join``, ``replace``,
``translate``). Every other filter grows a text by a small factor at most (escaping,
URL-encoding): what it returns is measured, so no chain of them passes the cap.
Numbers stay under 4,096 bits (``*`` and ``**`` are checked), ``range`` under 1,000
items, ``batch`` and ``slice`` under 1,000 groups; loops nest at most two deep; macros,
blocks, includes and imports are refused; ``lipsum`` and the HTML filters (``tojson``,
``urlize``, ``xmlattr``) are not there. The rendered output is capped too. A subject is one line: line breaks in it (header injection) are refused
when saving and flattened when sending.

Each kind of message has the variables it may use (`variables`); `check` refuses a
template naming any other, or failing against the example values of its kind.
"""

import functools
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jinja2 import (
    Environment,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    filters,
    meta,
    nodes,
    pass_environment,
    pass_eval_context,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import FilterArgumentError, SecurityError, UndefinedError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from abusedesk.core.errors import AbuseDeskError
from abusedesk.enforcement.ladder import ALL_ACTIONS

MAX_OUTPUT: Final = 100_000
MAX_RANGE: Final = 1_000
MAX_SUBJECT: Final = 200
MAX_SOURCE: Final = 50_000
MAX_EXPONENT: Final = 100
MAX_BITS: Final = 4096
TOO_DEEP: Final = "brackets or tags nested too deeply"
# Loops inside loops: with ``range`` capped, two levels stay under a million steps.
MAX_LOOP_DEPTH: Final = 2
# Constructs a notice never needs, refused so that no template can loop without bound
# (a macro calling itself, or one hiding a loop inside another) or reach other files.
_FORBIDDEN: Final = {
    nodes.Macro: "macros",
    nodes.Block: "blocks",
    nodes.CallBlock: "call blocks",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Extends: "extends",
}

ACTION_NOTICE: Final = "action"
APPEAL_RECEIVED: Final = "appeal_received"
APPEAL_DECISION: Final = "appeal_decision"
REPORTER_ACK: Final = "reporter_ack"
CUSTOMER_REPLY: Final = "customer_reply"
MESSAGE_KINDS: Final = frozenset({APPEAL_RECEIVED, APPEAL_DECISION, REPORTER_ACK})
# Every kind a template may be saved for: each enforcement action, and the messages.
TEMPLATE_KINDS: Final = frozenset(ALL_ACTIONS) | MESSAGE_KINDS

# What every message to a customer may use.
_CUSTOMER: Final = frozenset(
    {"account", "case", "portal_url", "portal_expires_on", "reply_address", "desk"}
)
_ACTION: Final = _CUSTOMER | {"action", "figures", "evidence", "evidence_count"}
_VARIABLES: Final = {
    APPEAL_RECEIVED: _CUSTOMER | {"action", "appeal"},
    APPEAL_DECISION: _CUSTOMER | {"action", "appeal"},
    # A reporter learns nothing about the account: only their report and our reference.
    REPORTER_ACK: frozenset({"report", "case_reference", "desk"}),
}


class InvalidTemplate(AbuseDeskError):
    """Raise when a template does not compile or render; *problems* say where and why."""

    def __init__(self, problems: list[str]) -> None:
        """Keep the problems, one sentence each."""
        super().__init__("; ".join(problems))
        self.problems = problems


class TemplateRefused(InvalidTemplate):
    """Raise when a template tries to leave the sandbox (private attributes, mutation)."""


@dataclass(frozen=True)
class RenderedNotice:
    """A rendered message: one-line subject, text body."""

    subject: str
    body: str


def variables(kind: str) -> frozenset[str]:
    """Return the variables a template of *kind* may use."""
    if kind in _VARIABLES:
        return _VARIABLES[kind]
    if kind in ALL_ACTIONS or kind == ACTION_NOTICE:
        return _ACTION
    raise InvalidTemplate([f"kind: {kind!r} is not an action or a message kind"])


def _capped_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range holds more than {MAX_RANGE:,} items")
    return numbers


def _weight(value: Any) -> int:
    """Return about how many characters *value* prints as, counting only just past the cap.

    Text counts its length; lists, tuples, sets and mappings their items plus a little
    for the punctuation; numbers their digits. Shared items count each time they
    appear, as they would when printed.
    """
    total = 0
    stack = [value]
    while stack and total <= MAX_OUTPUT:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, Namespace):
            attributes = getattr(item, "_Namespace__attrs", {})
            total += 16 + 4 * len(attributes)
            stack.extend(attributes.keys())
            stack.extend(attributes.values())
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        else:
            total += 32
    return total


def _refuse_longer(size: int, what: str) -> None:
    """Raise `SecurityError` when *what* would make a value of more than *size* characters."""
    if size > MAX_OUTPUT:
        raise SecurityError(f"{what} would make text longer than {MAX_OUTPUT:,} characters")


def _refuse_heavy(value: Any, what: str) -> None:
    """Raise `SecurityError` when *value* would print as more than the cap."""
    _refuse_longer(_weight(value), what)


# A printf-style conversion: %(name)s, flags, width, precision, length, type.
_PRINTF: Final = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")


def _refuse_printf(template: str, values: Any) -> None:
    """Refuse ``template % values`` when widths, precisions and values make it too long."""
    padding = 0
    for match in _PRINTF.finditer(template):
        for number in match.groups():
            if number == "*":
                raise SecurityError("a width or precision taken from the values (*)")
            if number:
                padding += int(number) if len(number) < 7 else MAX_OUTPUT + 1
    _refuse_longer(len(template) + padding + _weight(values), "the % format")


# String methods that pad, splice or repeat text: a template uses the capped filters.
_GROWING_METHODS: Final = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "join", "replace", "translate"}
)


class _NoticeCompiler(CodeGenerator):
    """Compiles ``~`` to a call that measures the pieces before joining them."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 (Jinja2 names)
        """Write ``environment.joined((a, b, ...))`` instead of an unchecked join."""
        self.write("environment.joined((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


def _capped_concat(pieces: Iterable[Any]) -> str:
    """Join captured template output (``{% set %}`` and ``{% filter %}`` blocks), capped."""
    chunks = [str(piece) for piece in pieces]
    _refuse_longer(sum(len(chunk) for chunk in chunks), "a captured block")
    return "".join(chunks)


class _NoticeSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every way to build a value measured first."""

    code_generator_class = _NoticeCompiler
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(_capped_concat)

    def joined(self, pieces: tuple[Any, ...]) -> str:
        """Join the pieces of a ``~`` expression, refusing a result past the cap."""
        _refuse_heavy(list(pieces), "joining with ~")
        return "".join(str(piece) for piece in pieces)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse a repetition, join, format or number that would pass the caps."""
        if operator == "*":
            for sized, times in ((left, right), (right, left)):
                repeats = isinstance(sized, str | list | tuple) and isinstance(times, int)
                if repeats:
                    _refuse_longer(_weight(sized) * max(times, 0), "a repetition")
            if isinstance(left, int) and isinstance(right, int):
                _refuse_bits(left.bit_length() + right.bit_length())
        if operator == "**" and isinstance(right, int | float):
            if abs(right) > MAX_EXPONENT:
                raise SecurityError(f"an exponent above {MAX_EXPONENT}")
            if isinstance(left, int) and isinstance(right, int):
                _refuse_bits(left.bit_length() * max(right, 0))
        if operator == "+" and isinstance(left, str | list | tuple):
            _refuse_longer(_weight(left) + _weight(right), "joining with +")
        if operator == "%" and isinstance(left, str):
            _refuse_printf(left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Refuse ``str.format`` and ``str.format_map``: their widths cannot be measured."""
        if super().wrap_str_format(value) is None:
            return None

        def refused(*args: Any, **kwargs: Any) -> str:
            raise SecurityError(
                "str.format is not allowed in a notice; join with ~ or use the format filter"
            )

        return refused

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Refuse the string methods that pad or splice text without bound."""
        if isinstance(getattr(__obj, "__self__", None), str):
            name = getattr(__obj, "__name__", "")
            if name in _GROWING_METHODS:
                raise SecurityError(f"str.{name} is not allowed in a notice; use the filters")
        return super().call(__context, __obj, *args, **kwargs)


def _refuse_bits(bits: int) -> None:
    if bits > MAX_BITS:
        raise SecurityError(f"a number larger than {MAX_BITS:,} bits")


def _finalize(value: Any) -> Any:
    """Measure each printed value before it becomes text."""
    if not isinstance(value, str):
        _refuse_heavy(value, "printing a value")
    return value


def _center(value: Any, width: int = 80) -> str:
    _refuse_longer(width, "center")
    return filters.do_center(value, width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    indention = len(width) if isinstance(width, str) else width
    _refuse_longer(len(text) + (text.count("\n") + 1) * max(indention, 0), "indent")
    return filters.do_indent(text, width, first, blank)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    text, old_text, new_text = str(s), str(old), str(new)
    found = text.count(old_text) if old_text else len(text) + 1
    if count is not None and count >= 0:
        found = min(found, count)
    _refuse_longer(len(text) + found * max(len(new_text) - len(old_text), 0), "replace")
    return filters.do_replace(eval_ctx, text, old_text, new_text, count)


# The arguments are Jinja2's own, which templates may pass by position.
@pass_environment
def _wordwrap(  # noqa: PLR0917
    environment: Environment,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = str(s)
    between = len(environment.newline_sequence if wrapstring is None else str(wrapstring))
    # At most one break per character of the text.
    _refuse_longer(len(text) * (1 + between), "wordwrap")
    return filters.do_wordwrap(
        environment, text, width, break_long_words, wrapstring, break_on_hyphens
    )


@pass_environment
def _truncate(  # noqa: PLR0917
    environment: Environment,
    s: Any,
    length: int = 255,
    killwords: bool = False,
    end: str = "...",
    leeway: int | None = None,
) -> str:
    text = str(s)
    _refuse_longer(len(text) + len(str(end)), "truncate")
    return filters.do_truncate(environment, text, length, killwords, end, leeway)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    if args and kwargs:
        raise FilterArgumentError("can't handle positional and keyword arguments at the same time")
    _refuse_printf(str(value), kwargs or args)
    return filters.do_format(value, *args, **kwargs)


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(value)
    if attribute is not None:
        items = list(map(filters.make_attrgetter(eval_ctx.environment, attribute), items))
    _refuse_longer(_weight(items) + len(str(d)) * max(len(items) - 1, 0), "join")
    return filters.sync_do_join(eval_ctx, items, d)


def _groups(count: int, what: str) -> None:
    if count > MAX_RANGE:
        raise SecurityError(f"{what} into more than {MAX_RANGE:,} groups")


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _groups(linecount, "batch")
    return filters.do_batch(value, linecount, fill_with)


def _slice(value: Collection[Any], slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _groups(slices, "slice")
    return filters.sync_do_slice(value, slices, fill_with)


def _string(value: Any) -> str:
    _refuse_heavy(value, "string")
    return str(value)


def _pprint(value: Any) -> str:
    _refuse_heavy(value, "pprint")
    return filters.do_pprint(value)


_CAPPED_FILTERS: Final[dict[str, Callable[..., Any]]] = {
    "center": _center,
    "indent": _indent,
    "replace": _replace,
    "wordwrap": _wordwrap,
    "truncate": _truncate,
    "format": _format,
    "join": _join,
    "batch": _batch,
    "slice": _slice,
    "string": _string,
    "pprint": _pprint,
}
# HTML and JSON filters have no place in text mail (and tojson's indent is unbounded).
_DROPPED_FILTERS: Final = ("tojson", "urlize", "xmlattr")


def _measured(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap filter *function* so that the text it returns is measured.

    The filters left unwrapped by `_CAPPED_FILTERS` take no size and grow a text by a
    small factor at most (escaping, URL-encoding), so measuring as they return keeps
    every text under the cap and stops a chain of them from growing it further.
    """

    @functools.wraps(function)
    def measured(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if isinstance(result, str):
            _refuse_longer(len(result), f"the {name} filter")
        return result

    return measured


def _environment() -> ImmutableSandboxedEnvironment:
    environment = _NoticeSandbox(
        autoescape=False,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    environment.globals["range"] = _capped_range
    del environment.globals["lipsum"]
    for name in _DROPPED_FILTERS:
        del environment.filters[name]
    for name, function in list(environment.filters.items()):
        environment.filters[name] = _measured(name, function)
    environment.filters.update(_CAPPED_FILTERS)
    return environment


_ENV: Final = _environment()


def check(kind: str, subject: str, body: str) -> None:
    """Refuse a template of *kind* that does not compile, names unknown variables, or fails.

    It is rendered against the example values of its kind, so a misspelt attribute
    (``account.nmae``) or a sandbox escape is caught before it is saved.
    """
    allowed = variables(kind)
    problems: list[str] = []
    if "\n" in subject.strip() or "\r" in subject:
        problems.append("subject: one line only")
    if not subject.strip():
        problems.append("subject: write a subject")
    if not body.strip():
        problems.append("body: write a body")
    for part, source in (("subject", subject), ("body", body)):
        if len(source) > MAX_SOURCE:
            problems.append(f"{part}: longer than {MAX_SOURCE:,} characters")
            continue
        try:
            tree = _ENV.parse(source)
            problems.extend(f"{part}: {problem}" for problem in _unbounded(tree))
            # Compiles the tree: an unknown filter or test is a syntax error here.
            named = meta.find_undeclared_variables(tree)
        except TemplateSyntaxError as error:
            problems.append(f"{part} line {error.lineno}: {error.message}")
            continue
        except RecursionError:
            problems.append(f"{part}: {TOO_DEEP}")
            continue
        unknown = sorted(named - allowed - set(_ENV.globals))
        if unknown:
            problems.append(
                f"{part}: unknown variable {', '.join(unknown)}; use {', '.join(sorted(allowed))}"
            )
    if problems:
        raise InvalidTemplate(problems)
    render(subject, body, example_context(kind))


def _unbounded(tree: nodes.Template) -> list[str]:
    """Return why *tree* could run without bound: forbidden constructs, loops nested too deep."""
    problems = [
        f"{what} are not allowed in a notice (line {node.lineno})"
        for kind, what in _FORBIDDEN.items()
        for node in tree.find_all(kind)
    ]

    def depth(node: nodes.Node) -> int:
        inner = max((depth(child) for child in node.iter_child_nodes()), default=0)
        return inner + 1 if isinstance(node, nodes.For) else inner

    if depth(tree) > MAX_LOOP_DEPTH:
        problems.append(f"loops nest at most {MAX_LOOP_DEPTH} deep")
    return problems


def render(subject: str, body: str, context: Mapping[str, Any]) -> RenderedNotice:
    """Render a template with *context*; raise `InvalidTemplate` or `TemplateRefused`."""
    rendered_subject = _render("subject", subject, context)
    rendered_body = _render("body", body, context)
    line = " ".join(rendered_subject.split())[:MAX_SUBJECT]
    return RenderedNotice(subject=line, body=rendered_body)


def _render(part: str, source: str, context: Mapping[str, Any]) -> str:
    try:
        tree = _ENV.parse(source)
        unbounded = _unbounded(tree)
        if unbounded:
            raise TemplateRefused([f"{part}: {problem}" for problem in unbounded])
        template = _ENV.from_string(tree)
        return _joined(part, template.generate(dict(context)))
    except SecurityError as error:
        raise TemplateRefused([f"{part}: the sandbox refused it: {error}"]) from None
    except UndefinedError as error:
        raise InvalidTemplate([f"{part}: {error.message}"]) from None
    except TemplateSyntaxError as error:
        raise InvalidTemplate([f"{part} line {error.lineno}: {error.message}"]) from None
    except TemplateError as error:
        raise InvalidTemplate([f"{part}: {error}"]) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise InvalidTemplate([f"{part}: {type(error).__name__}: {error}"]) from None
    except RecursionError:
        raise InvalidTemplate([f"{part}: {TOO_DEEP}"]) from None


def _joined(part: str, chunks: Iterator[str]) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise InvalidTemplate([f"{part}: renders longer than {MAX_OUTPUT:,} characters"])
        out.append(chunk)
    return "".join(out)


def example_context(kind: str) -> dict[str, Any]:
    """Return example values for every variable of *kind* (for checking and help pages)."""
    rate = {
        "metric": "complaint_rate",
        "value": 0.0062,
        "percent": "0.62%",
        "count": 77,
        "eligible": 12_400,
        "since": "2026-11-02T00:00:00+00:00",
        "days": 27,
        "representative": True,
        "sentence": "complaint rate 0.62% over the last 12,400 messages to feedback-loop"
        " domains since 2 Nov",
    }
    bounce = {
        **rate,
        "metric": "bounce_rate",
        "value": 0.031,
        "percent": "3.10%",
        "count": 1494,
        "eligible": 48_200,
        "sentence": "bounce rate 3.10% over the last 48,200 messages sent since 2 Nov",
    }
    action = {
        "id": 1,
        "action": "pause",
        "words": "paused your account's sending",
        "lifting": False,
        "cause": "complaint_rate",
        "reason": "complaint rate over the pause threshold",
        "policy_version": 1,
        "policy_reason": "policy v1: complaint rate at or above 0.50%",
        "resource": "",
        "executed_on": "29 Nov 2026",
        "reverses_action_id": None,
    }
    everything: dict[str, Any] = {
        "account": {"name": "Example Shop", "external_id": "acct-1"},
        "case": {"id": 1, "reference": "case 1", "category": "spam"},
        "portal_url": "https://desk.example/portal/p1.example",
        "portal_expires_on": "29 Dec 2026",
        "reply_address": "case+1.k1.example@desk.example",
        "desk": "Abuse Desk",
        "action": action,
        "figures": {
            "complaint_rate": rate,
            "bounce_rate": bounce,
            "sentence": f"{rate['sentence']}; {bounce['sentence']}",
            "metrics_since": None,
        },
        "evidence": [
            {
                "id": 1,
                "occurred_at": "2026-11-28 14:02 UTC",
                "category": "spam",
                "reporter": "isp.example",
                "summary": "complaint about a message to [recipient 3f9a1c0d]",
                "indicators": {"from_address": ["news@shop.example"]},
                "details": {},
            }
        ],
        "evidence_count": 1,
        "appeal": {
            "id": 1,
            "submitted_on": "30 Nov 2026",
            "due_on": "2 Dec 2026",
            "decision": "overturned",
            "decision_words": "we overturned the action",
            "reason": "the list was cleaned and the source removed",
            "lifted": ["pause"],
            "lifted_now": ["pause"],
            "being_lifted": [],
            "kept": [],
        },
        "report": {"id": 1, "received_on": "28 Nov 2026", "reference": "report 1"},
        "case_reference": "case 1",
    }
    return {name: everything[name] for name in variables(kind)}
