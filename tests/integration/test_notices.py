"""Customer notices as stored: rendered with figures and redacted evidence, threaded, opened."""

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container
from abusedesk.config import Settings
from abusedesk.core.errors import NotFound
from abusedesk.messaging.keys import (
    NoticeContext,
    NoticeKeysMissing,
    notice_context,
    notice_keyring,
)
from abusedesk.messaging.templates import InvalidTemplate, RenderedNotice, TemplateRefused
from abusedesk.notices.links import ExpiredLink, LinkRefused, TamperedLink, portal_token
from abusedesk.storage import case_history, casework, notice_templates, notices
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.notices import Channel, MessageRecord, MessageState, NoticeRefused
from abusedesk.storage.reputation import account_figures
from abusedesk.storage.tables import Account, AuditEntry, Case, CustomerMessage, table_of
from tests.support.casework import MONDAY, audit_tags, kinds, make_case, new_account, subject_tags
from tests.support.enforcement import executed, propose
from tests.support.notices import (
    CONTACT,
    add_event,
    add_sending,
    complaint_on_case,
    context_for,
    hours_ago,
    link_token,
    queue_notice,
    set_contact,
)

COMPLAINANT = "jane.doe@mailbox.example"
HASH = "a" * 64
DAY = timedelta(days=1)


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> NoticeContext:
    """Return a notice context with explicit keys."""
    return context_for(settings, tmp_path)


def _setup(container: Container, *, contact: str | None = CONTACT) -> tuple[int, int, int]:
    """An account with figures and a spam case with one complaint; return ids."""
    with unit_of_work(container.sessions) as session:
        account_id, case_id, event_id = complaint_on_case(
            session,
            contact=contact,
            reporter="Jane Doe <jane.doe@mailbox.example>",
            indicators={
                "from_address": ["news@customer1.example.com"],
                "recipient_hash": [HASH],
            },
            details={
                "subject": f"complaint about mail to {COMPLAINANT}",
                "feedback_type": "abuse",
            },
        )
        add_sending(
            session, account_id, hours_ago(MONDAY, 30), fbl_sent=12_400, complaints=77, sent=20_000
        )
    return account_id, case_id, event_id


def _message(
    session: Session,
    ctx: NoticeContext,
    account_id: int,
    case_id: int,
    kind: str,
    *,
    context: dict[str, Any] | None = None,
    **ids: int,
) -> MessageRecord | None:
    return notices.queue_message(
        session,
        kind=kind,
        case_id=case_id,
        account_id=account_id,
        context=context or {},
        notices=ctx,
        now=MONDAY,
        **ids,
    )


def test_an_executed_action_queues_a_notice_with_figures_and_redacted_evidence(
    container: Container, ctx: NoticeContext
) -> None:
    """The notice quotes the figures, hides the complainant, links the portal, is audited."""
    account_id, case_id, event_id = _setup(container)
    with unit_of_work(container.sessions) as session:
        action = executed(session, account_id, case_id=case_id, event_ids=[event_id])
        sent = notices.queue_action_notice(session, action, notices=ctx, now=MONDAY)
        assert sent is not None
        history = kinds(session, case_id)
        tags = audit_tags(session, case_id)
    assert (sent.state, sent.kind, sent.to_address, sent.action_id) == (
        MessageState.PENDING,
        "pause",
        CONTACT,
        action.id,
    )
    assert "complaint rate 0.62% over the last 12,400 messages to feedback-loop domains" in (
        sent.body
    )
    assert "paused your account's sending" in sent.subject
    assert COMPLAINANT not in sent.body
    assert "jane.doe" not in sent.body
    assert "[recipient " in sent.body
    assert "https://desk.example/portal/p1.k1." in sent.body
    assert f"case+{case_id}.k1." in sent.from_address
    assert sent.message_id.startswith("<")
    assert sent.message_id.endswith("@desk.example>")
    assert sent.in_reply_to is None
    assert sent.portal_expires_at == MONDAY + timedelta(days=30)
    assert history[-1] == "notice"
    assert "notices:case:notice" in tags
    with unit_of_work(container.sessions) as session:
        tags = subject_tags(session, "customer_message", sent.id)
    assert tags == ["notices:message:queue"]


def test_later_messages_thread_under_the_earlier_ones(
    container: Container, ctx: NoticeContext
) -> None:
    """In-Reply-To names the previous message of the case, References all of them."""
    account_id, case_id, _ = _setup(container)
    with unit_of_work(container.sessions) as session:
        first = queue_notice(session, ctx, account_id, case_id, "warn")
        reply = notices.record_reply(
            session, case_id=case_id, body="We fixed it", channel=Channel.PORTAL, now=MONDAY
        )
        second = queue_notice(session, ctx, account_id, case_id, now=MONDAY + DAY)
    assert first is not None
    assert second is not None
    assert second.in_reply_to == reply.message_id
    assert second.references == f"{first.message_id} {reply.message_id}"


def test_no_contact_address_means_no_notice_and_the_history_says_so(
    container: Container, ctx: NoticeContext
) -> None:
    """Nobody to write to: None, and a step in the case's history explains it."""
    account_id, case_id, _ = _setup(container, contact=None)
    with unit_of_work(container.sessions) as session:
        assert queue_notice(session, ctx, account_id, case_id) is None
        assert notices.case_messages(session, case_id) == []
        history = casework_history_reasons(session, case_id)
    assert any("no contact address" in (reason or "") for reason in history)


def casework_history_reasons(session: Session, case_id: int) -> list[str | None]:
    """Return the reasons of the case's history steps."""
    return [entry.reason for entry in case_history.history(session, case_id)]


def test_only_executed_actions_notify(container: Container, ctx: NoticeContext) -> None:
    """A proposed action has not happened: writing its notice is refused."""
    account_id, case_id, _ = _setup(container)
    with unit_of_work(container.sessions) as session:
        proposed = propose(session, account_id, "pause", case_id=case_id)
        with pytest.raises(NoticeRefused, match="proposed"):
            notices.queue_action_notice(session, proposed, notices=ctx, now=MONDAY)


def test_the_portal_opens_the_notice_and_refuses_bad_links(
    container: Container, ctx: NoticeContext
) -> None:
    """A valid token opens notice, thread and redacted evidence; others are refused."""
    account_id, case_id, _ = _setup(container)
    with unit_of_work(container.sessions) as session:
        sent = queue_notice(session, ctx, account_id, case_id)
    assert sent is not None
    token = link_token(sent.body)
    with unit_of_work(container.sessions) as session:
        view = notices.open_portal(session, token, ctx, MONDAY + DAY)
        assert view.message.id == sent.id
        assert (view.case_id, view.account_id, view.account_standing) == (
            case_id,
            account_id,
            "paused",
        )
        assert view.action is not None
        assert view.action.action == "pause"
        assert [m.id for m in view.thread] == [sent.id]
        (shown,) = view.evidence
        assert COMPLAINANT not in json.dumps(shown)
        assert shown["indicators"]["from_address"] == ["news@customer1.example.com"]
        assert shown["indicators"]["recipient_hash"][0].startswith("[recipient ")
        assert shown["reporter"].startswith("[reporter "), "the person's name went with them"
        assert "Jane" not in shown["reporter"]
        with pytest.raises(ExpiredLink):
            notices.open_portal(session, token, ctx, MONDAY + timedelta(days=31))
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        with pytest.raises(TamperedLink):
            notices.open_portal(session, tampered, ctx, MONDAY)
        # Correctly signed, but for a message of another account: refused alike.
        forged = portal_token(ctx.keyring, str(sent.id), str(account_id + 1), MONDAY + DAY)
        with pytest.raises(LinkRefused):
            notices.open_portal(session, forged, ctx, MONDAY)
        missing = portal_token(ctx.keyring, "999999", str(account_id), MONDAY + DAY)
        with pytest.raises(LinkRefused):
            notices.open_portal(session, missing, ctx, MONDAY)


def test_a_link_signed_with_another_key_is_refused(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """A keyring without the signing key cannot be fooled by a token it did not sign."""
    account_id, case_id, _ = _setup(container)
    ours = context_for(settings, tmp_path)
    theirs = context_for(
        settings, tmp_path, link_keys={"k1": SecretStr("another-key-another-key-another-key-01")}
    )
    with unit_of_work(container.sessions) as session:
        sent = queue_notice(session, theirs, account_id, case_id)
        assert sent is not None
        token = link_token(sent.body)
        with pytest.raises(TamperedLink):
            notices.open_portal(session, token, ours, MONDAY)


def test_appeal_messages_render_from_the_caller_context(
    container: Container, ctx: NoticeContext
) -> None:
    """``appeal_received`` takes the appeal's values and fills in the action and links."""
    account_id, case_id, _ = _setup(container)
    with unit_of_work(container.sessions) as session:
        action = executed(session, account_id, case_id=case_id)
        appeal = {"id": 7, "submitted_on": "3 Nov 2026", "due_on": "5 Nov 2026"}
        received = _message(
            session,
            ctx,
            account_id,
            case_id,
            "appeal_received",
            context={"appeal": appeal},
            action_id=action.id,
            appeal_id=7,
        )
        assert received is not None
        assert (received.kind, received.appeal_id, received.action_id) == (
            "appeal_received",
            7,
            action.id,
        )
        assert "5 Nov 2026" in received.body
        assert "(pause)" in received.body
        with pytest.raises(NoticeRefused, match="kind"):
            _message(session, ctx, account_id, case_id, "pause")
        with pytest.raises(InvalidTemplate, match="appeal"):
            _message(session, ctx, account_id, case_id, "appeal_decision", action_id=action.id)


def test_a_reply_is_stored_once_and_wakes_a_case_waiting_for_it(
    container: Container, ctx: NoticeContext
) -> None:
    """A reply lands on its case, audited, with a history step; the snooze ends."""
    _account_id, case_id, _ = _setup(container)
    with unit_of_work(container.sessions) as session:
        casework.snooze(session, case_id, until=None, until_reply=True, actor="alice", now=MONDAY)
        same_mail: dict[str, Any] = {
            "case_id": case_id,
            "body": "We removed the purchased list.",
            "channel": Channel.EMAIL,
            "message_id": "<abc@customer1.example.com>",
            "now": MONDAY + DAY,
        }
        reply = notices.record_reply(
            session, subject="Re: paused", from_address="ops@customer1.example.com", **same_mail
        )
        again = notices.record_reply(session, **same_mail)
        history = kinds(session, case_id)
        snoozed = session.get(Case, case_id)
        assert snoozed is not None
        assert not snoozed.snoozed_for_reply
        with pytest.raises(NoticeRefused, match="write a reply"):
            notices.record_reply(
                session, case_id=case_id, body="  ", channel=Channel.PORTAL, now=MONDAY
            )
        with pytest.raises(NotFound):
            notices.record_reply(
                session, case_id=999_999, body="hi", channel=Channel.PORTAL, now=MONDAY
            )
        count = session.scalar(select(func.count()).select_from(CustomerMessage))
    assert again.id == reply.id
    assert count == 1
    assert (reply.direction, reply.state, reply.kind) == ("in", "received", "customer_reply")
    assert "customer_reply" in history
    assert history[-1] == "wake"


def test_templates_are_versioned_checked_and_used(container: Container, ctx: NoticeContext) -> None:
    """A saved template for the category applies; bad ones are refused with reasons."""
    account_id, case_id, _ = _setup(container)
    with unit_of_work(container.sessions) as session:
        with pytest.raises(InvalidTemplate, match="note"):
            notice_templates.save_template(
                session, kind="pause", category="spam", subject="s", body="b",
                actor="admin", note=" ", now=MONDAY,
            )  # fmt: skip
        with pytest.raises(TemplateRefused):
            notice_templates.save_template(
                session, kind="pause", category="spam", subject="s",
                body="{{ account.__class__.__mro__ }}", actor="admin", note="x", now=MONDAY,
            )  # fmt: skip
        with pytest.raises(InvalidTemplate, match="unknown variable"):
            notice_templates.save_template(
                session, kind="pause", category="spam", subject="s",
                body="{{ password }}", actor="admin", note="x", now=MONDAY,
            )  # fmt: skip
        for n in (1, 2):
            saved = notice_templates.save_template(
                session,
                kind="pause",
                category="spam",
                subject=f"Paused (v{n}) {{{{ case.reference }}}}",
                body="Dear {{ account.name }}: {{ figures.complaint_rate.sentence }}\n",
                actor="admin",
                note=f"version {n}",
                now=MONDAY,
            )
        assert saved.version == 2
        versions = notice_templates.template_versions(session, "pause", "spam")
        listed = {(t.kind, t.category): t for t in notice_templates.templates(session)}
        sent = queue_notice(session, ctx, account_id, case_id)
        template_audit = session.scalar(
            select(func.count()).where(AuditEntry.tag == "notices:template:save")
        )
    assert [v.version for v in versions] == [2, 1]
    assert listed[("pause", "spam")].version == 2
    assert listed[("pause", "")].built_in
    assert sent is not None
    assert sent.template_version == 2
    assert sent.subject == f"Paused (v2) case {case_id}"
    assert sent.body.startswith("Dear Customer acct-1: complaint rate 0.62%")
    assert template_audit == 2


def test_a_saved_template_that_fails_on_real_data_falls_back_to_the_built_in(
    container: Container, ctx: NoticeContext
) -> None:
    """The notice still goes out, with the built-in words, and the history says why."""
    account_id, _case_id, _ = _setup(container)
    with unit_of_work(container.sessions) as session:
        notice_templates.save_template(
            session,
            kind="pause",
            category="",
            subject="Paused",
            body="First report: {{ evidence[0].summary }}",
            actor="admin",
            note="quote the first report",
            now=MONDAY,
        )
        other_case = make_case(session, account_id, "phishing")
        sent = queue_notice(session, ctx, account_id, other_case)
        reasons = casework_history_reasons(session, other_case)
    assert sent is not None
    assert sent.template_version is None
    assert "paused your account's sending" in sent.subject
    assert any("the saved template failed" in (r or "") for r in reasons)


def test_preview_uses_real_case_data_and_sends_nothing(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """A preview renders the draft with the case's account, figures and redacted evidence."""
    # Reporters shown in full, so that the report's subject is quoted (redacted).
    ctx = context_for(settings, tmp_path, reporter_policy="show")
    account_id, case_id, _ = _setup(container)
    with unit_of_work(container.sessions) as session:
        executed(session, account_id, case_id=case_id)

        def preview(
            kind: str, category: str, subject: str, body: str, case: int = case_id
        ) -> RenderedNotice:
            return notice_templates.preview(
                session, kind=kind, category=category, subject=subject, body=body,
                case_id=case, notices=ctx, now=MONDAY,
            )  # fmt: skip

        rendered = preview(
            "pause",
            "spam",
            "{{ account.name }}",
            "{{ figures.complaint_rate.sentence }}|{{ evidence[0].summary }}",
        )
        ack = preview("reporter_ack", "", "Thanks", "{{ report.reference }} {{ case_reference }}")
        with pytest.raises(InvalidTemplate):
            preview("pause", "", "s", "{% if %}")
        with pytest.raises(NotFound):
            preview("pause", "", "s", "b", case=999_999)
        count = session.scalar(select(func.count()).select_from(CustomerMessage))
    assert rendered.subject == "Customer acct-1"
    figures, summary = rendered.body.split("|")
    assert figures.startswith("complaint rate 0.62% over the last 12,400 messages")
    assert "[recipient " in summary
    assert COMPLAINANT not in summary
    assert ack.body.startswith("report ")
    assert ack.body.endswith(f"case {case_id}")
    assert count == 0


def test_account_figures_read_the_sending_stats(container: Container) -> None:
    """Figures sum the destination groups, ignore resource rows, and quote the sentence."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        now = MONDAY + 3 * DAY
        add_sending(session, account_id, hours_ago(now, 5), "gmail", fbl_sent=6000, complaints=30)
        add_sending(session, account_id, hours_ago(now, 5), "yahoo", fbl_sent=6400, complaints=47)
        add_sending(
            session, account_id, hours_ago(now, 100 * 24), "gmail", fbl_sent=9, complaints=9
        )
        figures = account_figures(session, account_id, now)
        with pytest.raises(NotFound):
            account_figures(session, 999_999, now)
    assert (figures.complaint.eligible, figures.complaint.count) == (12_400, 77)
    assert figures.complaint.sentence().startswith("complaint rate 0.62% over the last 12,400")
    assert figures.bounce.value is None
    assert figures.evidence()["complaint_rate"] == pytest.approx(77 / 12_400, abs=1e-6)


def test_account_figures_start_afresh_after_a_reinstatement(container: Container) -> None:
    """Mail sent before ``accounts.metrics_since`` no longer counts."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        now = MONDAY + 10 * DAY
        add_sending(session, account_id, hours_ago(now, 24 * 5), fbl_sent=5000, complaints=500)
        add_sending(session, account_id, hours_ago(now, 24), fbl_sent=1000, complaints=1)
        session.execute(
            update(table_of(Account))
            .where(Account.id == account_id)
            .values(metrics_since=now - 2 * DAY)
        )
        figures = account_figures(session, account_id, now)
    assert (figures.complaint.eligible, figures.complaint.count) == (1000, 1)


def test_development_keys_are_generated_once_and_kept_private(
    settings: Settings, tmp_path: Path
) -> None:
    """Without keys, development generates them in a file only its owner reads."""
    keys_file = tmp_path / "keys" / "notices.json"
    dev = settings.model_copy(
        update={"notices": settings.notices.model_copy(update={"keys_file": keys_file})}
    )
    first = notice_context(dev)
    second = notice_context(dev)
    assert first.keyring.keys == second.keyring.keys
    assert first.redactor.key == second.redactor.key
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600


def test_production_without_keys_refuses_to_start(settings: Settings, tmp_path: Path) -> None:
    """Production never signs with a generated key."""
    production = settings.model_copy(
        update={
            "environment": "production",
            "notices": settings.notices.model_copy(update={"keys_file": tmp_path / "k.json"}),
        }
    )
    with pytest.raises(NoticeKeysMissing, match="link_keys"):
        notice_keyring(production)
    with pytest.raises(NoticeKeysMissing, match="redaction_key"):
        notice_context(
            production.model_copy(
                update={
                    "notices": production.notices.model_copy(
                        update={"link_keys": {"k1": SecretStr("k" * 40)}, "link_key_id": "k1"}
                    )
                }
            )
        )
    assert not (tmp_path / "k.json").exists()


def test_reporters_are_acknowledged_once_and_only_when_reachable(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """A person's report is thanked once; feedback loops and no-reply senders are not."""
    ctx = context_for(settings, tmp_path, acknowledge_reporters=True)
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        set_contact(session, account_id)
        case_id = make_case(session, account_id)
        person, _ = add_event(
            session, account_id, case_id, serial=1, report_format="freeform",
            envelope={"mail_from": "Jo Bloggs <jo@isp.example>"},
        )  # fmt: skip
        no_reply, _ = add_event(
            session, account_id, case_id, serial=2, report_format="freeform",
            envelope={"mail_from": "no-reply@isp.example"},
        )  # fmt: skip
        loop, _ = add_event(
            session, account_id, case_id, serial=3, report_format="arf",
            envelope={"mail_from": "fbl-person@isp.example"},
        )  # fmt: skip
        due = notices.reports_to_acknowledge(session, now=MONDAY + timedelta(minutes=5))
        ack = notices.acknowledge_reporter(session, person, notices=ctx, now=MONDAY)
        again = notices.acknowledge_reporter(session, person, notices=ctx, now=MONDAY)
        nothing = [
            notices.acknowledge_reporter(session, r, notices=ctx, now=MONDAY)
            for r in (no_reply, loop)
        ]
        due_after = notices.reports_to_acknowledge(session, now=MONDAY + timedelta(minutes=5))
        sent = queue_notice(session, ctx, account_id, case_id)
        assert sent is not None
        token = link_token(sent.body)
        thread = notices.open_portal(session, token, ctx, MONDAY).thread
    assert due == [person, no_reply]
    assert ack is not None
    assert again is None
    assert nothing == [None, None]
    assert (ack.kind, ack.to_address, ack.report_id) == ("reporter_ack", "jo@isp.example", person)
    assert "Customer acct-1" not in ack.body
    assert "/portal/" not in ack.body
    assert ack.from_address == "Abuse Desk <abuse-desk@desk.example>"
    assert due_after == [no_reply]
    assert [m.kind for m in thread] == ["pause"]


@pytest.mark.parametrize(
    ("address", "kept"),
    [
        ("Jo <jo@isp.example>", "jo@isp.example"),
        ("", None),
        ("<>", None),
        ("noreply@isp.example", None),
        ("bounces+123@isp.example", None),
        ("postmaster@isp.example", None),
        ("abuse-desk@desk.example", None),
        ("case+1.k1.abc@elsewhere.example", None),
        ("not an address", None),
    ],
)
def test_acknowledgement_addresses(
    address: str, kept: str | None, settings: Settings, tmp_path: Path
) -> None:
    """Only addresses a person reads get an acknowledgement; never our own."""
    assert notices.acknowledgement_address(address, context_for(settings, tmp_path)) == kept


def test_a_reply_follows_a_merge_and_puts_the_case_back_in_our_court(
    container: Container,
) -> None:
    """A reply to a merged case lands on the survivor; waiting on the customer ends."""
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        survivor = make_case(session, account_id, "phishing", status="waiting_on_customer")
        merged = make_case(session, account_id, status="closed")
        session.execute(
            update(table_of(Case)).where(Case.id == merged).values(merged_into_id=survivor)
        )
        reply = notices.record_reply(
            session, case_id=merged, body="Done.", channel=Channel.EMAIL, now=MONDAY + DAY
        )
        status = session.scalar(select(Case.status).where(Case.id == survivor))
        history = kinds(session, survivor)
        on_merged = notices.case_messages(session, merged)
    assert reply.case_id == survivor
    assert on_merged == []
    assert status == "investigating"
    assert history[-2:] == ["customer_reply", "transition"]


FREE_TEXT = {
    "subject": "Spam complaint from Jane Doe, Mailbox Inc. legal team",
    "title": "Notice by J. Doe on behalf of Rights Holder Ltd",
    "description": "I am Jane Doe and I never signed up",
    "evidence_subject": "Jane, your invoice is ready",
    "message_text": "Hi Jane Doe, claim your prize",
}


@pytest.mark.parametrize("policy", ["organisation", "hide"])
def test_free_text_that_may_name_the_reporter_is_left_out(
    container: Container, settings: Settings, tmp_path: Path, policy: str
) -> None:
    """Unless reporters are shown in full, report text never reaches the customer."""
    ctx = context_for(settings, tmp_path, reporter_policy=policy)
    with unit_of_work(container.sessions) as session:
        account_id, case_id, event_id = complaint_on_case(
            session,
            reporter="abuse@mailbox.example",
            details={**FREE_TEXT, "feedback_type": "abuse", "arrival_date": "2026-11-02"},
        )
        shown = notices.redacted_evidence(session, case_id, ctx)
        sent = queue_notice(session, ctx, account_id, case_id, event_ids=[event_id])
        rendered = notice_templates.preview(
            session, kind="pause", category="", subject="s",
            body="{{ evidence[0].summary }}|{{ evidence[0].details }}",
            case_id=case_id, notices=ctx, now=MONDAY,
        )  # fmt: skip
    (item,) = shown
    assert item["summary"] == "abuse"
    assert set(item["details"]) == {"feedback_type", "arrival_date"}
    assert sent is not None
    for words in ("Jane", "Doe", "Mailbox Inc", "Rights Holder"):
        assert words not in sent.body
        assert words not in rendered.body


def test_free_text_is_quoted_redacted_when_reporters_are_shown(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """With the policy ``show`` the report's words are kept, addresses still tagged."""
    ctx = context_for(settings, tmp_path, reporter_policy="show")
    with unit_of_work(container.sessions) as session:
        _, case_id, _ = complaint_on_case(
            session, details={**FREE_TEXT, "subject": f"complaint about mail to {COMPLAINANT}"}
        )
        (item,) = notices.redacted_evidence(session, case_id, ctx)
    assert item["summary"].startswith("complaint about mail to [recipient ")
    assert "I am Jane Doe" in item["summary"]
    assert COMPLAINANT not in str(item)
    assert item["details"]["message_text"] == FREE_TEXT["message_text"]
