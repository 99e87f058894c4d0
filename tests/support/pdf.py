"""Look at a PDF the way a reader does: pages rendered to images, and the text on them.

Pages are rendered with pdfium (``pypdfium2``), the engine Chromium uses, so a test sees
what a leader opening the file sees: how many pages, whether a page is blank, whether a
chart's colour is there, and which words a page carries.
"""

from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, ImageChops

# A pixel darker than this on any channel counts as ink (paper is 255, 255, 255).
INK_LEVEL = 200
# A pixel whose channels differ by more than this counts as coloured (not grey or black).
COLOUR_SPREAD = 60


@dataclass(frozen=True)
class Box:
    """A part of a page in fractions of its size: left, top, right, bottom in 0..1."""

    left: float = 0.0
    top: float = 0.0
    right: float = 1.0
    bottom: float = 1.0


WHOLE = Box()


def pdf_pages(data: bytes, scale: float = 1.0) -> list[Image.Image]:
    """Render every page of the PDF *data* to an RGB image (*scale* 1 is 72 dpi)."""
    document = pdfium.PdfDocument(data)
    try:
        return [
            document[index].render(scale=scale).to_pil().convert("RGB")
            for index in range(len(document))
        ]
    finally:
        document.close()


def pdf_text(data: bytes) -> list[str]:
    """Return the text of every page of the PDF *data*, as pdfium extracts it."""
    document = pdfium.PdfDocument(data)
    try:
        texts = []
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    finally:
        document.close()


def char_lefts(data: bytes, page: int = 0) -> list[tuple[str, float]]:
    """Return each character of a page, in reading order, with its left edge in points."""
    document = pdfium.PdfDocument(data)
    try:
        textpage = document[page].get_textpage()
        result = [
            (textpage.get_text_range(index, 1), textpage.get_charbox(index)[0])
            for index in range(textpage.count_chars())
        ]
        textpage.close()
        return result
    finally:
        document.close()


def page_count(data: bytes) -> int:
    """Return how many pages the PDF *data* has."""
    document = pdfium.PdfDocument(data)
    try:
        return len(document)
    finally:
        document.close()


def _crop(image: Image.Image, box: Box) -> Image.Image:
    width, height = image.size
    left, top = int(box.left * width), int(box.top * height)
    return image.convert("RGB").crop(
        (
            left,
            top,
            max(int(box.right * width), left + 1),
            max(int(box.bottom * height), top + 1),
        )
    )


def _share_below(channel: Image.Image, level: int) -> float:
    """Return the share of pixels of a one-band image whose value is below *level*."""
    histogram = channel.histogram()
    return sum(histogram[:level]) / sum(histogram)


def ink_fraction(image: Image.Image, box: Box = WHOLE) -> float:
    """Return the share of pixels in *box* that carry ink (anything clearly not paper)."""
    red, green, blue = _crop(image, box).split()
    darkest = ImageChops.darker(ImageChops.darker(red, green), blue)
    return _share_below(darkest, INK_LEVEL)


def colour_fraction(image: Image.Image, box: Box = WHOLE) -> float:
    """Return the share of pixels in *box* that are coloured (chart lines and bars)."""
    red, green, blue = _crop(image, box).split()
    lightest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    darkest = ImageChops.darker(ImageChops.darker(red, green), blue)
    spread = ImageChops.subtract(lightest, darkest)
    return 1.0 - _share_below(spread, COLOUR_SPREAD + 1)


def is_blank(image: Image.Image, box: Box = WHOLE) -> bool:
    """Return whether *box* of the page has (almost) no ink: under one pixel in ten thousand."""
    return ink_fraction(image, box) < 0.0001
