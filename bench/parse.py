"""Parsing speed per report format on one core, beside the stdlib on the same messages.

For every shape the demo generator writes, parse the same reports with the parser
registry (sniff, parse, extract events) and with the stdlib alone (``email`` with the
compat32 policy plus walking every part and decoding its payload; ``json.loads``;
defusedxml for XML), and print messages per second and the ratio. Then compare the
message view the parsers share (``RawDocument.message``: the MIME reader, its bounds and
its stdlib fallback) with the stdlib compat32 parser alone on the emailed reports. Then
time the
crafted shapes that make the stdlib's header parsing super-linear (CPython gh-87075,
gh-136063), through the registry and through ``policy.default``.

Usage: uv run python bench/parse.py [--reports N] [--seed S]
"""

import argparse
import contextlib
import email
import gzip
import json
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from email.policy import compat32
from email.policy import default as default_policy

from defusedxml import ElementTree

from abusedesk.demo.provider import generate_provider
from abusedesk.demo.reports import ReportGenerator
from abusedesk.demo.traffic import generate_traffic
from abusedesk.parsing.document import RawDocument, looks_like_message
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.registry import default_registry

# The goal the parsing work set: the registry at >= 4x the stdlib's messages/s.
GOAL_RATIO = 4.0
MIN_SECONDS = 0.5
REGISTRY = default_registry()


def stdlib_read(raw: bytes) -> None:
    """Parse *raw* with the stdlib alone: the floor a parser built on it pays."""
    head = raw.lstrip()[:1]
    if head in (b"{", b"["):
        json.loads(raw)
    elif raw[:2] == b"\x1f\x8b":
        ElementTree.fromstring(gzip.decompress(raw))
    elif head == b"<":
        ElementTree.fromstring(raw)
    else:
        message = email.message_from_bytes(raw, policy=compat32)
        for part in message.walk():
            if not part.is_multipart():
                part.get_payload(decode=True)


def registry_read(raw: bytes) -> None:
    """Parse *raw* with the parser registry, as the pipeline does."""
    with contextlib.suppress(ParseError):
        REGISTRY.parse(raw)


def message_view_read(raw: bytes) -> None:
    """Build the message view of *raw* the parsers share."""
    _ = RawDocument(raw).message


def stdlib_parse(raw: bytes) -> None:
    """Parse *raw* with the stdlib compat32 parser, without reading any part."""
    email.message_from_bytes(raw, policy=compat32)


def rate(read: Callable[[bytes], None], raws: list[bytes]) -> float:
    """Return messages per CPU second of *read* over *raws*, repeated for a stable figure.

    One warm-up pass first: what a long-running worker pays once (imports, schemas loaded
    on first use) is not a per-message cost.
    """
    for raw in raws:
        read(raw)
    done, start = 0, time.process_time()
    while True:
        for raw in raws:
            read(raw)
        done += len(raws)
        elapsed = time.process_time() - start
        if elapsed >= MIN_SECONDS:
            return done / elapsed


def crafted() -> dict[str, bytes]:
    """Return headers crafted against the stdlib's header parsing, 100,000 units each."""
    n = 100_000
    return {
        "';' stuffed Content-Type (gh-87075)": b'From: a@example.net\nContent-Type: text/plain; a="'
        + b";" * n
        + b"\n\nhi\n",
        "long address list (gh-136063)": b"To: " + b"a@b, " * n + b"\nFrom: a@example.net\n\nhi\n",
        "encoded-word run (gh-136063)": b"Subject: "
        + b"=?utf-8?q?a?= " * (n // 10)
        + b"\nFrom: a@example.net\n\nhi\n",
    }


def crafted_mime() -> dict[str, bytes]:
    """Return MIME structures that cost the stdlib's line-by-line feed parser most."""
    nested = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n' for n in range(50)
    )
    head = b'From: a@example.net\nContent-Type: multipart/mixed; boundary="b"\n\n'
    return {
        "multiparts 50 deep over 5 MB of text": b"From: a@example.net\n"
        + nested.encode()
        + b"\n"
        + b"line of text\n" * 400_000,
        "4,900 parts": head + b"--b\nContent-Type: text/plain\n\nx\n" * 4_900 + b"--b--\n",
    }


def default_policy_read(raw: bytes) -> None:
    """Parse *raw* with ``policy.default`` and read every header value."""
    message = email.message_from_bytes(raw, policy=default_policy)
    for name in message:
        str(message[name])
    message.get_content_type()


def once(read: Callable[[bytes], None], raw: bytes) -> float:
    """Return the seconds one read of *raw* takes."""
    start = time.perf_counter()
    read(raw)
    return time.perf_counter() - start


def main() -> None:
    """Generate reports, then print per-format and crafted-input figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-crafted", action="store_true", help="skip the slow stdlib runs")
    args = parser.parse_args()

    end = datetime(2026, 11, 1, tzinfo=UTC)
    provider = generate_provider(seed=args.seed, accounts=60, days=14, end=end)
    generator = ReportGenerator(provider, generate_traffic(provider, with_stats=False))
    by_kind: dict[str, list[bytes]] = defaultdict(list)
    for report in generator.generate(args.reports):
        by_kind[report.truth.report_kind].append(report.raw)

    print(
        f"{args.reports:,} generated reports, one core; goal: registry >= {GOAL_RATIO:.0f}x stdlib"
    )
    print(f"{'format':<18} {'n':>5} {'registry/s':>11} {'stdlib/s':>10} {'ratio':>6}")
    everything: list[bytes] = []
    for kind in sorted(by_kind):
        raws = by_kind[kind]
        everything += raws
        ours, stdlib = rate(registry_read, raws), rate(stdlib_read, raws)
        print(f"{kind:<18} {len(raws):>5} {ours:>11,.0f} {stdlib:>10,.0f} {ours / stdlib:>5.2f}x")
    ours, stdlib = rate(registry_read, everything), rate(stdlib_read, everything)
    print(
        f"{'all':<18} {len(everything):>5} {ours:>11,.0f} {stdlib:>10,.0f} {ours / stdlib:>5.2f}x"
    )
    emails = [raw for raw in everything if looks_like_message(raw[:4096].lstrip())]
    view, parse = rate(message_view_read, emails), rate(stdlib_parse, emails)
    print(
        f"\nmessage view of {len(emails):,} emailed reports: {view:,.0f}/s;"
        f" stdlib compat32 parse alone {parse:,.0f}/s ({view / parse:.2f}x)"
    )

    if args.skip_crafted:
        return
    print("\ncrafted MIME (seconds for one message)")
    for name, raw in crafted_mime().items():
        print(
            f"{name:<38} message view {once(message_view_read, raw):>7.3f} s"
            f"   stdlib compat32 {once(stdlib_parse, raw):>7.3f} s"
        )
    print("\ncrafted headers (seconds for one message; the registry refuses them up front)")
    for name, raw in crafted().items():
        print(
            f"{name:<38} registry {once(registry_read, raw):>7.3f} s"
            f"   policy.default {once(default_policy_read, raw):>7.2f} s"
        )


if __name__ == "__main__":
    main()
