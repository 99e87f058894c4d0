"""The notice template admin pages over real HTTP: the list, saving versions, the sandbox's
refusals, a preview with a real case's figures, and who may use them."""

from sqlalchemy import func, select

from abusedesk.storage.db import read_only
from abusedesk.storage.tables import (
    AuditEntry,
    CustomerMessage,
    NoticeTemplate,
)
from tests.support.enforcement_pages import Workbenches, quote_complaints, signed_in, stored
from tests.support.workbench import Workbench, analyst_in, complaint_case

BODY = "Hello {{ account.name }},\n\n{{ figures.complaint_rate.sentence }}.\n"


def _saved(bench: Workbench) -> list[tuple[str, str, int, str]]:
    template = NoticeTemplate
    columns = (template.kind, template.category, template.version, template.note)
    return stored(bench.container, *columns, order_by=template.id)


def _form(csrf: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "kind": "pause",
        "category": "spam",
        "subject": "[{{ case.reference }}] We paused {{ account.name }}",
        "body": BODY,
        "note": "quote the complaint rate",
        **fields,
    }


def test_an_admin_saves_a_template_version_for_a_kind_and_category(benches: Workbenches) -> None:
    """The list shows the built-in templates; saving writes version 1, audited with its note."""
    bench = benches.serve()
    analyst_in(bench.container, "root", "admin")
    with signed_in(bench.base_url, "root") as (admin, csrf):
        listed = admin.get("/admin/notices").text
        editor = admin.get("/admin/notices/edit?kind=pause&category=spam").text
        saved = admin.post("/admin/notices/edit", data=_form(csrf))
        after = admin.get(saved.headers["location"]).text
        listed_after = admin.get("/admin/notices").text
    with read_only(bench.container.sessions) as session:
        audited = session.execute(
            select(AuditEntry.actor, AuditEntry.subject_id, AuditEntry.reason).where(
                AuditEntry.tag == "notices:template:save"
            )
        ).all()

    assert '<tr id="template-pause-any">' in listed
    assert 'id="notice-body"' in editor
    assert "No saved version for this kind and category" in editor
    assert (saved.status_code, saved.headers["location"]) == (
        303,
        "/admin/notices/edit?kind=pause&category=spam&done=saved",
    )
    assert "The new template version is in force for new notices." in after
    assert "<tr><td>1</td><td>root</td>" in after
    assert '<tr id="template-pause-spam">' in listed_after
    assert _saved(bench) == [("pause", "spam", 1, "quote the complaint rate")]
    assert [tuple(row) for row in audited] == [("root", "pause/spam", "quote the complaint rate")]


def test_a_template_that_leaves_the_sandbox_or_names_unknown_things_is_refused(
    benches: Workbenches,
) -> None:
    """Private attributes, unknown variables and syntax errors are refused by place."""
    bench = benches.serve()
    analyst_in(bench.container, "root", "admin")
    with signed_in(bench.base_url, "root") as (admin, csrf):
        escape = admin.post(
            "/admin/notices/edit",
            data=_form(csrf, body="{{ account.__class__.__mro__ }}"),
        )
        unknown = admin.post("/admin/notices/edit", data=_form(csrf, body="{{ settings.secret }}"))
        broken = admin.post("/admin/notices/edit", data=_form(csrf, body="{% if %}"))
        no_note = admin.post("/admin/notices/edit", data=_form(csrf, note=""))

    assert escape.status_code == 422
    assert "sandbox" in escape.text
    assert unknown.status_code == 422
    assert "body: unknown variable settings" in unknown.text
    assert broken.status_code == 422
    assert "body line 1:" in broken.text
    assert no_note.status_code == 422
    assert "note: say what this version changes" in no_note.text
    assert "{{ settings.secret }}" in unknown.text
    assert _saved(bench) == []


def test_a_preview_renders_the_draft_with_a_real_case_and_sends_nothing(
    benches: Workbenches,
) -> None:
    """The account's name and its real complaint rate appear; no message, no version."""
    bench = benches.serve()
    analyst_in(bench.container, "root", "admin")
    case_id = complaint_case(bench.container)
    quote_complaints(bench.container, hours_back=24)
    with signed_in(bench.base_url, "root") as (admin, csrf):
        previewed = admin.post(
            "/admin/notices/preview", data={**_form(csrf), "case_id": str(case_id)}
        )
        missing = admin.post("/admin/notices/preview", data={**_form(csrf), "case_id": "999999"})
    with read_only(bench.container.sessions) as session:
        messages = session.scalar(select(func.count(CustomerMessage.id)))

    assert previewed.status_code == 200
    assert (
        f'<span id="preview-subject">[case {case_id}] We paused Customer 4411</span>'
        in previewed.text
    )
    assert "Hello Customer 4411," in previewed.text
    assert (
        "complaint rate 0.62% over the last 12,400 messages to feedback-loop domains"
        in previewed.text
    )
    assert missing.status_code == 422
    assert "no case 999999" in missing.text
    assert (messages, _saved(bench)) == (0, [])


def test_only_notice_admins_open_or_save_templates(benches: Workbenches) -> None:
    """A lead may not edit what customers are sent."""
    bench = benches.serve()
    analyst_in(bench.container, "lee", "lead")
    with signed_in(bench.base_url, "lee") as (lead, csrf):
        answers = [
            lead.get("/admin/notices").status_code,
            lead.post("/admin/notices/edit", data=_form(csrf)).status_code,
            lead.post("/admin/notices/preview", data={**_form(csrf), "case_id": "1"}).status_code,
        ]

    assert answers == [403, 403, 403]
    assert _saved(bench) == []


def test_an_unknown_kind_gets_a_clear_answer(benches: Workbenches) -> None:
    """The editor names the kind it does not know."""
    bench = benches.serve()
    analyst_in(bench.container, "root", "admin")
    with signed_in(bench.base_url, "root") as (admin, _):
        answer = admin.get("/admin/notices/edit?kind=nuke&category=")

    assert answer.status_code == 404
    assert "kind: &#39;nuke&#39; is not an action or a message kind" in answer.text
