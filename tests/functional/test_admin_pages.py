"""The admin pages over real HTTP: routing rules, queues, calendars and users; who may use
them, what they refuse and what they write to the audit log."""

import html
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from abusedesk.storage import queues
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, Case, RoutingVersion
from abusedesk.storage.users import SqlUserRepository
from tests.support.access import PASSWORD, csrf_of, sign_in
from tests.support.workbench import Workbench, analyst_in, complaint_case, served_workbench

NEW_PASSWORD = "purple staple gardens"


@contextmanager
def signed_in(base_url: str, username: str) -> Iterator[tuple[httpx.Client, str]]:
    """Yield a client signed in as *username* and its CSRF token."""
    with httpx.Client(base_url=base_url) as client:
        assert sign_in(client, username).status_code == 303
        yield client, csrf_of(client)


@contextmanager
def admin_bench(database_url: str, tmp_path: Path) -> Iterator[tuple[Workbench, httpx.Client, str]]:
    """Serve the workbench with an admin "root" signed in."""
    with served_workbench(database_url, tmp_path) as bench:
        analyst_in(bench.container, "root", "admin")
        with signed_in(bench.base_url, "root") as (client, csrf):
            yield bench, client, csrf


def try_sign_in(base_url: str, username: str, password: str) -> httpx.Response:
    """Post the sign-in form from a fresh browser; return the answer."""
    with httpx.Client(base_url=base_url) as client:
        return sign_in(client, username, password)


def audit_tags(bench: Workbench) -> list[str]:
    """Return the audit log's tags, oldest first."""
    with read_only(bench.container.sessions) as session:
        return list(session.scalars(select(AuditEntry.tag).order_by(AuditEntry.id)))


def queue_form(name: str, **fields: str) -> dict[str, str]:
    """Return the queue form filled in for a basic trust & safety queue called *name*."""
    return {
        "name": name,
        "tier": "basic",
        "department": "trust_safety",
        "response_hours": "2",
        "resolution_hours": "48",
        "warning_percent": "75",
        "calendar": "",
        "description": "",
        **fields,
    }


SPAM_RULES = {
    "default_queue": "triage",
    "rules": [
        {
            "name": "spam to the spam desk",
            "queue": "spam-desk",
            "when": [{"field": "category_group", "op": "equals", "value": "spam"}],
        }
    ],
}


def test_an_admin_routes_spam_to_a_new_queue_and_a_new_case_follows(
    database_url: str, tmp_path: Path
) -> None:
    """Create a queue, save rules sending spam there, try them, ingest: the case lands there."""
    with admin_bench(database_url, tmp_path) as (bench, client, csrf):
        before = client.get("/admin/routing")
        created = client.post("/admin/queues", data={"csrf_token": csrf, **queue_form("spam-desk")})
        saved = client.post(
            "/admin/routing",
            data={
                "csrf_token": csrf,
                "rules_json": json.dumps(SPAM_RULES),
                "note": "spam has its own desk",
                "base_version": "1",
            },
        )
        after = client.get(saved.headers["location"])
        tried = client.get(
            "/admin/routing/try",
            params={"category_group": "spam", "priority": "5", "tags": "vip, reseller"},
        )
        other = client.get("/admin/routing/try", params={"category_group": "phishing"})
        case_id = complaint_case(bench.container)

        assert before.status_code == 200
        assert "Routing rules, version 1" in before.text
        assert '<strong id="default-queue">triage</strong>' in before.text
        assert before.headers["cache-control"] == "no-store"
        assert created.status_code == 303
        assert (saved.status_code, saved.headers["location"]) == (303, "/admin/routing?done=saved")
        assert "Routing rules, version 2" in after.text
        assert "category group is spam" in after.text
        assert re.search(
            r"<td>2</td><td>root</td><td>.*</td><td>spam has its own desk</td>", after.text
        )
        assert "Queue <strong>spam-desk</strong>" in tried.text
        assert "rule 1 'spam to the spam desk' of routing version 2" in html.unescape(tried.text)
        assert "default queue triage" in other.text
        with read_only(bench.container.sessions) as session:
            case = session.get(Case, case_id)
            assert case is not None
            assert queues.queue_by_id(session, case.queue_id).name == "spam-desk"
        assert "case:routing:save" in audit_tags(bench)


def test_invalid_rules_are_listed_by_place_and_the_text_is_kept(
    database_url: str, tmp_path: Path
) -> None:
    """Every problem is listed with its place; nothing is saved; the typed JSON stays."""
    broken = {
        "default_queue": "triage",
        "rules": [
            {"name": "a", "queue": "nowhere", "when": []},
            {"name": "b", "queue": "triage", "when": [{"field": "priority", "op": "matches", "value": "x"}]},
        ],
    }  # fmt: skip
    typed = json.dumps(broken, indent=1)
    with admin_bench(database_url, tmp_path) as (bench, client, csrf):
        refused = client.post(
            "/admin/routing",
            data={"csrf_token": csrf, "rules_json": typed, "note": "try", "base_version": "1"},
        )
        not_json = client.post(
            "/admin/routing",
            data={
                "csrf_token": csrf,
                "rules_json": '{"rules": [',
                "note": "x",
                "base_version": "1",
            },
        )
        no_note = client.post(
            "/admin/routing",
            data={"csrf_token": csrf, "rules_json": json.dumps(SPAM_RULES | {"rules": []}),
                  "note": " ", "base_version": "1"},
        )  # fmt: skip
        bad_try = client.get(
            "/admin/routing/try", params={"category_group": "spam", "priority": "high"}
        )

        assert refused.status_code == 422
        assert "rules[0].queue: unknown queue 'nowhere'" in html.unescape(refused.text)
        assert "rules[1].when[0].op: priority allows" in refused.text
        assert typed in html.unescape(refused.text)
        assert (not_json.status_code, "JSON: line 1" in not_json.text) == (422, True)
        assert (no_note.status_code, "note: say what this version changes" in no_note.text) == (
            422,
            True,
        )
        assert (bad_try.status_code, "is not a whole number" in bad_try.text) == (422, True)
        with read_only(bench.container.sessions) as session:
            assert (
                session.scalar(
                    select(RoutingVersion.version).order_by(RoutingVersion.version.desc())
                )
                == 1
            )


def test_an_edit_from_an_older_version_is_refused_not_overwriting(
    database_url: str, tmp_path: Path
) -> None:
    """Two admins edit version 1; the second to save is told the rules changed meanwhile."""
    with admin_bench(database_url, tmp_path) as (bench, client, csrf):
        client.post("/admin/queues", data={"csrf_token": csrf, **queue_form("spam-desk")})
        first = client.post(
            "/admin/routing",
            data={"csrf_token": csrf, "rules_json": json.dumps(SPAM_RULES), "note": "one",
                  "base_version": "1"},
        )  # fmt: skip
        second = client.post(
            "/admin/routing",
            data={"csrf_token": csrf, "rules_json": '{"default_queue": "spam-desk", "rules": []}',
                  "note": "two", "base_version": "1"},
        )  # fmt: skip
        stale_rule = client.post(
            "/admin/routing/rules/1/queue",
            data={"csrf_token": csrf, "queue": "triage", "note": "back", "base_version": "1"},
        )
        rule_moved = client.post(
            "/admin/routing/rules/1/queue",
            data={"csrf_token": csrf, "queue": "triage", "note": "back to triage",
                  "base_version": "2"},
        )  # fmt: skip
        no_rule = client.post(
            "/admin/routing/rules/9/queue",
            data={"csrf_token": csrf, "queue": "triage", "note": "x", "base_version": "3"},
        )

        assert first.status_code == 303
        assert (second.status_code, "the rules changed meanwhile" in second.text) == (409, True)
        assert '"default_queue": "spam-desk"' in html.unescape(second.text)
        assert (stale_rule.status_code, "changed meanwhile" in stale_rule.text) == (409, True)
        assert (rule_moved.status_code, rule_moved.headers["location"]) == (
            303,
            "/admin/routing?done=queue",
        )
        assert (no_rule.status_code, "there is no rule 9" in no_rule.text) == (422, True)
        with read_only(bench.container.sessions) as session:
            rules = queues.current_rules(session)
            assert (rules.version, rules.default_queue, rules.rules[0].queue, rules.note) == (
                3, "triage", "triage", "back to triage",
            )  # fmt: skip


def test_queues_are_created_changed_and_staffed(database_url: str, tmp_path: Path) -> None:
    """A queue with a calendar, a change to its targets, its members; a refused form keeps values."""
    with admin_bench(database_url, tmp_path) as (bench, client, csrf):
        analyst_in(bench.container, "ana", "analyst_basic")
        analyst_in(bench.container, "ben", "analyst_advanced")
        client.post(
            "/admin/calendars",
            data={"csrf_token": csrf, "name": "office", "timezone": "Europe/Berlin",
                  "mon": "09:00-17:00"},
        )  # fmt: skip
        created = client.post(
            "/admin/queues",
            data={"csrf_token": csrf, **queue_form("rings", tier="advanced", calendar="office",
                                                   description="linked <accounts>")},
        )  # fmt: skip
        changed = client.post(
            "/admin/queues",
            data={"csrf_token": csrf, **queue_form("rings", tier="advanced", calendar="office",
                                                   response_hours="1.5")},
        )  # fmt: skip
        with read_only(bench.container.sessions) as session:
            rings = queues.queue_by_name(session, "rings")
        staffed = client.post(
            f"/admin/queues/{rings.id}/members",
            data={"csrf_token": csrf, "members": ["ana", "ben"]},
        )
        edit = client.get("/admin/queues", params={"edit": "rings"})
        refused = client.post(
            "/admin/queues",
            data={"csrf_token": csrf, **queue_form("late", response_hours="soon")},
        )
        unknown_calendar = client.post(
            "/admin/queues", data={"csrf_token": csrf, **queue_form("late", calendar="moon")}
        )
        listed = client.get("/admin/queues")

        assert (created.status_code, changed.status_code, staffed.status_code) == (303, 303, 303)
        assert 'value="1.5"' in edit.text
        assert re.search(r'<option value="office" selected>', edit.text)
        assert (refused.status_code, "is not a number of hours" in refused.text) == (422, True)
        assert 'value="late"' in refused.text
        assert (unknown_calendar.status_code, "no calendar named" in unknown_calendar.text) == (
            422,
            True,
        )
        assert "<td>ana, ben</td>" in listed.text
        assert "response 1.5 h, resolution 2 days" in listed.text
        assert "linked &lt;accounts&gt;" not in listed.text  # the change cleared the description
        with read_only(bench.container.sessions) as session:
            rings = queues.queue_by_name(session, "rings")
            assert (rings.tier, rings.calendar, rings.response.total_seconds()) == (
                "advanced",
                "office",
                5400,
            )
            assert queues.member_names(session, rings.id) == ["ana", "ben"]
        tags = audit_tags(bench)
        assert tags.count("case:queue:save") == 2
        assert "case:queue:members" in tags


def test_calendars_are_saved_from_the_form_and_problems_are_named(
    database_url: str, tmp_path: Path
) -> None:
    """Weekday hours and holiday lines make a calendar; every mistake is listed in words."""
    with admin_bench(database_url, tmp_path) as (bench, client, csrf):
        saved = client.post(
            "/admin/calendars",
            data={
                "csrf_token": csrf, "name": "berlin", "timezone": "Europe/Berlin",
                "mon": "09:00-17:00, 18:00-20:00", "fri": "09:00-15:00",
                "holidays": "2026-12-24 09:00-12:00 Christmas Eve\n\n2026-12-25 Christmas Day\n",
            },
        )  # fmt: skip
        listed = client.get("/admin/calendars")
        edit = client.get("/admin/calendars", params={"edit": "berlin"})
        refused = client.post(
            "/admin/calendars",
            data={
                "csrf_token": csrf, "name": "broken", "timezone": "Mars/Olympus",
                "tue": "9 to 5", "holidays": "2026-12-24\n2026-13-01 nonsense",
            },
        )  # fmt: skip

        assert saved.status_code == 303
        assert "09:00-17:00, 18:00-20:00" in listed.text
        assert "2026-12-24 09:00-12:00 (Christmas Eve)" in listed.text
        assert "2026-12-25 closed (Christmas Day)" in listed.text
        assert "2026-12-24 09:00-12:00 Christmas Eve\n2026-12-25 Christmas Day" in edit.text
        assert refused.status_code == 422
        assert "Mars/Olympus" in refused.text
        assert "IANA" in refused.text
        assert "holidays line 2.date" in refused.text
        assert "9 to 5" in refused.text
        with read_only(bench.container.sessions) as session:
            stored = queues.calendars(session)
            assert sorted(stored) == ["berlin"]
            assert [str(h) for h in stored["berlin"].weekly[0]] == ["09:00-17:00", "18:00-20:00"]
        assert "case:calendar:save" in audit_tags(bench)


def test_users_are_created_changed_disabled_unlocked_and_given_new_passwords(
    database_url: str, tmp_path: Path
) -> None:
    """Each user form works, refuses what it must, and never shows a password back."""
    with admin_bench(database_url, tmp_path) as (bench, client, csrf):
        person = {"csrf_token": csrf, "username": "carol", "display_name": "Carol",
                  "email": "carol@example.net", "role": "analyst_basic"}  # fmt: skip
        mismatch = client.post(
            "/admin/users",
            data={**person, "password": PASSWORD, "password_again": "other words here"},
        )
        service = client.post(
            "/admin/users",
            data={**person, "role": "service", "password": PASSWORD, "password_again": PASSWORD},
        )
        created = client.post(
            "/admin/users", data={**person, "password": PASSWORD, "password_again": PASSWORD}
        )
        taken = client.post(
            "/admin/users", data={**person, "password": PASSWORD, "password_again": PASSWORD}
        )
        role = client.post(
            "/admin/users/carol/role",
            data={"csrf_token": csrf, "role": "lead", "reason": "promoted"},
        )
        service_role = client.post(
            "/admin/users/carol/role", data={"csrf_token": csrf, "role": "service"}
        )
        disabled = client.post(
            "/admin/users/carol/disable", data={"csrf_token": csrf, "disabled": "true"}
        )
        refused_sign_in = try_sign_in(bench.base_url, "carol", PASSWORD)
        enabled = client.post(
            "/admin/users/carol/disable", data={"csrf_token": csrf, "disabled": "false"}
        )
        for _ in range(bench.container.settings.access.max_failures):
            try_sign_in(bench.base_url, "carol", "wrong password guess")
        locked_page = client.get("/admin/users/carol")
        unlocked = client.post("/admin/users/carol/unlock", data={"csrf_token": csrf})
        short = client.post(
            "/admin/users/carol/password",
            data={"csrf_token": csrf, "password": "short", "password_again": "short"},
        )
        reset = client.post(
            "/admin/users/carol/password",
            data={"csrf_token": csrf, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        )
        myself = client.post(
            "/admin/users/root/disable", data={"csrf_token": csrf, "disabled": "true"}
        )
        listed = client.get("/admin/users")
        carol_in = try_sign_in(bench.base_url, "carol", NEW_PASSWORD)
        missing = client.get("/admin/users/nobody")

        assert (mismatch.status_code, "the two passwords differ" in mismatch.text) == (422, True)
        assert PASSWORD not in mismatch.text
        assert "other words here" not in mismatch.text
        assert 'value="carol"' in mismatch.text
        assert (service.status_code, "service role belongs to API tokens" in service.text) == (
            422,
            True,
        )
        assert 'value="service"' not in listed.text
        assert (created.status_code, created.headers["location"]) == (
            303,
            "/admin/users?done=created",
        )
        assert (taken.status_code, "already taken" in taken.text) == (422, True)
        assert role.headers["location"] == "/admin/users/carol?done=role"
        assert (service_role.status_code, "service role" in service_role.text) == (422, True)
        assert disabled.headers["location"] == "/admin/users/carol?done=disabled"
        assert refused_sign_in.status_code == 403
        assert enabled.headers["location"] == "/admin/users/carol?done=enabled"
        assert "not locked" not in locked_page.text
        assert unlocked.headers["location"] == "/admin/users/carol?done=unlocked"
        assert (short.status_code, "at least" in short.text) == (422, True)
        assert reset.headers["location"] == "/admin/users/carol?done=password"
        assert (myself.status_code, "cannot disable yourself" in myself.text) == (422, True)
        assert re.search(
            r"carol</a></td>\s*<td>Carol</td>\s*<td>carol@example.net</td>\s*<td>lead</td>\s*<td>active</td>\s*<td>-</td>",
            listed.text,
        )
        assert carol_in.status_code == 303
        assert missing.status_code == 404
        with read_only(bench.container.sessions) as session:
            carol_user = SqlUserRepository().get(session, "carol")
            assert (carol_user.role, carol_user.disabled_at, carol_user.failed_logins) == (
                "lead",
                None,
                0,
            )
        tags = audit_tags(bench)
        for tag in ("auth:user:create", "auth:user:role", "auth:user:disable", "auth:user:enable",
                "auth:user:unlock", "auth:user:password"):  # fmt: skip
            assert tag in tags, tag


def test_admin_pages_refuse_other_roles_and_forms_without_the_csrf_token(
    database_url: str, tmp_path: Path
) -> None:
    """A lead gets 403 on every admin page and form; an admin's form without its token gets 403."""
    pages = ["/admin/routing", "/admin/routing/try", "/admin/queues", "/admin/calendars",
             "/admin/users", "/admin/users/root"]  # fmt: skip
    forms = ["/admin/routing", "/admin/routing/rules/1/queue", "/admin/queues",
             "/admin/queues/1/members", "/admin/calendars", "/admin/users",
             "/admin/users/root/role", "/admin/users/root/disable", "/admin/users/root/unlock",
             "/admin/users/root/password"]  # fmt: skip
    with admin_bench(database_url, tmp_path) as (bench, admin, _):
        analyst_in(bench.container, "lee", "lead", "triage")
        with signed_in(bench.base_url, "lee") as (lead, csrf):
            lead_pages = {path: lead.get(path).status_code for path in pages}
            lead_forms = {
                path: lead.post(path, data={"csrf_token": csrf}).status_code for path in forms
            }
            lead_nav = lead.get("/queues").text
        no_token = admin.post("/admin/queues", data=queue_form("sneaky"))
        admin_nav = admin.get("/queues").text

        assert lead_pages == dict.fromkeys(pages, 403)
        assert lead_forms == dict.fromkeys(forms, 403)
        assert no_token.status_code == 403
        assert ">Admin</a>" not in lead_nav
        assert '<a href="/admin/routing">Admin</a>' in admin_nav
        with read_only(bench.container.sessions) as session:
            assert "sneaky" not in [q.name for q in queues.queues(session)]


def test_members_of_a_queue_that_vanished_are_refused(database_url: str, tmp_path: Path) -> None:
    """Posting members for a queue id that does not exist changes nothing and says why."""
    with admin_bench(database_url, tmp_path) as (bench, client, csrf):
        answer = client.post(
            "/admin/queues/999999/members", data={"csrf_token": csrf, "members": ["root"]}
        )
        with unit_of_work(bench.container.sessions) as session:
            triage = queues.queue_by_name(session, "triage")
            members = queues.member_names(session, triage.id)
        assert (answer.status_code, "no queue 999999" in answer.text) == (422, True)
        assert members == []
