"""X-ARF: do the parsers accept the reports labelled valid and refuse those labelled invalid?

A sample is *accepted* when the registry parses it as ``xarf`` with one event, and
*refused* when it raises a ParseError (any reason). Labels are read from the collections:

* ``xarf-spec/samples/v4/*.json``: the official v4 samples, valid by definition; the file
  name is ``<category>-<type>``, and an accepted sample must carry that category and type.
* ``xarf-spec/samples/v3/*.json``: the official v3 samples, which v4 readers must accept.
* ``xarf-python``: ``test-definitions/test-cases.json`` names the base folder and the
  expectation of each group (``samples/valid`` must parse, ``samples/invalid`` must fail
  validation); ``valid/v3`` holds v3 samples, everything else is a v4 sample.
* ``abuseio-notifier-samples``: mails marked ``X-XARF``/``X-ARF`` in their header are X-ARF
  0.x reports, which must be read.

Not counted: ``xarf-abusix`` (positive/negative samples of abusix's own JSON schema
versions 1-3, alpha and development, a lineage the official X-ARF schemas and the
``xarf`` package do not describe; those reports are refused with a reason), and
abuseio mails without the X-ARF mark.

Denominators: ``v4 agreement`` counts every labelled v4 JSON sample; ``v3 valid read`` every
v3 sample labelled valid; ``0.x mail read`` every marked abuseio mail.
"""

import json
import re
from pathlib import Path

from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import ParsedReport
from bench.measures import Measure, parse_file
from bench.measures.tally import share_right

_MARK = re.compile(rb"^X-X?ARF:", re.IGNORECASE | re.MULTILINE)


def measures(corpus: Path) -> list[Measure]:
    """Return the X-ARF figures over *corpus*."""
    v4: list[tuple[Path, bool]] = []
    v3: list[Path] = []
    spec = corpus / "xarf-spec" / "samples"
    v4 += [(path, True) for path in sorted((spec / "v4").glob("*.json"))]
    v3 += sorted((spec / "v3").glob("*.json"))
    for path, valid in _xarf_python_labels(corpus / "xarf-python"):
        if valid and "v3" in path.relative_to(corpus / "xarf-python").parts:
            v3.append(path)
        else:
            v4.append((path, valid))
    labels = dict(v4)
    marked = [
        path
        for path in sorted((corpus / "abuseio-notifier-samples").rglob("*.eml"))
        if _MARK.search(_head(path))
    ]

    def disagreement(path: Path) -> str | None:
        verdict = _verdict(path, spec / "v4")
        wanted = "accepted" if labels[path] else "refused"
        return None if verdict == wanted else f"labelled {_label(labels[path])}, {verdict}"

    return [
        share_right("xarf v4 valid/invalid agreement", list(labels), disagreement, corpus),
        share_right("xarf v3 valid samples read", v3, _not_accepted, corpus),
        share_right("xarf 0.x marked mails read", marked, _not_accepted, corpus),
    ]


def _not_accepted(path: Path) -> str | None:
    """Return what the registry made of a file that must be accepted, or None if it was."""
    verdict = _verdict(path, None)
    return None if verdict == "accepted" else verdict


def _xarf_python_labels(folder: Path) -> list[tuple[Path, bool]]:
    """Return each xarf-python sample with its label, read from test-cases.json."""
    definitions = folder / "test-definitions" / "test-cases.json"
    if not definitions.is_file():
        return []
    labelled = []
    groups = json.loads(definitions.read_text())["test_categories"].values()
    for group in groups:
        valid = group["expectation"] == "success"
        base = folder / group["base_path"]
        labelled += [(path, valid) for path in sorted(base.rglob("*.json"))]
    return labelled


def _verdict(path: Path, named_folder: Path | None) -> str:
    """Return ``accepted``, ``refused`` or what else the registry made of the file.

    A sample from *named_folder* is accepted only with the category and type its name says.
    """
    result = parse_file(path)
    if isinstance(result, ParseError):
        return "refused"
    if not isinstance(result, ParsedReport) or result.report_format != "xarf":
        return f"parsed as {result.report_format}"
    if len(result.events) != 1:
        return f"accepted with {len(result.events)} events"
    if named_folder is not None and path.parent == named_folder:
        details = result.events[0].details
        category, _, kind = path.stem.partition("-")
        named = (category, kind.replace("-", "_"))
        if (details.get("xarf_category"), details.get("xarf_type")) != named:
            return f"accepted as {details.get('xarf_category')}/{details.get('xarf_type')}"
    return "accepted"


def _head(path: Path) -> bytes:
    """Return the header block of the mail at *path* (its first 64 KiB at most)."""
    with path.open("rb") as stream:
        head = stream.read(64 * 1024)
    return head.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]


def _label(valid: bool) -> str:
    return "valid" if valid else "invalid"
