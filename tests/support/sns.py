"""Sign SNS messages for tests with a locally generated CA and signing certificate."""

import base64
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from abusedesk.core.clock import utcnow
from abusedesk.intake.sns import (
    canonical_string,
)

TOPIC = "arn:aws:sns:us-east-1:111122223333:ses-feedback"
CERT_NAME = "SimpleNotificationService-test.pem"
CERT_URL = f"https://sns.us-east-1.amazonaws.com/{CERT_NAME}"
HOSTS = ("sns.*.amazonaws.com",)


@dataclass(frozen=True)
class Pki:
    """A CA and a signing key with its certificate issued by that CA."""

    ca_key: rsa.RSAPrivateKey
    ca: x509.Certificate
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    def ca_pem(self) -> bytes:
        """Return the CA certificate as PEM."""
        return self.ca.public_bytes(serialization.Encoding.PEM)

    def certificate_pem(self) -> bytes:
        """Return the signing certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(
    key: rsa.RSAPrivateKey,
    subject: str,
    issuer_key: rsa.RSAPrivateKey,
    issuer: str,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    ca: bool = False,
) -> x509.Certificate:
    """Return a certificate for *key* named *subject*, signed by *issuer_key*."""
    now = utcnow()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def new_key() -> rsa.RSAPrivateKey:
    """Return a fresh RSA key, small enough to be quick."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def pki() -> Pki:
    """Return one test CA and a signing certificate it issued (made once per run)."""
    ca_key = new_key()
    ca = make_certificate(ca_key, "Test SNS CA", ca_key, "Test SNS CA", ca=True)
    key = new_key()
    certificate = make_certificate(key, "sns.amazonaws.com", ca_key, "Test SNS CA")
    return Pki(ca_key, ca, key, certificate)


def sign(message: Mapping[str, Any], key: rsa.RSAPrivateKey, version: str = "2") -> dict[str, Any]:
    """Return *message* with SignatureVersion and a Signature by *key* over its string."""
    signed = {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL}
    # SNS SignatureVersion 1 is defined on SHA1; the test signs the way SNS does.
    sha1 = hashes.SHA1()  # noqa: S303  # the protocol's version 1 digest, not our choice
    algorithm: hashes.HashAlgorithm = sha1 if version == "1" else hashes.SHA256()
    signature = key.sign(canonical_string(signed), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(signature).decode()
    return signed


def notification(message: str = '{"notificationType":"Complaint"}') -> dict[str, Any]:
    """Return an unsigned SNS Notification with a Subject."""
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": "Amazon SES Email Event Notification",
        "Message": message,
        "Timestamp": "2025-03-01T12:00:06.000Z",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }


def confirmation(kind: str = "SubscriptionConfirmation") -> dict[str, Any]:
    """Return an unsigned SNS subscription or unsubscribe confirmation."""
    return {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": "2025-03-01T12:00:00.000Z",
    }
