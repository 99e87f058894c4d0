"""Find a Unicode TrueType font for PDFs, on this machine, without the network.

PDF's built-in fonts know Latin-1 only; customers write in every script. DejaVu Sans
(free licence, wide coverage: Latin, Greek, Cyrillic, Hebrew, Arabic, symbols, some emoji)
is looked for, in order:

1. the directories the caller names (``to_pdf(doc, fonts=find_fonts([...]))``);
2. Python packages that ship it: ``rinoh-typeface-dejavusans``, ``matplotlib``;
3. the system's font directories (Debian's ``fonts-dejavu-core`` and the like).

When none is found the writer falls back to the built-in Helvetica and replaces every
character outside Latin-1 with ``?``; `find_fonts` returning None is that signal.
"""

import functools
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"
ITALIC = "DejaVuSans-Oblique.ttf"

# Packages that ship the DejaVu files, and where inside them.
_PACKAGES = (
    ("rinoh_typeface_dejavusans", ""),
    ("matplotlib", "mpl-data/fonts/ttf"),
)
_SYSTEM = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
    "/usr/local/share/fonts/dejavu",
    "/Library/Fonts",
)


@dataclass(frozen=True)
class FontFiles:
    """The TrueType files of one family: regular, bold and italic (may repeat regular)."""

    regular: Path
    bold: Path
    italic: Path

    @property
    def family(self) -> str:
        """Return the family's name as the PDF writer registers it."""
        return "DejaVu"


def find_fonts(directories: Iterable[Path | str] = ()) -> FontFiles | None:
    """Return DejaVu Sans from the first place that has it, or None (use the fallback)."""
    for directory in [Path(d) for d in directories] + _package_directories() + _system():
        found = _family_in(directory)
        if found is not None:
            return found
    return None


@functools.cache
def default_fonts() -> FontFiles | None:
    """Return `find_fonts()` with no extra directories, looked up once per process."""
    found = find_fonts()
    if found is None:
        log.warning("pdf_unicode_font_missing", fallback="helvetica", wanted=REGULAR)
    return found


def _family_in(directory: Path) -> FontFiles | None:
    regular = directory / REGULAR
    if not regular.is_file():
        return None
    bold = directory / BOLD
    italic = directory / ITALIC
    return FontFiles(
        regular=regular,
        bold=bold if bold.is_file() else regular,
        italic=italic if italic.is_file() else regular,
    )


def _package_directories() -> list[Path]:
    """Locate font-shipping packages without importing them (matplotlib is slow to import)."""
    found: list[Path] = []
    for package, inside in _PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        found.extend(Path(location) / inside for location in spec.submodule_search_locations)
    return found


def _system() -> list[Path]:
    return [Path(directory) for directory in _SYSTEM]
