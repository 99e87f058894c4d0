"""Enforcement actions over real HTTP: proposed on the case page, approved by a second analyst,
run through the signed webhook to a real receiver, failing and dead-lettered while it is
down, retried, reversed and rejected; who may do what, and what each step audits."""

import re
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from abusedesk.cases.routing import Queue
from abusedesk.connectors import build_connector, retry_policy
from abusedesk.core.clock import utcnow
from abusedesk.messaging.keys import notice_context
from abusedesk.pipeline.enforcement import push_suppressions
from abusedesk.storage import appeals, casework, queues
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import (
    Account,
    AuditEntry,
    CustomerMessage,
    EnforcementAction,
    Resource,
    Suppression,
)
from abusedesk.web.portal import attachment_limits
from tests.support.enforcement import pending_suppression
from tests.support.enforcement_pages import (
    Workbenches,
    account_id_of,
    action_tags,
    actions,
    idempotency_key,
    quote_complaints,
    signed_in,
    standing,
)
from tests.support.webhook import Receiver
from tests.support.workbench import Workbench, analyst_in, complaint_case


def _case(
    benches: Workbenches, receiver: Receiver | None = None, *, max_attempts: int = 8
) -> tuple[Workbench, int]:
    """Serve a workbench (actions to *receiver*, or local) with ana, lee and lou, and a case."""
    bench = benches.serve(receiver, max_attempts=max_attempts)
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    analyst_in(bench.container, "lee", "lead", "triage")
    analyst_in(bench.container, "lou", "lead", "triage")
    return bench, complaint_case(bench.container)


def _post(client_csrf: tuple[httpx.Client, str], path: str, **fields: str) -> httpx.Response:
    client, csrf = client_csrf
    return client.post(path, data={"csrf_token": csrf, **fields})


def _propose(
    client_csrf: tuple[httpx.Client, str], case_id: int, action: str, **fields: str
) -> httpx.Response:
    form = {
        "action": action,
        "cause": "spam",
        "reason": f"{action}: complaints keep coming",
        "figures": "complaint_rate: 0.0062\ncomplaints: 77",
        **fields,
    }
    return _post(client_csrf, f"/cases/{case_id}/actions", **form)


def _give_contact(bench: Workbench) -> None:
    with unit_of_work(bench.container.sessions) as session:
        session.execute(
            update(Account)
            .where(Account.external_id == "4411")
            .values(contact_email="ops@customer.example")
        )


def _only_action(bench: Workbench) -> int:
    listed = actions(bench.container)
    assert len(listed) >= 1
    return listed[-1][0]


def _proposed(
    client_csrf: tuple[httpx.Client, str], bench: Workbench, case_id: int, action: str
) -> int:
    _propose(client_csrf, case_id, action)
    return _only_action(bench)


def test_a_suspension_waits_for_a_second_analyst_then_runs_through_the_signed_webhook(
    benches: Workbenches,
) -> None:
    """Proposed by one analyst, approved by a lead: the receiver gets one signed call."""
    receiver = benches.receiver()
    bench, case_id = _case(benches, receiver)
    with signed_in(bench.base_url, "ana") as ana, signed_in(bench.base_url, "lee") as lee:
        proposed = _propose(ana, case_id, "suspend")
        action_id = _only_action(bench)
        standing_before = standing(bench.container)
        calls_before = list(receiver.applied)
        seen_by_ana = ana[0].get("/actions").text
        seen_by_lee = lee[0].get("/actions").text
        approved = _post(lee, f"/actions/{action_id}/approve", back="/actions")
        case_page = ana[0].get(f"/cases/{case_id}").text

    assert (proposed.status_code, proposed.headers["location"]) == (
        303,
        f"/cases/{case_id}?done=proposed",
    )
    assert (standing_before, calls_before) == ("healthy", [])
    assert "Waiting for another analyst to approve." in seen_by_ana
    assert f'action="/actions/{action_id}/approve"' not in seen_by_ana
    assert f'action="/actions/{action_id}/approve"' in seen_by_lee
    assert (approved.status_code, approved.headers["location"]) == (303, "/actions?done=executed")
    assert standing(bench.container) == "suspended"
    assert [
        (c["idempotency_key"], c["action"], c["account"], c["case_id"]) for c in receiver.applied
    ] == [(idempotency_key(bench.container, action_id), "suspend", "4411", case_id)]
    assert receiver.outcomes() == ["applied"]
    assert action_tags(bench.container, action_id) == [
        ("enforcement:action:propose", "ana"),
        ("enforcement:action:approve", "lee"),
        ("enforcement:action:execute", "lee"),
    ]
    assert re.search(r"Executed</dt><dd>by lee <time", case_page)
    assert "Approved</dt><dd>by lee" in case_page


def test_the_proposer_cannot_approve_their_own_action(benches: Workbenches) -> None:
    """A lead's own proposal shows no approve button, and posting one anyway is refused."""
    bench, case_id = _case(benches)
    with signed_in(bench.base_url, "lee") as lee:
        action_id = _proposed(lee, bench, case_id, "suspend")
        page = lee[0].get(f"/cases/{case_id}").text
        refused = _post(lee, f"/actions/{action_id}/approve", back=f"/cases/{case_id}")

    assert f'action="/actions/{action_id}/approve"' not in page
    assert refused.status_code == 409
    assert "lee proposed this action and cannot approve it" in refused.text
    assert actions(bench.container) == [(action_id, "suspend", "proposed")]
    assert standing(bench.container) == "healthy"
    assert [tag for tag, _ in action_tags(bench.container, action_id)] == [
        "enforcement:action:propose"
    ]


def test_an_action_that_needs_no_second_analyst_runs_on_proposal(benches: Workbenches) -> None:
    """A warning (no approval in the default policy) executes as it is proposed."""
    bench, case_id = _case(benches)
    with signed_in(bench.base_url, "ana") as ana:
        proposed = _propose(ana, case_id, "warn")
        shown = ana[0].get(proposed.headers["location"]).text
    action_id = _only_action(bench)

    assert proposed.headers["location"] == f"/cases/{case_id}?done=executed"
    assert "The action is executed." in shown
    assert standing(bench.container) == "warned"
    assert action_tags(bench.container, action_id) == [
        ("enforcement:action:propose", "ana"),
        ("enforcement:action:execute", "ana"),
    ]


def test_a_connector_that_is_down_leaves_the_action_failed_and_a_retry_runs_it(
    benches: Workbenches,
) -> None:
    """While the receiver answers 503 nothing is executed; the retry sends the same key."""
    receiver = benches.receiver()
    bench, case_id = _case(benches, receiver)
    receiver.status = 503
    with signed_in(bench.base_url, "ana") as ana, signed_in(bench.base_url, "lee") as lee:
        action_id = _proposed(ana, bench, case_id, "pause")
        approved = _post(lee, f"/actions/{action_id}/approve", back=f"/cases/{case_id}")
        failed_state = actions(bench.container)
        standing_down = standing(bench.container)
        case_page = ana[0].get(approved.headers["location"]).text
        listed = ana[0].get("/actions").text
        receiver.status = None
        retried = _post(ana, f"/actions/{action_id}/execute", back=f"/cases/{case_id}")

    assert approved.headers["location"] == f"/cases/{case_id}?done=failed"
    assert failed_state == [(action_id, "pause", "failed")]
    assert standing_down == "healthy"
    assert "The connector failed; the action is not executed" in case_page
    assert "1 attempt(s); last failure:" in case_page
    assert "next attempt <time" in case_page
    failing = listed.split('id="failing"')[1].split('id="executed"')[0]
    assert f'id="action-{action_id}"' in failing
    assert retried.headers["location"] == f"/cases/{case_id}?done=executed"
    assert standing(bench.container) == "paused"
    assert [c["idempotency_key"] for c in receiver.applied] == [
        idempotency_key(bench.container, action_id)
    ]


def test_an_exhausted_action_is_a_dead_letter_until_retried(benches: Workbenches) -> None:
    """With one attempt allowed, a failure dead-letters it; the dead-letter retry runs it."""
    receiver = benches.receiver()
    bench, case_id = _case(benches, receiver, max_attempts=1)
    receiver.status = 503
    with signed_in(bench.base_url, "ana") as ana, signed_in(bench.base_url, "lee") as lee:
        action_id = _proposed(ana, bench, case_id, "pause")
        approved = _post(lee, f"/actions/{action_id}/approve", back=f"/cases/{case_id}")
        letters = ana[0].get("/dead-letters").text
        receiver.status = None
        retried = _post(ana, f"/dead-letters/{action_id}/retry", back="/dead-letters")
        after = ana[0].get("/dead-letters").text

    assert approved.headers["location"] == f"/cases/{case_id}?done=dead"
    assert f'id="dead-action-{action_id}"' in letters
    assert retried.headers["location"] == "/dead-letters?done=executed"
    assert f'id="dead-action-{action_id}"' not in after
    assert standing(bench.container) == "paused"
    assert len(receiver.applied) == 1


def test_a_reversal_runs_the_opposite_action_with_its_own_reason(benches: Workbenches) -> None:
    """Reversing a pause resumes the account (throttled) and marks the pause reversed."""
    bench, case_id = _case(benches)
    with signed_in(bench.base_url, "ana") as ana, signed_in(bench.base_url, "lee") as lee:
        pause_id = _proposed(ana, bench, case_id, "pause")
        _post(lee, f"/actions/{pause_id}/approve")
        no_reason = _post(ana, f"/actions/{pause_id}/reverse", reason=" ", back=f"/cases/{case_id}")
        reversed_ = _post(
            ana,
            f"/actions/{pause_id}/reverse",
            reason="the list was bought by a former employee",
            back=f"/cases/{case_id}",
        )
    with read_only(bench.container.sessions) as session:
        reversal = session.execute(
            select(EnforcementAction.reason, EnforcementAction.reverses_action_id).where(
                EnforcementAction.id == pause_id + 1
            )
        ).one()

    assert no_reason.status_code == 409
    assert "needs words" in no_reason.text
    assert reversed_.headers["location"] == f"/cases/{case_id}?done=executed"
    assert actions(bench.container) == [
        (pause_id, "pause", "reversed"),
        (pause_id + 1, "resume", "executed"),
    ]
    assert tuple(reversal) == ("the list was bought by a former employee", pause_id)
    assert standing(bench.container) == "throttled"


def test_a_lead_rejects_a_proposal_only_with_a_reason(benches: Workbenches) -> None:
    """A rejection without words is refused; with them the action is rejected and audited."""
    bench, case_id = _case(benches)
    with signed_in(bench.base_url, "ana") as ana, signed_in(bench.base_url, "lee") as lee:
        action_id = _proposed(ana, bench, case_id, "suspend")
        wordless = _post(lee, f"/actions/{action_id}/reject", reason="")
        rejected = _post(
            lee, f"/actions/{action_id}/reject", reason="a warning is enough for a first offence"
        )

    assert wordless.status_code == 409
    assert rejected.headers["location"] == "/actions?done=rejected"
    assert actions(bench.container) == [(action_id, "suspend", "rejected")]
    assert action_tags(bench.container, action_id)[-1] == ("enforcement:action:reject", "lee")


def test_figures_that_are_not_name_value_lines_are_refused_and_nothing_is_stored(
    benches: Workbenches,
) -> None:
    """The case page says which figures line is wrong; no action is proposed."""
    bench, case_id = _case(benches)
    with signed_in(bench.base_url, "ana") as ana:
        refused = _propose(ana, case_id, "warn", figures="complaints: 3\nRate!! very high")

    assert refused.status_code == 409
    assert "figures line 2: write name: value" in refused.text
    assert actions(bench.container) == []


def test_a_resource_action_names_one_resource_of_the_account(benches: Workbenches) -> None:
    """Blocking a domain needs the resource; with it the receiver hears kind and value."""
    receiver = benches.receiver()
    bench, case_id = _case(benches, receiver)
    with read_only(bench.container.sessions) as session:
        resource_id = session.scalar(
            select(Resource.id).where(Resource.value == "news.example.com")
        )
    with signed_in(bench.base_url, "ana") as ana:
        page = ana[0].get(f"/cases/{case_id}").text
        unnamed = _propose(ana, case_id, "block_domain")
        named = _propose(ana, case_id, "block_domain", resource_id=str(resource_id))

    assert f'<option value="{resource_id}">identity domain news.example.com</option>' in page
    assert unnamed.status_code == 409
    assert "block_domain acts on one resource; name it" in unnamed.text
    assert named.headers["location"] == f"/cases/{case_id}?done=executed"
    assert [(c["action"], c["resource"]) for c in receiver.applied] == [
        ("block_domain", {"kind": "identity_domain", "value": "news.example.com"})
    ]
    assert standing(bench.container) == "healthy"


def test_the_case_page_quotes_the_accounts_rate_and_what_the_policy_says(
    benches: Workbenches,
) -> None:
    """77 complaints over 12,400 feedback-loop messages: 0.62%, and policy v1 says pause."""
    bench, case_id = _case(benches)
    quote_complaints(bench.container, hours_back=48)
    with signed_in(bench.base_url, "ana") as ana:
        page = ana[0].get(f"/cases/{case_id}").text

    assert "complaint rate 0.62% over the last 12,400 messages to feedback-loop domains" in page
    assert "policy v1 says pause (review at 0.10%, pause at 0.50%)" in page
    assert "complaint_rate: 0.00621" in page
    assert re.search(r'id="propose-cause"[^>]*value="complaint_rate"', page)


def test_who_may_see_propose_and_approve(benches: Workbenches) -> None:
    """Auditors see /actions but act on nothing; tier-1 analysts propose but never approve."""
    bench, case_id = _case(benches)
    analyst_in(bench.container, "aud", "auditor")
    analyst_in(bench.container, "root", "admin")
    with (
        signed_in(bench.base_url, "ana") as ana,
        signed_in(bench.base_url, "aud") as aud,
        signed_in(bench.base_url, "root") as root,
    ):
        action_id = _proposed(ana, bench, case_id, "suspend")
        auditor_list = aud[0].get("/actions")
        auditor_case = aud[0].get(f"/cases/{case_id}").text
        answers = {
            "analyst approves": _post(ana, f"/actions/{action_id}/approve").status_code,
            "auditor rejects": _post(aud, f"/actions/{action_id}/reject", reason="x").status_code,
            "admin proposes": _propose(root, case_id, "warn").status_code,
        }

    assert auditor_list.status_code == 200
    assert f'id="action-{action_id}"' in auditor_list.text
    assert 'id="propose-action"' not in auditor_case
    assert answers == {"analyst approves": 403, "auditor rejects": 403, "admin proposes": 403}
    assert actions(bench.container) == [(action_id, "suspend", "proposed")]


def test_a_form_goes_back_only_to_the_workbench_pages_it_came_from(benches: Workbenches) -> None:
    """An outside address in *back* is ignored: the answer goes to /actions."""
    bench, case_id = _case(benches)
    with signed_in(bench.base_url, "ana") as ana, signed_in(bench.base_url, "lee") as lee:
        action_id = _proposed(ana, bench, case_id, "suspend")
        answer = _post(
            lee, f"/actions/{action_id}/reject", reason="no", back="https://evil.example/"
        )

    assert answer.headers["location"] == "/actions?done=rejected"


def test_what_analysts_type_is_shown_escaped(benches: Workbenches) -> None:
    """A reason and a figure with markup appear as text on the case page and /actions."""
    bench, case_id = _case(benches)
    with signed_in(bench.base_url, "ana") as ana:
        _propose(
            ana,
            case_id,
            "suspend",
            reason="<script>alert(1)</script>",
            figures="note: <img src=x onerror=alert(2)>",
        )
        pages = [ana[0].get(f"/cases/{case_id}").text, ana[0].get("/actions").text]

    for page in pages:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&lt;img src=x onerror=alert(2)&gt;" in page
        assert "<script>alert" not in page


def test_a_standing_changed_elsewhere_refuses_an_approval_the_ladder_no_longer_allows(
    benches: Workbenches,
) -> None:
    """A terminated account cannot be suspended: the approval is refused, nothing runs."""
    bench, case_id = _case(benches)
    with signed_in(bench.base_url, "ana") as ana, signed_in(bench.base_url, "lee") as lee:
        action_id = _proposed(ana, bench, case_id, "suspend")
        with unit_of_work(bench.container.sessions) as session:
            session.execute(
                update(Account).where(Account.external_id == "4411").values(standing="terminated")
            )
        refused = _post(lee, f"/actions/{action_id}/approve")

    assert refused.status_code == 409
    assert "suspend" in refused.text
    assert actions(bench.container) == [(action_id, "suspend", "proposed")]


def test_the_case_page_shows_the_notice_sent_and_the_customers_appeal(
    benches: Workbenches,
) -> None:
    """An executed pause queues a notice on the thread; its appeal shows, linked for reviewers."""
    bench, case_id = _case(benches)
    _give_contact(bench)
    with signed_in(bench.base_url, "ana") as ana, signed_in(bench.base_url, "lee") as lee:
        action_id = _proposed(ana, bench, case_id, "pause")
        _post(lee, f"/actions/{action_id}/approve")
        with unit_of_work(bench.container.sessions) as session:
            context = notice_context(bench.container.settings)
            appeal = appeals.submit_appeal(
                session,
                action_id,
                root_cause="a <b>bought</b> list",
                fix="we removed the list",
                prevention="double opt-in from now on",
                uploads=[],
                limits=attachment_limits(context),
                now=utcnow(),
                notices=context,
            )
        analyst_page = ana[0].get(f"/cases/{case_id}").text
        lead_page = lee[0].get(f"/cases/{case_id}").text

    thread = lead_page.split('id="messages"')[1]
    assert "To the customer" in thread
    assert "ops@customer.example" in thread
    assert re.search(r"pause by email, <time[^>]*>[^<]*</time>;\s*pending", thread)
    assert "appeal received" in thread
    panel = lead_page.split('id="appeals"')[1].split('id="messages"')[0]
    assert f'<a href="/appeals/{appeal.id}">Appeal #{appeal.id}</a>' in panel
    assert f'<a href="#action-{action_id}">action #{action_id}</a>' in panel
    assert "a &lt;b&gt;bought&lt;/b&gt; list" in panel
    assert f'<a href="/appeals/{appeal.id}">' not in analyst_page
    assert f"Appeal #{appeal.id} against" in analyst_page


def test_an_undelivered_message_is_sent_again_from_the_case_page(benches: Workbenches) -> None:
    """A dead notice gets a button; pressing it puts the message back in line, audited."""
    bench, case_id = _case(benches)
    _give_contact(bench)
    with signed_in(bench.base_url, "ana") as ana:
        _propose(ana, case_id, "warn")
        with unit_of_work(bench.container.sessions) as session:
            message_id = session.scalar(select(CustomerMessage.id))
            session.execute(
                update(CustomerMessage)
                .where(CustomerMessage.id == message_id)
                .values(state="dead", attempts=8, failure="SMTPServerDisconnected: gone")
            )
        page = ana[0].get(f"/cases/{case_id}").text
        resent = _post(ana, f"/cases/{case_id}/messages/{message_id}/resend")
        again = _post(ana, f"/cases/{case_id}/messages/{message_id}/resend")
        elsewhere = _post(ana, f"/cases/{case_id + 1}/messages/{message_id}/resend")
    with read_only(bench.container.sessions) as session:
        state = session.scalar(select(CustomerMessage.state))
        audited = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.tag == "notices:message:resend")
        ).all()

    assert "Delivery: 8 attempt(s); SMTPServerDisconnected: gone" in page
    assert f'action="/cases/{case_id}/messages/{message_id}/resend"' in page
    assert resent.headers["location"] == f"/cases/{case_id}?done=resent"
    assert state == "pending"
    assert list(audited) == ["ana"]
    assert again.status_code == 409
    assert "only undelivered ones resend" in again.text
    assert elsewhere.status_code == 404


def test_a_dead_suppression_push_is_put_back_in_line_from_the_dead_letters(
    benches: Workbenches,
) -> None:
    """A batch the receiver refused to the end is listed; "push again" makes it pending."""
    receiver = benches.receiver()
    bench = benches.serve(receiver, max_attempts=1)
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    complaint_case(bench.container)
    receiver.status = 503
    now = utcnow()
    with unit_of_work(bench.container.sessions) as session:
        pending_suppression(session, account_id_of(session), "someone@example.org", now=now)
    push_suppressions(
        bench.container.sessions,
        build_connector(bench.container.settings.connector),
        now=now,
        retry=retry_policy(bench.container.settings.connector),
        batch_size=10,
    )
    with read_only(bench.container.sessions) as session:
        push_key = session.scalar(select(Suppression.push_key))
    with signed_in(bench.base_url, "ana") as ana:
        letters = ana[0].get("/dead-letters").text
        pushed = _post(ana, f"/dead-letters/suppressions/{push_key}/retry")
    with read_only(bench.container.sessions) as session:
        state = session.scalar(select(Suppression.state))

    assert f'id="dead-push-{push_key}"' in letters
    assert "suppression list: 1 address(es)" in letters
    assert pushed.headers["location"] == "/dead-letters?done=requeued"
    assert state == "pending"
    assert receiver.applied == []


def _to_advanced_queue(bench: Workbench, case_id: int) -> None:
    with unit_of_work(bench.container.sessions) as session:
        queues.save_queue(
            session, Queue("rings", "advanced"), response=timedelta(hours=8),
            resolution=timedelta(days=5), actor="test", now=utcnow(),
        )  # fmt: skip
        casework.transfer(session, case_id, "rings", actor="test", now=utcnow(), reason="ring")


def test_actions_on_an_advanced_tier_case_are_for_analysts_who_work_that_tier(
    benches: Workbenches,
) -> None:
    """A basic analyst can neither run, reverse nor retry an advanced case's actions; a lead can.

    The lists show her those actions marked, without their buttons.
    """
    receiver = benches.receiver()
    bench, case_id = _case(benches, receiver, max_attempts=2)
    with signed_in(bench.base_url, "lee") as lee, signed_in(bench.base_url, "lou") as lou:
        pause_id = _proposed(lee, bench, case_id, "pause")
        _post(lou, f"/actions/{pause_id}/approve")
        receiver.status = 503
        suspend_id = _proposed(lee, bench, case_id, "suspend")
        _post(lou, f"/actions/{suspend_id}/approve")
    _to_advanced_queue(bench, case_id)
    calls = len(receiver.requests)
    with signed_in(bench.base_url, "ana") as ana, signed_in(bench.base_url, "lee") as lee:
        listed = ana[0].get("/actions").text
        listed_to_lee = lee[0].get("/actions").text
        run = _post(ana, f"/actions/{suspend_id}/execute", back="/actions")
        undone = _post(ana, f"/actions/{pause_id}/reverse", reason="not so bad", back="/actions")
        calls_after_ana = len(receiver.requests)
        dead = _post(lee, f"/actions/{suspend_id}/execute", back="/actions")
        letters = ana[0].get("/dead-letters").text
        letters_to_lee = lee[0].get("/dead-letters").text
        retried = _post(ana, f"/dead-letters/{suspend_id}/retry", back="/dead-letters")
        receiver.status = None
        retried_by_lee = _post(lee, f"/dead-letters/{suspend_id}/retry", back="/dead-letters")

    assert (run.status_code, undone.status_code, retried.status_code) == (403, 403, 403)
    assert calls_after_ana == calls
    assert "ana" not in [actor for _, actor in action_tags(bench.container, suspend_id)]
    assert "ana" not in [actor for _, actor in action_tags(bench.container, pause_id)]
    failing = listed.split('id="failing"')[1].split('id="executed"')[0]
    assert f'id="action-{suspend_id}"' in failing
    assert f'action="/actions/{suspend_id}/execute"' not in listed
    assert f'action="/actions/{pause_id}/reverse"' not in listed
    assert "Advanced-tier case" in failing
    assert f'action="/actions/{suspend_id}/execute"' in listed_to_lee
    assert f'action="/actions/{pause_id}/reverse"' in listed_to_lee
    assert dead.headers["location"] == "/actions?done=dead"
    row = letters.split(f'id="dead-action-{suspend_id}"')[1].split("</tr>")[0]
    assert "advanced-tier case" in row
    assert f'action="/dead-letters/{suspend_id}/retry"' not in letters
    assert f'action="/dead-letters/{suspend_id}/retry"' in letters_to_lee
    assert retried_by_lee.headers["location"] == "/dead-letters?done=executed"
    assert actions(bench.container) == [
        (pause_id, "pause", "executed"),
        (suspend_id, "suspend", "executed"),
    ]
