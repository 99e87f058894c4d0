"""SMS: do real message texts survive the SMS import format, and are their links and numbers found?

``sms-spam-collection/SMSSpamCollection.tsv`` holds real British text messages labelled
``spam`` or ``ham``. The collection has no reports, so each text is wrapped the way a
carrier would send it (see docs/sms-and-push-reports.md), with a fictional sending number:

- ``json_records_read``: every text as one marked JSON record parses as ``sms`` to one
  ``sms_spam`` event whose ``message_text`` is the text (whitespace collapsed).
  Denominator: every text, spam and ham.
- ``csv_rows_read``: every text as one row of a single CSV file; right when the report
  has one event per row, each with its row's text. Denominator: every text.
- ``forwarded_texts_read``: every spam text forwarded by email
  (``Subject: Fwd: Text message from <number>``) parses as ``sms`` with that sending
  number and the text. Denominator: every spam text.
- ``ham_mails_left_to_free_form``: every ham text as the body of an ordinary complaint
  mail is *not* taken for a forwarded text. Denominator: every ham text.
- ``spam_links_found``: spam texts that spell out a link (``http://`` or ``www.``) have a
  ``url`` indicator. Denominator: the spam texts with such a link.
- ``spam_numbers_found``: spam texts quoting a number of ten or more digits written
  without breaks (``09064012160``) have a ``phone_number`` indicator. Denominator: the
  spam texts with such a number.
- ``other_reports_not_claimed``: every other file of the corpus that is not an archive
  (ARF, X-ARF, bounces, DMARC, SES, feeds ...) is claimed by neither the SMS nor the push
  parser. Denominator: those files.
- ``ham_texts_with_a_url``: share of ham texts given a ``url`` indicator although they
  spell no ``http://`` or ``www.`` (a false link); at most the threshold. Denominator:
  the ham texts without such a link.
"""

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import ParsedReport
from abusedesk.parsing.push import PushParser
from abusedesk.parsing.sms import SmsParser
from bench.measures import Measure, parse_bytes, ratio

COLLECTION = "sms-spam-collection/SMSSpamCollection.tsv"
SENDER = "+447700900123"
_ARCHIVES = (".gz", ".tgz", ".zip", ".bz2", ".xz")
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"(?<!\d)\d{10,}(?!\d)")


def measures(corpus: Path) -> list[Measure]:
    """Return the SMS figures over *corpus*."""
    texts = _texts(corpus / COLLECTION)
    spam = [text for label, text in texts if label == "spam"]
    ham = [text for label, text in texts if label == "ham"]
    results = [(text, parse_bytes(_json_record(text))) for _, text in texts]
    read = [(text, r) for text, r in results if _one_text_event(r, text)]
    return [
        ratio(
            "json_records_read",
            len(read),
            len(texts),
            1.0,
            [text[:60] for text, r in results if not _one_text_event(r, text)],
        ),
        _csv_measure([text for _, text in texts]),
        _forwarded_measure(spam),
        _left_to_free_form(ham),
        _indicator_share("spam_links_found", spam, lambda t: bool(_LINK.search(t)), "url", 0.95),
        _indicator_share(
            "spam_numbers_found", spam, lambda t: bool(_LONG_NUMBER.search(t)), "phone_number", 0.95
        ),
        _false_urls(ham),
        _others_not_claimed(corpus),
    ]


def _texts(path: Path) -> list[tuple[str, str]]:
    """Return ``(label, text)`` for every row of the collection (none when it is absent)."""
    if not path.is_file():
        return []
    rows = []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for line in handle.read().splitlines()[1:]:
            label, tab, text = line.partition("\t")
            if tab and label in ("spam", "ham"):
                rows.append((label, text))
    return rows


def _clean(text: str) -> str:
    """Return *text* with whitespace collapsed, as the parser keeps it."""
    return " ".join(text.split())


def _json_record(text: str) -> bytes:
    """Return *text* as one marked JSON SMS record from a fictional UK number."""
    record = {
        "abusedesk_report": "sms",
        "origination_number": SENDER,
        "message_text": text,
        "received_at": "2025-03-01T12:00:00Z",
        "country": "GB",
        "carrier": "Example Mobile UK",
    }
    return json.dumps(record).encode()


def _one_text_event(result: ParsedReport | ParseError, text: str) -> bool:
    """Tell whether *result* is one sms_spam event carrying *text*."""
    return (
        isinstance(result, ParsedReport)
        and result.report_format == "sms"
        and len(result.events) == 1
        and result.events[0].category == "sms_spam"
        and result.events[0].details.get("message_text") == (_clean(text) or None)
    )


def _csv_measure(texts: list[str]) -> Measure:
    """Return the share of *texts* read back from one CSV file, row by row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["reported_number", "message_text", "received_at", "country"])
    for text in texts:
        writer.writerow([SENDER, text, "2025-03-01 12:00:00", "GB"])
    result = parse_bytes(buffer.getvalue().encode())
    events = result.events if isinstance(result, ParsedReport) else ()
    found = [event.details.get("message_text") for event in events]
    right = sum(1 for text, got in zip(texts, found, strict=False) if got == (_clean(text) or None))
    failures = [] if isinstance(result, ParsedReport) else [f"refused: {result}"]
    failures += [text[:60] for text, got in zip(texts, found, strict=False) if got != _clean(text)]
    if len(found) != len(texts):
        failures.insert(0, f"{len(found)} events for {len(texts)} rows")
        right = min(right, len(found))
    return ratio("csv_rows_read", right, len(texts), 1.0, failures)


def _forward(subject: str, text: str) -> bytes:
    """Return an email with *subject* whose body quotes *text*."""
    body = f"Please look at this text I received.\n\n{text}\n"
    return (
        "From: Jane Roe <jane.roe@mail.example.org>\r\n"
        "To: abuse@provider.example\r\n"
        f"Subject: {subject}\r\n"
        "Date: Wed, 05 Mar 2025 08:30:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n" + body.replace("\n", "\r\n")
    ).encode()


def _forwarded_measure(spam: list[str]) -> Measure:
    """Return the share of spam texts read from forwarding emails."""
    right, failures = 0, []
    for text in spam:
        result = parse_bytes(_forward("Fwd: Text message from +44 7700 900123", text))
        ok = (
            isinstance(result, ParsedReport)
            and result.report_format == "sms"
            and result.events[0].indicators.get("origination_number") == (SENDER,)
            and _clean(text) in str(result.events[0].details.get("message_text"))
        )
        right += ok
        if not ok:
            failures.append(text[:60])
    return ratio("forwarded_texts_read", right, len(spam), 1.0, failures)


def _left_to_free_form(ham: list[str]) -> Measure:
    """Return the share of ham texts in complaint mails not taken for SMS."""
    right, failures = 0, []
    for text in ham:
        result = parse_bytes(_forward("Complaint about your customer", text))
        ok = not (isinstance(result, ParsedReport) and result.report_format == "sms")
        right += ok
        if not ok:
            failures.append(text[:60])
    return ratio("ham_mails_left_to_free_form", right, len(ham), 0.99, failures)


def _indicator_share(
    name: str, texts: list[str], has: Callable[[str], bool], kind: str, threshold: float
) -> Measure:
    """Return the share of the *texts* that *has* picks whose event has a *kind* indicator."""
    chosen = [text for text in texts if has(text)]
    right, failures = 0, []
    for text in chosen:
        result = parse_bytes(_json_record(text))
        ok = isinstance(result, ParsedReport) and bool(result.events[0].indicators.get(kind))
        right += ok
        if not ok:
            failures.append(text[:60])
    return ratio(name, right, len(chosen), threshold, failures)


def _false_urls(ham: list[str]) -> Measure:
    """Return the share of ham texts without a spelled-out link that get a URL."""
    chosen = [text for text in ham if not _LINK.search(text)]
    wrong = []
    for text in chosen:
        result = parse_bytes(_json_record(text))
        if isinstance(result, ParsedReport) and result.events[0].indicators.get("url"):
            wrong.append(f"{text[:60]} -> {result.events[0].indicators['url']}")
    share = len(wrong) / len(chosen) if chosen else 0.0
    return Measure(
        name="ham_texts_with_a_url",
        value=share,
        threshold=0.01,
        n=len(chosen),
        at_least=False,
        failures=tuple(wrong[:20]),
    )


def _others_not_claimed(corpus: Path) -> Measure:
    """Return the share of other corpus files neither SMS nor push claims."""
    parsers = (SmsParser(), PushParser())
    files = sorted(
        path
        for path in corpus.rglob("*")
        if path.is_file()
        and not path.name.lower().endswith(_ARCHIVES)
        and not str(path.relative_to(corpus)).startswith("sms-spam-collection")
    )
    right, failures = 0, []
    for path in files:
        try:
            document = RawDocument(path.read_bytes())
            claimed = [p.name for p in parsers if p.sniff(document)]
        except ParseError:
            claimed = []
        if claimed:
            failures.append(f"{path.relative_to(corpus)}: {claimed}")
        else:
            right += 1
    return ratio("other_reports_not_claimed", right, len(files), 0.999, failures)
