"""AbuseIO notifier samples: how many feed notifications the parsers turn into events.

The collection is ``abuseio-notifier-samples/``: one subfolder per feed (feedback loops,
Shadowserver, IP-Echelon, Webiron ...), each holding example notification mails.

Denominators:

- one sample is one ``.eml`` file anywhere under the collection; every file counts once,
  whatever the number of events it gives, and feeds are not weighted (a feed with ten
  samples weighs ten times one with one). Other files (the README) are not samples.
- ``yielding events``: samples whose ParsedReport has at least one event.
- ``neither events nor a reason``: samples that give a ParsedReport without events, or
  make a parser fail with anything but a ParseError. Every sample must either yield
  events or be refused with a ParseError whose ``reason`` says why (and so reach the
  unknown-format inbox or quarantine with that reason); this count must be zero.
"""

from pathlib import Path

from abusedesk.parsing.errors import ParseError
from bench.measures import Measure, parse_file, ratio

COLLECTION = "abuseio-notifier-samples"
YIELD_THRESHOLD = 0.90


def samples(corpus: Path) -> list[Path]:
    """Return every sample file of the collection, in a stable order."""
    folder = corpus / COLLECTION
    return sorted(p for p in folder.rglob("*.eml") if p.is_file())


def measures(corpus: Path) -> list[Measure]:
    """Return the share of samples yielding events and the count of silent failures."""
    files = samples(corpus)
    root = corpus / COLLECTION
    yielding = 0
    missed: list[str] = []
    silent: list[str] = []
    for path in files:
        name = str(path.relative_to(root))
        try:
            result = parse_file(path)
        except Exception as error:  # a measure loop counts escapes, it does not stop
            silent.append(f"{name}: {type(error).__name__} escaped the parser")
            continue
        if isinstance(result, ParseError):
            missed.append(f"{name}: {result.reason}: {result}")
        elif result.events:
            yielding += 1
        else:
            silent.append(f"{name}: parsed as {result.report_format} without events")
    return [
        ratio(
            "abuseio: samples yielding events",
            yielding,
            len(files),
            YIELD_THRESHOLD,
            missed + silent,
        ),
        Measure(
            name="abuseio: samples with neither events nor a reason",
            value=float(len(silent)),
            threshold=0.0,
            n=len(files),
            at_least=False,
            failures=tuple(silent[:20]),
        ),
    ]
