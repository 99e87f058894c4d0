"""The enforcement policy admin page over real HTTP: versions, the editor, refusals, who may."""

import json

import httpx
from sqlalchemy import select

from abusedesk.storage.db import read_only
from abusedesk.storage.tables import AuditEntry, EnforcementAction, EnforcementPolicyRow
from tests.support.enforcement_pages import signed_in, stored
from tests.support.workbench import Workbench, analyst_in, complaint_case

STRICTER = {
    "thresholds": {
        "bounce_rate": {"review": 0.04, "pause": 0.08},
        "complaint_rate": {"review": 0.001, "pause": 0.003},
    },
    "review_period_days": 10,
    "repeat_offences": [{"action": "review", "within_days": 90, "escalate_to": "pause"}],
    "approval_required": ["pause", "suspend", "terminate"],
}


def _versions(bench: Workbench) -> list[tuple[int, str, str]]:
    policy = EnforcementPolicyRow
    columns = (policy.version, policy.author, policy.note)
    return stored(bench.container, *columns, order_by=policy.version)


def _save(
    admin: httpx.Client, csrf: str, policy_json: str, note: str, base_version: str = "1"
) -> httpx.Response:
    return admin.post(
        "/admin/policy",
        data={
            "csrf_token": csrf,
            "policy_json": policy_json,
            "note": note,
            "base_version": base_version,
        },
    )


def test_an_admin_saves_a_stricter_policy_and_the_next_action_cites_it(bench: Workbench) -> None:
    """Version 2 is in force, audited with its note, and a new pause needs a second analyst."""
    analyst_in(bench.container, "root", "admin")
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    case_id = complaint_case(bench.container)
    with signed_in(bench.base_url, "root") as (admin, csrf):
        before = admin.get("/admin/policy").text
        saved = _save(admin, csrf, json.dumps(STRICTER), "pause needs a second analyst")
        after = admin.get(saved.headers["location"]).text
    with signed_in(bench.base_url, "ana") as (analyst, analyst_csrf):
        analyst.post(
            f"/cases/{case_id}/actions",
            data={
                "csrf_token": analyst_csrf,
                "action": "pause",
                "cause": "complaint_rate",
                "reason": "complaints over the limit",
                "figures": "complaint_rate: 0.004",
            },
        )
    with read_only(bench.container.sessions) as session:
        action = session.execute(
            select(
                EnforcementAction.policy_version,
                EnforcementAction.state,
                EnforcementAction.needs_approval,
            )
        ).one()
        audited = session.execute(
            select(AuditEntry.actor, AuditEntry.reason).where(
                AuditEntry.tag == "enforcement:policy:save"
            )
        ).all()

    assert "Enforcement policy, version 1" in before
    assert (saved.status_code, saved.headers["location"]) == (303, "/admin/policy?done=saved")
    assert "Enforcement policy, version 2" in after
    assert "The new policy version is in force." in after
    assert '<dd id="approval-required">pause, suspend, terminate</dd>' in after
    assert _versions(bench) == [
        (1, "abusedesk", "the default policy"),
        (2, "root", "pause needs a second analyst"),
    ]
    assert [tuple(row) for row in audited] == [("root", "pause needs a second analyst")]
    assert tuple(action) == (2, "proposed", True)


def test_a_policy_with_problems_is_refused_with_each_problem_by_place(bench: Workbench) -> None:
    """Nothing is saved; the page lists each problem and keeps the draft."""
    analyst_in(bench.container, "root", "admin")
    broken = {
        "thresholds": {"complaint_rate": {"review": 0.01, "pause": 0.005}},
        "approval_required": ["terminate"],
    }
    with signed_in(bench.base_url, "root") as (admin, csrf):
        refused = _save(admin, csrf, json.dumps(broken), "oops")
        not_json = _save(admin, csrf, "{", "x")
        no_note = _save(admin, csrf, "{}", " ")

    assert refused.status_code == 422
    assert "thresholds.complaint_rate: the review rate must be below the pause rate" in refused.text
    assert "approval_required: add back suspend" in refused.text
    assert "&#34;pause&#34;: 0.005" in refused.text
    assert not_json.status_code == 422
    assert "JSON: line 1, column 2" in not_json.text
    assert no_note.status_code == 422
    assert "note: say what this version changes" in no_note.text
    assert [version for version, _, _ in _versions(bench) if version > 1] == []


def test_an_edit_made_from_an_older_version_is_refused(bench: Workbench) -> None:
    """Two admins edit version 1; the second save is refused instead of overwriting."""
    analyst_in(bench.container, "root", "admin")
    with signed_in(bench.base_url, "root") as (admin, csrf):
        first = _save(admin, csrf, json.dumps(STRICTER), "first")
        second = _save(admin, csrf, json.dumps(STRICTER), "second")

    assert first.status_code == 303
    assert second.status_code == 409
    assert "the policy changed meanwhile (now version 2)" in second.text
    assert [note for _, _, note in _versions(bench)] == ["the default policy", "first"]


def test_only_policy_admins_open_or_save_the_policy(bench: Workbench) -> None:
    """A lead approves actions but does not write the policy."""
    analyst_in(bench.container, "lee", "lead")
    with signed_in(bench.base_url, "lee") as (lead, csrf):
        page = lead.get("/admin/policy")
        saved = _save(lead, csrf, "{}", "x")

    assert (page.status_code, saved.status_code) == (403, 403)
    assert [version for version, _, _ in _versions(bench) if version > 1] == []
