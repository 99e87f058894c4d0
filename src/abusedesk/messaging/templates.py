"""Notice templates: plain-text mail rendered in Jinja2's immutable sandbox.

Admins edit templates, so a template is untrusted code: it runs in
``ImmutableSandboxedEnvironment`` (no attribute starting with ``_``, no methods that
change data, no access to Python internals), with ``StrictUndefined`` (a misspelt
variable is an error, never a silent blank) and autoescape off (the output is text
mail, not HTML). ``range`` is capped at 1,000 items, repetition (``*``) and powers
(``**``) are checked, loops nest at most two deep, and macros, includes and imports are
refused, so a template can neither run without bound nor make a huge message (the output
is capped at 100,000 characters). A subject is one line: line
breaks in it (header injection) are refused when saving and flattened when sending.

Each kind of message has the variables it may use (`variables`); `check` refuses a
template naming any other, or failing against the example values of its kind.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from abusedesk.core.errors import AbuseDeskError
from abusedesk.enforcement.ladder import ALL_ACTIONS

MAX_OUTPUT: Final = 100_000
MAX_RANGE: Final = 1_000
MAX_SUBJECT: Final = 200
MAX_SOURCE: Final = 50_000
MAX_EXPONENT: Final = 100
# Loops inside loops: with ``range`` capped, two levels stay under a million steps.
MAX_LOOP_DEPTH: Final = 2
# Constructs a notice never needs, refused so that no template can loop without bound
# (a macro calling itself, or one hiding a loop inside another) or reach other files.
_FORBIDDEN: Final = {
    nodes.Macro: "macros",
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


class _NoticeSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with ``*`` and ``**`` checked so no value grows past the caps."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse a repetition longer than the output cap, or a power of a huge exponent."""
        if operator == "*":
            for sized, times in ((left, right), (right, left)):
                repeats = isinstance(sized, str | list | tuple) and isinstance(times, int)
                if repeats and len(sized) * max(times, 0) > MAX_OUTPUT:
                    raise SecurityError(f"a repeated value longer than {MAX_OUTPUT:,}")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"an exponent above {MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


def _environment() -> ImmutableSandboxedEnvironment:
    environment = _NoticeSandbox(
        autoescape=False,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["range"] = _capped_range
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
        except TemplateSyntaxError as error:
            problems.append(f"{part} line {error.lineno}: {error.message}")
            continue
        problems.extend(f"{part}: {problem}" for problem in _unbounded(tree))
        unknown = sorted(meta.find_undeclared_variables(tree) - allowed - set(_ENV.globals))
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
        template = _ENV.from_string(source)
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
        },
        "report": {"id": 1, "received_on": "28 Nov 2026", "reference": "report 1"},
        "case_reference": "case 1",
    }
    return {name: everything[name] for name in variables(kind)}
