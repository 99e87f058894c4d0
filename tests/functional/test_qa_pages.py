"""Quality assurance over real HTTP on both databases: the queue, scoring, feedback with
acknowledgement and disputes, scorecard versions, calibration rounds, trends, permissions."""

import html
import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from abusedesk.core.clock import utcnow
from abusedesk.storage import qa
from abusedesk.storage.db import read_only, unit_of_work
from tests.support.access import create_user
from tests.support.casework import new_account, subject_tags
from tests.support.enforcement_pages import signed_in
from tests.support.qa import closed_cases, set_team
from tests.support.workbench import Workbench

XSS = '<script>alert("qa")</script>'
SPAM_RATINGS = {
    "rating_attribution": "met",
    "rating_decision": "met",
    "rating_evidence": "not_met",
    "rating_list_hygiene": "met",
    "rating_notice": "met",
    "rating_timeliness": "na",
    "rating_notes": "met",
}


@pytest.fixture
def qa_bench(bench: Workbench) -> Iterator[tuple[Workbench, int, int]]:
    """A workbench with ana (analyst), quinn and rita (qa), lea (lead) and a sample of a
    spam case ana closed; yield it, the case and the sample."""
    for name, role in (
        ("ana", "analyst_basic"),
        ("quinn", "qa"),
        ("rita", "qa"),
        ("lea", "lead"),
    ):
        create_user(bench.container, name, role)
    now = utcnow()
    with unit_of_work(bench.container.sessions) as session:
        set_team(session, "ana", "red")
        (case_id,) = closed_cases(
            session, new_account(session), "ana", 1, closed_at=now - timedelta(hours=2)
        )
        sample_id = qa.target_case(session, case_id, actor="lea", now=now)
    return bench, case_id, sample_id


def _problem(response: httpx.Response) -> str:
    """Return the refusal a page shows (its alert), or its error detail, unescaped."""
    found = re.search(r'role="alert">([^<]*)<', response.text) or re.search(
        r"<main>\s*<h1>[^<]*</h1>\s*<p>([^<]*)<", response.text
    )
    return html.unescape(found.group(1)) if found else response.text[-300:]


def _score(client: httpx.Client, csrf: str, sample_id: int, **fields: str) -> httpx.Response:
    return client.post(
        f"/qa/samples/{sample_id}/score",
        data={"csrf_token": csrf, **SPAM_RATINGS, **fields},
    )


def test_a_reviewer_scores_a_sample_and_the_analyst_acknowledges(
    qa_bench: tuple[Workbench, int, int],
) -> None:
    """Quinn scores (evidence, weight 2, not met; timeliness does not apply: 11 of 13 =
    84.6); ana sees it with the comment escaped, acknowledges, and it is audited."""
    bench, case_id, sample_id = qa_bench
    with signed_in(bench.base_url, "quinn") as (client, csrf):
        queue = client.get("/qa")
        page = client.get(f"/qa/samples/{sample_id}")
        scored = _score(client, csrf, sample_id, comment=XSS, comment_evidence="cite the events")

    assert queue.status_code == 200
    assert f'href="/qa/samples/{sample_id}"' in queue.text
    assert f'href="/cases/{case_id}"' in page.text
    assert 'name="rating_list_hygiene"' in page.text
    assert (scored.status_code, scored.headers["location"]) == (
        303,
        f"/qa/samples/{sample_id}?done=scored",
    )
    with signed_in(bench.base_url, "ana") as (client, csrf):
        feedback = client.get("/qa/feedback")
        review_id = int(re.search(r'id="review-(\d+)"', feedback.text).group(1))  # type: ignore[union-attr]
        done = client.post(f"/qa/reviews/{review_id}/acknowledge", data={"csrf_token": csrf})
        again = client.post(f"/qa/reviews/{review_id}/acknowledge", data={"csrf_token": csrf})
        queue_refused = client.get("/qa")

    assert "84.6" in feedback.text
    assert "cite the events" in feedback.text
    assert XSS not in feedback.text
    assert "&lt;script&gt;alert(&#34;qa&#34;)&lt;/script&gt;" in feedback.text
    assert done.status_code == 303
    assert again.status_code == 409
    assert "this review is acknowledged already" in _problem(again)
    assert queue_refused.status_code == 403
    with read_only(bench.container.sessions) as session:
        assert subject_tags(session, "qa_review", review_id) == [
            "qa:review:score",
            "qa:review:acknowledge",
        ]


def test_scoring_refusals_are_explained(qa_bench: tuple[Workbench, int, int]) -> None:
    """A missing rating and a bad value are refused with the reason (422); an analyst may
    not score at all (403); the sample still waits."""
    bench, _, sample_id = qa_bench
    with signed_in(bench.base_url, "quinn") as (client, csrf):
        missing = client.post(
            f"/qa/samples/{sample_id}/score",
            data={"csrf_token": csrf, "rating_attribution": "met"},
        )
        wrong = _score(client, csrf, sample_id, rating_notes="brilliant")
        huge = _score(client, csrf, sample_id, comment="x" * 5000)
    with signed_in(bench.base_url, "ana") as (client, csrf):
        analyst = _score(client, csrf, sample_id)

    assert missing.status_code == 422
    assert "rate every criterion; not rated: Decision follows the policy" in _problem(missing)
    assert wrong.status_code == 422
    assert "rate notes as met, not met or does not apply" in _problem(wrong)
    assert huge.status_code == 422
    assert "longer than 4000 characters" in _problem(huge)
    assert analyst.status_code == 403
    with read_only(bench.container.sessions) as session:
        assert qa.sample(session, sample_id).state == "waiting"


def test_a_lead_cannot_score_their_own_work(qa_bench: tuple[Workbench, int, int]) -> None:
    """Lea's own closed case: the page says so and a posted score is refused (403)."""
    bench, _, _ = qa_bench
    with unit_of_work(bench.container.sessions) as session:
        (case_id,) = closed_cases(session, new_account(session, 2), "lea", 1, closed_at=utcnow())
        own = qa.target_case(session, case_id, actor="quinn", now=utcnow())
    with signed_in(bench.base_url, "lea") as (client, csrf):
        page = client.get(f"/qa/samples/{own}")
        posted = _score(client, csrf, own)

    assert "This is your own work" in page.text
    assert posted.status_code == 403
    assert "this is your own work: another reviewer must score it" in _problem(posted)


def test_a_dispute_is_settled_by_someone_else(qa_bench: tuple[Workbench, int, int]) -> None:
    """Ana disputes; the reviewer may not settle; lea amends attribution (critical) to not
    met: 0 with a critical failure, which ana then reads with the settlement."""
    bench, _, sample_id = qa_bench
    with signed_in(bench.base_url, "quinn") as (client, csrf):
        _score(client, csrf, sample_id)
    with read_only(bench.container.sessions) as session:
        (review,) = qa.reviews_of_sample(session, sample_id)
    with signed_in(bench.base_url, "ana") as (client, csrf):
        empty = client.post(
            f"/qa/reviews/{review.id}/dispute", data={"csrf_token": csrf, "reason": " "}
        )
        disputed = client.post(
            f"/qa/reviews/{review.id}/dispute",
            data={"csrf_token": csrf, "reason": "the evidence was in note 2"},
        )
    with signed_in(bench.base_url, "quinn") as (client, csrf):
        listed = client.get("/qa/disputes")
        by_reviewer = client.post(
            f"/qa/reviews/{review.id}/settle",
            data={"csrf_token": csrf, "outcome": "upheld", "settlement": "it stands"},
        )
    with signed_in(bench.base_url, "lea") as (client, csrf):
        settled = client.post(
            f"/qa/reviews/{review.id}/settle",
            data={
                "csrf_token": csrf,
                "outcome": "amended",
                "settlement": "attribution was wrong after all",
                **SPAM_RATINGS,
                "rating_attribution": "not_met",
            },
        )
    with signed_in(bench.base_url, "ana") as (client, _):
        feedback = client.get("/qa/feedback")

    assert empty.status_code == 422
    assert "say what you dispute and why" in _problem(empty)
    assert disputed.status_code == 303
    assert "the evidence was in note 2" in listed.text
    assert "someone else settles this dispute" in listed.text
    assert by_reviewer.status_code == 403
    assert settled.status_code == 303
    assert "attribution was wrong after all" in feedback.text
    assert "critical failure" in feedback.text
    with read_only(bench.container.sessions) as session:
        after = qa.review(session, review.id)
    assert (after.feedback, after.score, after.critical_failure) == ("amended", 0.0, True)


def test_the_scorecard_editor_saves_versions_and_refuses_bad_rows(
    qa_bench: tuple[Workbench, int, int],
) -> None:
    """A weight that is not a number is refused naming the row; a good card is v1, then
    v2; an analyst cannot see the page."""
    bench, _, _ = qa_bench
    rows = {
        "key": ["decision", "notes", ""],
        "label": ["Decision right", "Notes clear", ""],
        "weight": ["3", "one", ""],
        "guidance": ["", "", ""],
        "critical": ["0"],
    }
    with signed_in(bench.base_url, "lea") as (client, csrf):
        form = client.get("/qa/scorecards?case_type=malware")
        bad = client.post(
            "/qa/scorecards",
            data={"csrf_token": csrf, "case_type": "malware", "note": "shorter", **rows},
        )
        rows["weight"] = ["3", "1", ""]
        good = client.post(
            "/qa/scorecards",
            data={"csrf_token": csrf, "case_type": "malware", "note": "shorter", **rows},
        )
        again = client.post(
            "/qa/scorecards",
            data={"csrf_token": csrf, "case_type": "malware", "note": "again", **rows},
        )
        listed = client.get("/qa/scorecards?case_type=malware")
    with signed_in(bench.base_url, "ana") as (client, _):
        refused = client.get("/qa/scorecards")

    assert 'name="key" value="safe_handling"' in form.text
    assert bad.status_code == 422
    assert "criterion 2: the weight must be a whole number from 1 to 100" in _problem(bad)
    assert 'value="one"' in bad.text  # what was typed comes back to be corrected
    assert (good.status_code, again.status_code) == (303, 303)
    assert "v2 by lea" in listed.text
    assert refused.status_code == 403
    with read_only(bench.container.sessions) as session:
        card = qa.effective_scorecard(session, "malware")[1]
    assert [(c.key, c.weight, c.critical) for c in card.criteria] == [
        ("decision", 3, True),
        ("notes", 1, False),
    ]


def test_a_calibration_round_is_blind_until_closed(qa_bench: tuple[Workbench, int, int]) -> None:
    """Quinn and rita score the round's copy; rita does not see quinn's score while it is
    open; closed, the agreement table shows every criterion (all agreed: 100%)."""
    bench, _, sample_id = qa_bench
    with signed_in(bench.base_url, "lea") as (client, csrf):
        refused = client.post(
            "/qa/calibrations",
            data={"csrf_token": csrf, "title": "Nov", "reviewers": "quinn", "samples": "1"},
        )
        opened = client.post(
            "/qa/calibrations",
            data={
                "csrf_token": csrf,
                "title": "November round",
                "reviewers": "quinn, rita",
                "samples": str(sample_id),
            },
        )
    round_path = opened.headers["location"].split("?")[0]
    round_id = int(round_path.rsplit("/", 1)[1])
    with read_only(bench.container.sessions) as session:
        (copy,) = qa.calibration(session, round_id).samples
    with signed_in(bench.base_url, "quinn") as (client, csrf):
        quinn = _score(client, csrf, copy.id, comment="quinn was here")
    with signed_in(bench.base_url, "rita") as (client, csrf):
        blind = client.get(f"/qa/samples/{copy.id}")
        rita = _score(client, csrf, copy.id)
    with signed_in(bench.base_url, "lea") as (client, csrf):
        lea = _score(client, csrf, copy.id)
        closed = client.post(f"{round_path}/close", data={"csrf_token": csrf})
        shown = client.get(round_path)

    assert refused.status_code == 422
    assert "two or more reviewers" in _problem(refused)
    assert opened.status_code == 303
    assert quinn.headers["location"].endswith("?done=calibrated")
    assert "quinn was here" not in blind.text
    assert rita.status_code == 303
    assert lea.status_code == 409
    assert "not a reviewer of calibration round" in _problem(lea)
    assert closed.status_code == 303
    assert 'id="agreement-list_hygiene"' in shown.text
    assert "100%" in shown.text


def test_trends_chart_quality_per_team(qa_bench: tuple[Workbench, int, int]) -> None:
    """After one review of ana (team red), the trends page charts red and lists ana."""
    bench, _, sample_id = qa_bench
    with signed_in(bench.base_url, "quinn") as (client, csrf):
        _score(client, csrf, sample_id)
        page = client.get("/qa/trends?weeks=4")
        wrong = client.get("/qa/trends?weeks=500")
        junk = client.get("/qa/trends?weeks=%3Cb%3E")

    assert page.status_code == 200
    assert "<svg" in page.text
    assert "<title>red</title>" in page.text
    assert "84.6" in page.text
    assert wrong.status_code == 200
    assert "last 52 weeks" in wrong.text
    assert "last 12 weeks" in junk.text


def test_targeting_from_the_queue_page(qa_bench: tuple[Workbench, int, int]) -> None:
    """Lea targets two of ana's cases; a case number that is not a number is refused; work
    already waiting is refused with its sample; an analyst may not target at all."""
    bench, case_id, sample_id = qa_bench
    with unit_of_work(bench.container.sessions) as session:
        closed_cases(session, new_account(session, 3), "ana", 3, closed_at=utcnow())
    with signed_in(bench.base_url, "lea") as (client, csrf):
        picked = client.post(
            "/qa/target", data={"csrf_token": csrf, "analyst": "ana", "count": "2", "days": "7"}
        )
        bad = client.post("/qa/target", data={"csrf_token": csrf, "case_id": "12; DROP"})
    with signed_in(bench.base_url, "quinn") as (client, csrf):
        twice = client.post("/qa/target", data={"csrf_token": csrf, "case_id": str(case_id)})
    with signed_in(bench.base_url, "ana") as (client, csrf):
        analyst = client.post("/qa/target", data={"csrf_token": csrf, "case_id": str(case_id)})

    assert picked.status_code == 303
    assert bad.status_code == 422
    assert "the case number must be a whole number" in _problem(bad)
    assert twice.status_code == 409
    assert f"already waiting in the QA queue as sample {sample_id}" in _problem(twice)
    assert analyst.status_code == 403
    with read_only(bench.container.sessions) as session:
        reasons = [line.reason for line in qa.queue(session)]
    assert reasons.count("targeted") == 3
