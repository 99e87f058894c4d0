"""Which evidence class each key of the parsers' vocabulary holds.

Parsers write events whose ``indicators`` and ``details`` use the keys below (see
``parsing/model.py`` and the golden files under ``tests/golden``). Each key is either
``KEPT`` (it names our customer's resources, the reporter's organisation or technical
facts, and stays as long as the event) or an evidence class, which the scheduled purge
removes once that class's retention period is over. A unit test parses every golden
file and fails on a key that is missing here, so that a new parser cannot slip personal
data past retention: add its keys here in the same change.
"""

from collections.abc import Mapping

from abusedesk.privacy.model import EvidenceClass

# Stays with the event for as long as the event is kept.
KEPT = "kept"

_BODY = EvidenceClass.MESSAGE_BODY
_RECIPIENT = EvidenceClass.RECIPIENT_ADDRESS
_CONTACT = EvidenceClass.REPORTER_CONTACT
_RAW = EvidenceClass.RAW_REPORT

# Indicator kinds: values worth matching. Sender-side kinds name our customer (its
# addresses, numbers, domains, IPs), which is what a case is about: they are kept.
INDICATOR_CLASSES: Mapping[str, str] = {
    "campaign_id": KEPT,
    "configuration_set": KEPT,
    "dkim_domain": KEPT,
    "dkim_selector": KEPT,
    "domain": KEPT,
    "envelope_domain": KEPT,
    "envelope_sender": KEPT,
    "feedback_id": KEPT,
    "from_address": KEPT,
    "from_domain": KEPT,
    "message_id": KEPT,
    "origination_number": KEPT,
    # Numbers quoted in a text (call-back numbers of a scam); the recipient's own number
    # is never kept as one (see parsing/sms.py).
    "phone_number": KEPT,
    "platform_endpoint": KEPT,
    "provider_message_id": KEPT,
    "push_application": KEPT,
    # A domain, not an address: destination-group counts need it.
    "recipient_domain": KEPT,
    "sender_id": KEPT,
    "sending_account_id": KEPT,
    "source_ip": KEPT,
    "topic": KEPT,
    "url": KEPT,
    # Who received the message: hashes of their address or number.
    "recipient_hash": _RECIPIENT,
    # The writer of a free-form complaint, who is nearly always its recipient.
    "complainant_hash": _RECIPIENT,
}

# Detail keys: what an analyst reads beside the indicators.
DETAIL_CLASSES: Mapping[str, str] = {
    # What a person wrote or was sent.
    "message_text": _BODY,
    "evidence_subject": _BODY,
    "subject": _BODY,
    "title": _BODY,
    # How to reach the reporter, or who the reporter is when that may be a person.
    "complainant": _CONTACT,
    "complainant_contact": _CONTACT,
    "contact_info": _CONTACT,
    "report_email": _CONTACT,
    # Technical facts about the report and the reported message.
    "action": KEPT,
    "agent": KEPT,
    "application": KEPT,
    "arrival_date": KEPT,
    "asn": KEPT,
    "auth_failure": KEPT,
    "authentication_results": KEPT,
    "auto_submitted": KEPT,
    "begin_at": KEPT,
    "bounce_class": KEPT,
    "bounce_sub_type": KEPT,
    "bounce_type": KEPT,
    "case_id": KEPT,
    "category": KEPT,
    "classification": KEPT,
    "complaint_sub_type": KEPT,
    "count": KEPT,
    "country": KEPT,
    "delivery_result": KEPT,
    # Parsers put ``[recipient]`` where a bounce quotes the address; an erasure still
    # looks through it.
    "diagnostic_code": KEPT,
    "display_urls": KEPT,
    "disposition": KEPT,
    "dkim_aligned": KEPT,
    "dkim_domain": KEPT,
    "dkim_identity": KEPT,
    "dkim_results": KEPT,
    "dkim_selector": KEPT,
    "dmarc_pass": KEPT,
    "end_at": KEPT,
    "envelope_from": KEPT,
    "envelope_to": KEPT,
    "evidence": KEPT,
    "evidence_source": KEPT,
    "failed_sessions": KEPT,
    "failure_details": KEPT,
    "failure_details_total": KEPT,
    "feed_file": KEPT,
    "feedback_id": KEPT,
    "feedback_type": KEPT,
    "file_name": KEPT,
    "generator": KEPT,
    "hash": KEPT,
    "header_from": KEPT,
    "hostname": KEPT,
    "identity_alignment": KEPT,
    "incidents": KEPT,
    "infection": KEPT,
    "infection_type": KEPT,
    "message_count": KEPT,
    "mx_hosts": KEPT,
    "org_name": KEPT,
    "original_envelope_id": KEPT,
    "platform": KEPT,
    "policy": KEPT,
    "policy_domain": KEPT,
    "policy_published": KEPT,
    "policy_strings": KEPT,
    "policy_type": KEPT,
    "port": KEPT,
    "protocol": KEPT,
    "reason": KEPT,
    "reasons": KEPT,
    "recipients_redacted": KEPT,
    "record": KEPT,
    "remote_mta": KEPT,
    "remote_mta_ip": KEPT,
    "reply_kind": KEPT,
    "report_id": KEPT,
    "report_type": KEPT,
    "reported_at": KEPT,
    "reported_domain": KEPT,
    "reported_uri": KEPT,
    "reporting_mta": KEPT,
    "row": KEPT,
    "schema": KEPT,
    "sender": KEPT,
    "sender_type": KEPT,
    "service": KEPT,
    "source_identifier": KEPT,
    "source_port": KEPT,
    "source_type": KEPT,
    "spf_aligned": KEPT,
    "spf_dns": KEPT,
    "spf_results": KEPT,
    "spoofed_suspect": KEPT,
    "src_asn": KEPT,
    "src_hostname": KEPT,
    "src_port": KEPT,
    "status": KEPT,
    "successful_sessions": KEPT,
    "tag": KEPT,
    "type": KEPT,
    "user_agent": KEPT,
    "xarf_category": KEPT,
    "xarf_type": KEPT,
    "xarf_version": KEPT,
}

# A report's envelope (what the channel recorded): the fields naming who sent it go
# with the raw report; the rest (our own mailbox, token prefix, topic) stays.
ENVELOPE_CLASSES: Mapping[str, str] = {
    "mail_from": _RAW,
    "peer": _RAW,
    "helo": _RAW,
}


def indicator_class(kind: str) -> str:
    """Return the class of indicator *kind*; a kind not in the table is kept."""
    return INDICATOR_CLASSES.get(kind, KEPT)


def detail_class(key: str) -> str:
    """Return the class of detail *key*; a key not in the table is kept."""
    return DETAIL_CLASSES.get(key, KEPT)


def unclassified(indicator_kinds: set[str], detail_keys: set[str]) -> list[str]:
    """Return the keys the tables do not classify, as ``indicators.<kind>`` or
    ``details.<key>``: each one is a gap a new parser opened."""
    return sorted(
        [f"indicators.{k}" for k in indicator_kinds - INDICATOR_CLASSES.keys()]
        + [f"details.{k}" for k in detail_keys - DETAIL_CLASSES.keys()]
    )
