"""SNS signatures: the string SNS signs, both signature versions, certificates and URLs."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from abusedesk.core.clock import utcnow
from abusedesk.intake.sns import (
    CertificateSource,
    InvalidEnvelope,
    SignatureMismatch,
    SnsVerifier,
    UnknownTopic,
    UnsupportedSignatureVersion,
    UntrustedCertificate,
    UntrustedCertificateUrl,
    canonical_string,
    check_issued_by,
    host_allowed,
    trusted_url,
    verify_signature,
)
from tests.support.sns import (
    CERT_NAME,
    HOSTS,
    TOPIC,
    confirmation,
    make_certificate,
    new_key,
    notification,
    pki,
    sign,
)


def test_notification_string_to_sign_includes_the_subject_in_order() -> None:
    """A Notification with a Subject signs Message, MessageId, Subject, Timestamp, TopicArn, Type."""
    expected = (
        'Message\n{"notificationType":"Complaint"}\n'
        "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        "Subject\nAmazon SES Email Event Notification\n"
        "Timestamp\n2025-03-01T12:00:06.000Z\n"
        f"TopicArn\n{TOPIC}\n"
        "Type\nNotification\n"
    ).encode()

    assert expected == canonical_string(notification())


def test_notification_string_to_sign_leaves_out_an_absent_subject() -> None:
    """A Notification without a Subject signs the other five fields only."""
    message = notification()
    del message["Subject"]
    expected = (
        'Message\n{"notificationType":"Complaint"}\n'
        "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        "Timestamp\n2025-03-01T12:00:06.000Z\n"
        f"TopicArn\n{TOPIC}\n"
        "Type\nNotification\n"
    ).encode()

    assert expected == canonical_string(message)


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_confirmation_string_to_sign_has_subscribe_url_and_token(kind: str) -> None:
    """Confirmations sign Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type."""
    expected = (
        "Message\nYou have chosen to subscribe to the topic.\n"
        "MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n"
        "SubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription\n"
        "Timestamp\n2025-03-01T12:00:00.000Z\n"
        "Token\n2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a\n"
        f"TopicArn\n{TOPIC}\n"
        f"Type\n{kind}\n"
    ).encode()

    assert expected == canonical_string(confirmation(kind))


def test_confirmation_without_token_is_an_invalid_envelope() -> None:
    """A confirmation missing a signed field cannot be verified and is refused."""
    message = confirmation()
    del message["Token"]

    with pytest.raises(InvalidEnvelope, match="Token"):
        canonical_string(message)


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    "message", [notification(), confirmation(), confirmation("UnsubscribeConfirmation")]
)
def test_signature_by_the_certificate_key_verifies(version: str, message: dict[str, Any]) -> None:
    """Each message type signed with either version verifies against the certificate."""
    signed = sign(message, pki().key, version)

    assert verify_signature(signed, pki().certificate) is None


@pytest.mark.parametrize("field", ["Message", "MessageId", "Subject", "Timestamp", "TopicArn"])
def test_tampered_notification_field_fails_verification(field: str) -> None:
    """Changing any signed field after signing breaks the signature."""
    signed = sign(notification(), pki().key)
    signed[field] += "x"

    with pytest.raises(SignatureMismatch):
        verify_signature(signed, pki().certificate)


def test_tampered_subscribe_url_fails_verification() -> None:
    """A SubscribeURL swapped after signing breaks a confirmation's signature."""
    signed = sign(confirmation(), pki().key)
    signed["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=Other"

    with pytest.raises(SignatureMismatch):
        verify_signature(signed, pki().certificate)


def test_signature_made_with_sha1_but_claimed_as_version_2_fails() -> None:
    """The version decides the digest: a version 1 signature relabelled 2 does not verify."""
    signed = sign(notification(), pki().key, "1")
    signed["SignatureVersion"] = "2"

    with pytest.raises(SignatureMismatch):
        verify_signature(signed, pki().certificate)


def test_signature_by_another_key_fails() -> None:
    """A signature by a key other than the certificate's does not verify."""
    signed = sign(notification(), new_key())

    with pytest.raises(SignatureMismatch):
        verify_signature(signed, pki().certificate)


@pytest.mark.parametrize("signature", ["", "not base64!", "A" * 5000])
def test_malformed_signature_fails(signature: str) -> None:
    """An empty, non-base64 or absurdly long Signature is refused as not matching."""
    signed = sign(notification(), pki().key)
    signed["Signature"] = signature

    with pytest.raises(SignatureMismatch):
        verify_signature(signed, pki().certificate)


@pytest.mark.parametrize("version", ["3", "0", 2, None])
def test_unsupported_signature_version_is_refused(version: Any) -> None:
    """Only the strings "1" and "2" are signature versions."""
    signed = sign(notification(), pki().key)
    signed["SignatureVersion"] = version

    with pytest.raises(UnsupportedSignatureVersion):
        verify_signature(signed, pki().certificate)


def test_certificate_issued_by_the_ca_passes() -> None:
    """A current certificate signed by the CA is accepted."""
    assert check_issued_by(pki().certificate, pki().ca, utcnow()) is None


def test_certificate_not_issued_by_the_ca_fails() -> None:
    """A self-made certificate with the CA's issuer name but another key is refused."""
    rogue_key = new_key()
    rogue = make_certificate(rogue_key, "sns.amazonaws.com", rogue_key, "Test SNS CA")

    with pytest.raises(UntrustedCertificate, match="not issued by the trusted CA"):
        check_issued_by(rogue, pki().ca, utcnow())


def test_expired_certificate_of_the_ca_fails() -> None:
    """A certificate from the CA whose validity has ended is refused."""
    now = utcnow()
    expired = make_certificate(
        pki().key,
        "sns.amazonaws.com",
        pki().ca_key,
        "Test SNS CA",
        not_before=now - timedelta(days=60),
        not_after=now - timedelta(days=1),
    )

    with pytest.raises(UntrustedCertificate, match="not valid now"):
        check_issued_by(expired, pki().ca, now)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("sns.us-east-1.amazonaws.com", True),
        ("SNS.EU-WEST-1.AMAZONAWS.COM", True),
        ("sns.amazonaws.com", False),
        ("sns.a.b.amazonaws.com", False),
        ("sns.us-east-1.amazonaws.com.evil.example", False),
        ("evil.us-east-1.amazonaws.com", False),
        ("sns.us_east.amazonaws.com", False),
        ("127.0.0.1", False),
    ],
)
def test_host_patterns_match_one_label_per_star(host: str, allowed: bool) -> None:
    """``*`` in a host pattern stands for exactly one DNS label."""
    assert allowed == host_allowed(host, HOSTS)


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://127.0.0.1/cert.pem",
        "file:///etc/passwd",
        "https://[::1/cert.pem",
    ],
)
def test_certificate_url_off_the_allowed_hosts_is_refused(url: str) -> None:
    """Only https on port 443 of an allowed host, with no user part, is trusted."""
    with pytest.raises(UntrustedCertificateUrl):
        trusted_url(url, HOSTS, what="SigningCertURL")


def verifier(directory: Path, *, topics: tuple[str, ...] = ()) -> SnsVerifier:
    """Return a verifier reading certificates from *directory* and trusting the test CA."""
    return SnsVerifier(
        certificate_hosts=HOSTS,
        topic_arns=topics,
        certificates=CertificateSource(local_dir=directory, timeout_seconds=1),
        ca=pki().ca,
        clock=utcnow,
    )


def test_verifier_accepts_a_message_signed_with_a_local_trusted_certificate(
    tmp_path: Path,
) -> None:
    """The certificate named by the URL's file name is read from the trusted folder."""
    (tmp_path / CERT_NAME).write_bytes(pki().certificate_pem())

    verified = verifier(tmp_path).verify(sign(notification(), pki().key))

    assert (verified.kind, verified.topic_arn) == ("Notification", TOPIC)


def test_verifier_refuses_a_topic_not_on_the_list(tmp_path: Path) -> None:
    """With allowed topics configured, a message from another topic is refused."""
    (tmp_path / CERT_NAME).write_bytes(pki().certificate_pem())

    with pytest.raises(UnknownTopic):
        verifier(tmp_path, topics=("arn:aws:sns:us-east-1:111122223333:other",)).verify(
            sign(notification(), pki().key)
        )


def test_verifier_refuses_a_local_certificate_not_issued_by_the_ca(tmp_path: Path) -> None:
    """A certificate in the trusted folder must still be issued by the configured CA."""
    rogue_key = new_key()
    rogue = make_certificate(rogue_key, "sns.amazonaws.com", rogue_key, "Test SNS CA")
    (tmp_path / CERT_NAME).write_bytes(rogue.public_bytes(serialization.Encoding.PEM))

    with pytest.raises(UntrustedCertificate):
        verifier(tmp_path).verify(sign(notification(), rogue_key))


def test_verifier_refuses_a_local_file_that_is_no_certificate(tmp_path: Path) -> None:
    """A file in the trusted folder that is not PEM is refused, not trusted."""
    (tmp_path / CERT_NAME).write_bytes(b"not a certificate")

    with pytest.raises(UntrustedCertificate, match="not a PEM certificate"):
        verifier(tmp_path).verify(sign(notification(), pki().key))
