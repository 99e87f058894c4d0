"""Measure the parsers on a folder laid out like the shared real-world corpus.

    uv run python bench/corpus.py [--corpus DIR] [--json FILE]

Prints every measure beside its threshold and exits 1 when one misses it. The corpus
tests assert the same thresholds through the same code (``bench/measures``). The
denominators of each figure are written down in the collection's module.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measures import COLLECTIONS, Measure, collection  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


def main() -> int:
    """Compute, print and optionally write every measure; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", type=Path, help="write the measures as JSON to this file")
    parser.add_argument(
        "--only", choices=COLLECTIONS, action="append", help="measure only these collections"
    )
    parser.add_argument("--verbose", action="store_true", help="list items that missed")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus folder at {args.corpus}", file=sys.stderr)
        return 2
    measures: list[Measure] = []
    for name in args.only or COLLECTIONS:
        for measure in collection(name)(args.corpus):
            measures.append(measure)
            sign = ">=" if measure.at_least else "<="
            verdict = "ok" if measure.ok else "MISSED"
            print(
                f"{measure.name:<48} {measure.value:8.2%}  goal {sign} {measure.threshold:.0%}"
                f"  n={measure.n:<6} {verdict}"
            )
            if args.verbose:
                for failure in measure.failures:
                    print(f"    {failure}")
    if args.json:
        document = {"measures": [m.as_json() for m in measures]}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if all(m.ok for m in measures) else 1


if __name__ == "__main__":
    sys.exit(main())
