"""Check SNS messages before they are stored: envelope, topic, certificate and signature.

SNS signs the fields of each message in a fixed order (the "string to sign") with the
key of a certificate it names by URL. Nothing from that URL is trusted unless the URL is
HTTPS on an allowed host; the certificate comes from a local folder of trusted PEM files
first, else from that host, and may be required to be issued by a configured CA.
"""

import base64
import binascii
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import SplitResult, urlsplit

import structlog
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from abusedesk.core.errors import AbuseDeskError, TransientError

log = structlog.get_logger(__name__)

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

# The fields signed, in the order SNS signs them; Subject only when the message has one.
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    NOTIFICATION: _NOTIFICATION_FIELDS,
    SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_FIELDS,
    UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_FIELDS,
}
_OPTIONAL_FIELDS = frozenset({"Subject"})
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    # SNS SignatureVersion 1 signs a SHA1 digest; SHA1 is what the sender uses, not a choice.
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}
# A DNS label as hosts spell them; a ``*`` in a host pattern stands for exactly one.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_CERTIFICATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
# Signing certificates are a few kilobytes; anything much larger is not one.
MAX_CERTIFICATE_BYTES = 64 * 1024
MAX_CACHED_CERTIFICATES = 64
# An RSA signature of a 4096-bit key is 512 bytes; base64 makes it about 700 characters.
_MAX_SIGNATURE_CHARS = 4096


class SnsRejected(AbuseDeskError):
    """Raise when an SNS message must not be stored; ``reason`` says why, for machines."""

    reason = "sns_rejected"


class InvalidEnvelope(SnsRejected):
    """Raise when the body is not a well-formed SNS message."""

    reason = "sns_invalid_envelope"


class UnknownTopic(SnsRejected):
    """Raise when the message comes from a topic that is not allowed."""

    reason = "sns_unknown_topic"


class UnsupportedSignatureVersion(SnsRejected):
    """Raise when the SignatureVersion is neither 1 nor 2."""

    reason = "sns_unsupported_signature_version"


class UntrustedCertificateUrl(SnsRejected):
    """Raise when the SigningCertURL is not HTTPS on an allowed host."""

    reason = "sns_untrusted_certificate_url"


class UntrustedCertificate(SnsRejected):
    """Raise when the signing certificate is unreadable, expired or not issued by the CA."""

    reason = "sns_untrusted_certificate"


class SignatureMismatch(SnsRejected):
    """Raise when the signature does not match the message."""

    reason = "sns_invalid_signature"


class CertificateUnavailable(TransientError):
    """Raise when the signing certificate cannot be fetched now; a retry may succeed."""

    reason = "sns_certificate_unavailable"


@dataclass(frozen=True)
class SnsMessage:
    """An SNS message whose signature was verified."""

    kind: str
    message_id: str
    topic_arn: str
    fields: Mapping[str, Any]

    @property
    def subscribe_url(self) -> str | None:
        """Return the URL that confirms a subscription, when the message has one."""
        value = self.fields.get("SubscribeURL")
        return value if isinstance(value, str) else None


def canonical_string(message: Mapping[str, Any]) -> bytes:
    """Return the bytes SNS signed for *message*: ``Key\\nValue\\n`` in the fixed order."""
    kind = message.get("Type")
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
        raise InvalidEnvelope(f"Type must be one of {', '.join(SIGNED_FIELDS)}")
    parts: list[str] = []
    for name in SIGNED_FIELDS[kind]:
        value = message.get(name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise InvalidEnvelope(f"a {kind} needs {name} as a string")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8", "surrogatepass")


def signature_hash(version: Any) -> hashes.HashAlgorithm:
    """Return the digest SNS uses for SignatureVersion *version* (1: SHA1, 2: SHA256)."""
    factory = _HASHES.get(version) if isinstance(version, str) else None
    if factory is None:
        raise UnsupportedSignatureVersion("SignatureVersion must be 1 or 2")
    return factory()


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """Tell whether *host* matches a pattern, where ``*`` stands for one DNS label."""
    labels = host.lower().split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    for pattern in patterns:
        wanted = pattern.lower().split(".")
        if len(wanted) == len(labels) and all(
            w in ("*", label) for w, label in zip(wanted, labels, strict=True)
        ):
            return True
    return False


def trusted_url(url: Any, patterns: Sequence[str], *, what: str) -> SplitResult:
    """Return *url* split when it is HTTPS on an allowed host, else raise why not."""
    if not isinstance(url, str) or not url:
        raise InvalidEnvelope(f"the message has no {what}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UntrustedCertificateUrl(f"the {what} is not a valid URL") from error
    if parts.scheme != "https":
        raise UntrustedCertificateUrl(f"the {what} must use https")
    if parts.username is not None or parts.password is not None or port not in (None, 443):
        raise UntrustedCertificateUrl(f"the {what} may name no user and no port but 443")
    if not parts.hostname or not host_allowed(parts.hostname, patterns):
        raise UntrustedCertificateUrl(f"the {what} host is not an allowed SNS host")
    return parts


def verify_signature(message: Mapping[str, Any], certificate: x509.Certificate) -> None:
    """Raise unless *message* carries a valid signature by *certificate*'s key."""
    algorithm = signature_hash(message.get("SignatureVersion"))
    signed = canonical_string(message)
    encoded = message.get("Signature")
    if not isinstance(encoded, str) or not encoded or len(encoded) > _MAX_SIGNATURE_CHARS:
        raise SignatureMismatch("the Signature is missing or absurd")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignatureMismatch("the Signature is not base64") from error
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise UntrustedCertificate("the signing certificate does not hold an RSA key")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm)
    except InvalidSignature as error:
        raise SignatureMismatch("the signature does not match the message") from error


def check_issued_by(certificate: x509.Certificate, ca: x509.Certificate, now: datetime) -> None:
    """Raise unless *certificate* is signed by *ca* and valid at *now*."""
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as error:
        raise UntrustedCertificate(
            "the signing certificate is not issued by the trusted CA"
        ) from error
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise UntrustedCertificate("the signing certificate is not valid now")


def load_certificate(pem: bytes, *, source: str) -> x509.Certificate:
    """Read one PEM certificate, raising UntrustedCertificate when it is not one."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise UntrustedCertificate(f"the {source} certificate is not a PEM certificate") from error


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: the host was checked, where it points to was not."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Follow no redirect."""
        return


class CertificateSource:
    """Find signing certificates: a local folder of trusted PEM files, then HTTPS, cached."""

    def __init__(
        self,
        *,
        local_dir: Path | None,
        timeout_seconds: float,
        max_bytes: int = MAX_CERTIFICATE_BYTES,
    ) -> None:
        self.local_dir = local_dir
        self.timeout_seconds = timeout_seconds
        self.max_bytes = max_bytes
        self._cache: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(_NoRedirects())

    def get(self, url: SplitResult) -> x509.Certificate:
        """Return the certificate named by the (already checked) *url*."""
        key = url.geturl()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        certificate = self._local(url) or self._fetch(key)
        with self._lock:
            if len(self._cache) >= MAX_CACHED_CERTIFICATES:
                self._cache.clear()
            self._cache[key] = certificate
        return certificate

    def _local(self, url: SplitResult) -> x509.Certificate | None:
        if self.local_dir is None:
            return None
        name = PurePosixPath(url.path).name
        # The name comes from the sender; only a plain file name may pick a local file.
        if not _CERTIFICATE_NAME.fullmatch(name):
            return None
        path = self.local_dir / name
        if not path.is_file():
            return None
        return load_certificate(path.read_bytes()[: self.max_bytes + 1], source="local")

    def _fetch(self, url: str) -> x509.Certificate:
        try:
            with self._opener.open(url, timeout=self.timeout_seconds) as answer:
                pem = answer.read(self.max_bytes + 1)
        except (urllib.error.URLError, OSError, ValueError) as error:
            log.warning("sns_certificate_fetch_failed", error_class=type(error).__name__)
            raise CertificateUnavailable("the signing certificate cannot be fetched now") from error
        if len(pem) > self.max_bytes:
            raise UntrustedCertificate("the fetched certificate is too large")
        log.info("sns_certificate_fetched", host=urlsplit(url).hostname)
        return load_certificate(pem, source="fetched")


class SnsVerifier:
    """Decide whether an SNS message may be stored; the checks run cheapest first."""

    def __init__(
        self,
        *,
        certificate_hosts: Sequence[str],
        topic_arns: Sequence[str],
        certificates: CertificateSource,
        ca: x509.Certificate | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.certificate_hosts = tuple(certificate_hosts)
        self.topic_arns = frozenset(topic_arns)
        self.certificates = certificates
        self.ca = ca
        self.clock = clock

    def verify(self, message: Any) -> SnsMessage:
        """Return the verified message, or raise SnsRejected (or a transient error)."""
        if not isinstance(message, dict):
            raise InvalidEnvelope("the body is not a JSON object")
        kind = message.get("Type")
        if kind not in SIGNED_FIELDS:
            raise InvalidEnvelope(f"Type must be one of {', '.join(SIGNED_FIELDS)}")
        topic = message.get("TopicArn")
        message_id = message.get("MessageId")
        if not isinstance(topic, str) or not isinstance(message_id, str):
            raise InvalidEnvelope("the message needs TopicArn and MessageId as strings")
        if self.topic_arns and topic not in self.topic_arns:
            raise UnknownTopic("the TopicArn is not an allowed topic")
        signature_hash(message.get("SignatureVersion"))
        # Every field must be in place before anything is fetched for this message.
        canonical_string(message)
        url = trusted_url(
            message.get("SigningCertURL"), self.certificate_hosts, what="SigningCertURL"
        )
        certificate = self.certificates.get(url)
        if self.ca is not None:
            check_issued_by(certificate, self.ca, self.clock())
        verify_signature(message, certificate)
        return SnsMessage(kind=kind, message_id=message_id, topic_arn=topic, fields=message)


def confirm_subscription(
    message: SnsMessage, patterns: Sequence[str], *, timeout_seconds: float
) -> bool:
    """Visit the SubscribeURL when it is HTTPS on an allowed host; tell whether it answered."""
    try:
        url = trusted_url(message.subscribe_url, patterns, what="SubscribeURL")
    except SnsRejected as error:
        log.warning("sns_subscription_not_confirmed", reason=error.reason)
        return False
    opener = urllib.request.build_opener(_NoRedirects())
    try:
        with opener.open(url.geturl(), timeout=timeout_seconds) as answer:
            answer.read(MAX_CERTIFICATE_BYTES)
    except (urllib.error.URLError, OSError, ValueError) as error:
        log.warning("sns_subscription_confirm_failed", error_class=type(error).__name__)
        return False
    log.info("sns_subscription_confirmed", message_id=message.message_id)
    return True
