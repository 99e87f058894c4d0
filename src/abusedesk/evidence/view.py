"""What an analyst is shown of a raw report: safe to render, whatever the sender wrote.

`evidence_view` reads a report's bytes into plain strings and lists: headers decoded,
authentication results parsed, Received hops, URLs defanged, bodies as text (HTML turned
into text, its links and images written out defanged, never followed), attachments named
but never opened, and every attached message (the reported one) the same way. Nothing
here is markup: the page escapes every string it shows. Sizes and counts are capped so a
hostile report cannot make a page huge.
"""

import base64
import email.header
import hashlib
import json
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.mail import decode_text, defang, received_hops, text_urls

MAX_HEADERS = 150
MAX_HEADER_VALUE = 2000
MAX_BODY_CHARACTERS = 100_000
MAX_MESSAGES = 10
MAX_DEPTH = 4
MAX_ATTACHMENTS = 50
MAX_URLS = 100
MAX_FILENAME = 120
ELLIPSIS = " […]"

# Characters that change how text looks without being visible: direction overrides and
# isolates (a file name "evil<RLO>txt.exe" reads as "evilexe.txt"), zero-width characters.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AUTH_RESULT = re.compile(r"\b([a-z][a-z0-9_-]{1,30})\s*=\s*([a-z]+)\b((?:\s+[a-z.]+=\S+)*)", re.I)
_ATTACHED_MESSAGE_TYPES = frozenset({"message/rfc822", "text/rfc822-headers"})
_AUTH_METHODS = frozenset({"spf", "dkim", "dmarc", "arc", "iprev", "auth", "bimi", "dkim-atps"})


@dataclass(frozen=True)
class AuthResult:
    """One method's verdict from an Authentication-Results header, as the receiver wrote it."""

    method: str
    result: str
    properties: str
    by: str


@dataclass(frozen=True)
class HopView:
    """One Received hop, newest first."""

    from_host: str | None
    address: str | None
    by_host: str | None


@dataclass(frozen=True)
class AttachmentView:
    """An attachment, described but never opened."""

    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass
class MessageView:
    """One message of the evidence: the report itself, or a message attached to it."""

    depth: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    headers_cut: int = 0
    subject: str = ""
    sender: str = ""
    recipients: str = ""
    date: str = ""
    message_id: str = ""
    authentication: list[AuthResult] = field(default_factory=list)
    hops: list[HopView] = field(default_factory=list)
    body: str = ""
    body_cut: bool = False
    urls: list[str] = field(default_factory=list)
    attachments: list[AttachmentView] = field(default_factory=list)


@dataclass
class EvidenceView:
    """A report's evidence as an analyst reads it."""

    size: int
    sha256: str
    kind: str  # message | json | text
    messages: list[MessageView] = field(default_factory=list)
    text: str = ""
    text_cut: bool = False
    problem: str | None = None


def evidence_view(raw: bytes) -> EvidenceView:
    """Return what to show of the report *raw*; never raise on hostile or broken input."""
    view = EvidenceView(size=len(raw), sha256=hashlib.sha256(raw).hexdigest(), kind="text")
    try:
        document = RawDocument(raw)
        message = document.message
        if message is not None:
            view.kind = "message"
            _walk(message, 0, view)
            return view
        if document.json is not None:
            view.kind = "json"
            view.text, view.text_cut = _cut(json.dumps(document.json, indent=2, ensure_ascii=False))
            return view
    except (ParseError, RecursionError, ValueError, LookupError) as error:
        view.problem = f"the report could not be read as a message: {type(error).__name__}"
    view.text, view.text_cut = _cut(safe_text(decode_text(raw[: 4 * MAX_BODY_CHARACTERS], None)))
    return view


def _walk(message: Message, depth: int, view: EvidenceView) -> None:
    if len(view.messages) >= MAX_MESSAGES or depth > MAX_DEPTH:
        return
    shown = _message_view(message, depth)
    view.messages.append(shown)
    bodies: list[str] = []
    for part in _parts(message):
        content_type = part.get_content_type()
        if content_type in _ATTACHED_MESSAGE_TYPES:
            inner = _inner_message(part)
            if inner is not None:
                _walk(inner, depth + 1, view)
            continue
        if part.is_multipart():
            continue
        disposition = (part.get("Content-Disposition") or "").lower()
        if part.get_content_maintype() == "text" and "attachment" not in disposition:
            bodies.append(_part_text(part))
        elif len(shown.attachments) < MAX_ATTACHMENTS:
            shown.attachments.append(_attachment(part))
    shown.body, shown.body_cut = _cut("\n\n".join(b for b in bodies if b.strip()))
    urls: list[str] = []
    for url in text_urls(shown.body):
        shown_url = defang(url)
        if shown_url not in urls:
            urls.append(shown_url)
    shown.urls = urls[:MAX_URLS]


def _parts(message: Message) -> list[Message]:
    """Return the leaves and attached messages of *message*, not descending into the latter."""
    if not message.is_multipart():
        return [message]
    found: list[Message] = []
    payload = message.get_payload()
    for part in payload if isinstance(payload, list) else []:
        if not isinstance(part, Message):
            continue
        if part.get_content_type() in _ATTACHED_MESSAGE_TYPES:
            found.append(part)
        elif part.is_multipart():
            found.extend(_parts(part))
        else:
            found.append(part)
    return found


def _inner_message(part: Message) -> Message | None:
    encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        if encoding not in ("base64", "quoted-printable"):
            return payload[0]
        # Encoded although RFC 2046 forbids it: the parser read the encoded text as a
        # message. Decode the text it saw, then read that.
        data: object = _decoded(payload[0].as_bytes(), encoding)
    else:
        data = part.get_payload(decode=True)
    if isinstance(data, bytes) and data.strip():
        try:
            return RawDocument(data).message
        except (ParseError, RecursionError, ValueError):
            return None
    return None


def _decoded(encoded: bytes, encoding: str) -> bytes:
    body = encoded.split(b"\n\n", 1)[-1] if encoded[:1] not in (b"\r", b"\n") else encoded
    try:
        if encoding == "base64":
            return base64.b64decode(body, validate=False)
        return quopri.decodestring(body)
    except ValueError:
        return b""


def _message_view(message: Message, depth: int) -> MessageView:
    shown = MessageView(depth=depth)
    items = message.items()
    shown.headers = [(safe_text(n)[:80], header_text(v)) for n, v in items[:MAX_HEADERS]]
    shown.headers_cut = max(0, len(items) - MAX_HEADERS)
    shown.subject = header_text(message.get("Subject"))
    shown.sender = header_text(message.get("From"))
    shown.recipients = header_text(message.get("To"))
    shown.date = header_text(message.get("Date"))
    shown.message_id = header_text(message.get("Message-ID"))
    for value in message.get_all("Authentication-Results") or ():
        shown.authentication.extend(authentication_results(header_text(value)))
    shown.hops = [HopView(h.from_host, h.address, h.by_host) for h in received_hops(message)]
    return shown


def header_text(value: object) -> str:
    """Return a header value decoded (RFC 2047), unfolded, made safe and cut to size."""
    if value is None:
        return ""
    text = str(value)
    try:
        pieces = email.header.decode_header(text)
        text = "".join(
            decode_text(piece, charset) if isinstance(piece, bytes) else piece
            for piece, charset in pieces
        )
    except (ValueError, LookupError, AssertionError):
        pass
    text = " ".join(safe_text(text).split())
    return text if len(text) <= MAX_HEADER_VALUE else text[:MAX_HEADER_VALUE] + ELLIPSIS


def authentication_results(value: str) -> list[AuthResult]:
    """Return the method verdicts of one Authentication-Results value (RFC 8601)."""
    authserv, _, rest = value.partition(";")
    results = []
    for clause in rest.split(";"):
        match = _AUTH_RESULT.search(clause)
        if match is None or match.group(1).lower() not in _AUTH_METHODS:
            continue
        results.append(
            AuthResult(
                method=match.group(1).lower(),
                result=match.group(2).lower(),
                properties=" ".join(match.group(3).split()),
                by=authserv.strip()[:120],
            )
        )
    return results


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = decode_text(payload[: 4 * MAX_BODY_CHARACTERS], part.get_content_charset())
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return safe_text(text)


def _attachment(part: Message) -> AttachmentView:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    name = header_text(part.get_filename() or "")
    return AttachmentView(
        filename=(name or "(no name)")[:MAX_FILENAME],
        content_type=safe_text(part.get_content_type())[:100],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def safe_text(text: str) -> str:
    """Return *text* without control characters and invisible direction or width changers."""
    return _INVISIBLE.sub("", _CONTROL.sub("", text))


def _cut(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_BODY_CHARACTERS:
        return text, False
    return text[:MAX_BODY_CHARACTERS] + ELLIPSIS, True


_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "tr",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "ul",
        "ol",
        "blockquote",
        "pre",
        "hr",
        "section",
        "article",
        "header",
        "footer",
        "title",
    }
)
_SKIPPED_TAGS = frozenset({"script", "style", "head", "template", "noscript", "svg", "math"})


class _HtmlText(HTMLParser):
    """Collect the text of HTML; links and images are written out as defanged addresses."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.skipping = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
            return
        if self.skipping:
            return
        values = dict(attrs)
        if tag in _BLOCK_TAGS:
            self.pieces.append("\n")
        if tag == "a":
            self.links.append(values.get("href"))
        elif tag == "img":
            alt = values.get("alt") or ""
            source = values.get("src") or ""
            self.pieces.append(
                f"[image{': ' + alt if alt else ''}{' ' + _shown(source) if source else ''}]"
            )

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
            return
        if self.skipping:
            return
        if tag == "a" and self.links:
            href = self.links.pop()
            if href:
                self.pieces.append(f" [{_shown(href)}]")
        if tag in _BLOCK_TAGS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.pieces.append(data)


def _shown(address: str) -> str:
    """Return a link target as text nobody can follow by accident."""
    address = " ".join(address.split())[:500]
    if re.match(r"^(https?|ftp)://", address, re.IGNORECASE):
        return defang(address)
    scheme, colon, rest = address.partition(":")
    if colon and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,20}", scheme):
        return f"{scheme.lower()}[:]{rest}"
    return address.replace(".", "[.]")


def html_to_text(markup: str) -> str:
    """Return HTML as text: scripts and styles dropped, blocks on their own lines, link
    targets and image sources written out defanged beside their text."""
    parser = _HtmlText()
    opened = markup.rfind("<!--")
    if opened != -1 and markup.find("-->", opened + 4) == -1:
        # An unclosed comment runs to the end, as browsers read it.
        markup = markup[:opened]
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError):
        pass
    text = "".join(parser.pieces)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
