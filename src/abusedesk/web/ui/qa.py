"""Quality assurance in the workbench: the QA queue, scoring, feedback, scorecards,
calibration rounds and quality trends.

``/qa`` lists the samples waiting for review (``qa.review``), and lets ``qa.admin`` pick
work on purpose; ``/qa/samples/{id}`` shows the case beside the scoring form of its case
type's scorecard; ``/qa/feedback`` is an analyst's own reviews (``case.work``), each to
acknowledge or dispute; ``/qa/disputes`` is where ``qa.admin`` settles disputes;
``/qa/scorecards`` lists the scorecards and their versions and edits them (``qa.admin``);
``/qa/calibrations`` opens rounds in which several reviewers score the same samples
blind, with agreement per criterion once closed; ``/qa/trends`` charts quality per
analyst and team per week. Every change is posted with the session's CSRF token,
answered by a redirect, or by the page again with the reason it was refused.
"""

import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import CASE_WORK, QA_ADMIN, QA_REVIEW
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.insights.qa import (
    DEFAULT_SCORECARDS,
    MAX_COMMENT,
    Criterion,
    InvalidRatings,
    InvalidScorecard,
    Rating,
    Reason,
    Scorecard,
    weekly_quality,
)
from abusedesk.insights.weeks import week_start
from abusedesk.storage import case_history, case_notes, enforcement, qa
from abusedesk.storage.db import read_only
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.errors import http_error_for
from abusedesk.web.ui.charts import Series, line_chart
from abusedesk.web.ui.rendering import private_page
from abusedesk.web.ui.steps import run_step

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**63 - 1
SampleId = Path(ge=1, le=MAX_ID)
ReviewId = Path(ge=1, le=MAX_ID)
RoundId = Path(ge=1, le=MAX_ID)
MAX_FORM_ROWS: Final = 40
MAX_TREND_WEEKS: Final = 52
RATING_WORDS: Final = {Rating.MET: "met", Rating.NOT_MET: "not met", Rating.NA: "does not apply"}
DONE: Final = {
    "scored": "The review is saved and sent to the analyst.",
    "calibrated": "Your calibration scores are saved; the others cannot see them.",
    "skipped": "The sample is out of the queue.",
    "targeted": "The work is in the QA queue.",
    "acknowledged": "Acknowledged.",
    "disputed": "Your dispute is with QA; you will see how it is settled here.",
    "settled": "The dispute is settled.",
    "saved": "A new version of the scorecard is saved; new reviews use it.",
    "opened": "The calibration round is open.",
    "closed": "The round is closed; its agreement is below.",
}
_IDS: Final = re.compile(r"[\s,;]+")


def _status(problem: AbuseDeskError) -> int:
    if isinstance(problem, qa.OwnWork | qa.NotYourReview):
        return 403
    if isinstance(problem, qa.InvalidQaInput | InvalidRatings | InvalidScorecard):
        return 422
    mapped = http_error_for(problem)
    return mapped.status if mapped is not None else 409


def _ratings_of(form: FormData, card: Scorecard) -> tuple[dict[str, str], dict[str, str]]:
    ratings: dict[str, str] = {}
    comments: dict[str, str] = {}
    for criterion in card.criteria:
        value = form.get(f"rating_{criterion.key}")
        if isinstance(value, str) and value:
            ratings[criterion.key] = value
        note = form.get(f"comment_{criterion.key}")
        if isinstance(note, str) and note.strip():
            comments[criterion.key] = note
    return ratings, comments


def _text(form: FormData, name: str, limit: int = MAX_COMMENT) -> str:
    value = form.get(name)
    return value[: limit + 1] if isinstance(value, str) else ""


# --- the queue ------------------------------------------------------------------------


@router.get("/qa")
def queue_page(
    request: Request,
    *,
    reason: str = Query("", max_length=30),
    analyst: str = Query("", max_length=200),
    state: str = Query(qa.SampleState.WAITING, max_length=20),
    done: str | None = None,
    principal: Principal = Depends(require_permission(QA_REVIEW)),
) -> Response:
    """List the samples waiting for review, the oldest first."""
    return _show_queue(request, principal, reason, analyst, state, notice=DONE.get(done or ""))


def _show_queue(
    request: Request,
    principal: Principal,
    reason: str,
    analyst: str,
    state: str,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    if reason and reason not in Reason.ALL:
        raise NotFound(f"no sampling reason {reason[:30]!r}; choose {', '.join(Reason.ALL)}")
    if state not in qa.SampleState.ALL:
        raise NotFound(f"no sample state {state[:20]!r}; choose {', '.join(qa.SampleState.ALL)}")
    container = container_of(request)
    with read_only(container.sessions) as session:
        samples = qa.queue(session, state=state, reason=reason or None, analyst=analyst or None)
        counts = qa.queue_counts(session)
    return private_page(
        request,
        "workbench/qa.html",
        {
            "samples": samples,
            "counts": counts,
            "reason": reason,
            "analyst": analyst,
            "state": state,
            "reasons": Reason.ALL,
            "states": qa.SampleState.ALL,
            "admin": principal.user.may(QA_ADMIN),
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.post("/qa/target")
async def target(
    request: Request,
    *,
    case_id: str = Form("", max_length=40),
    action_id: str = Form("", max_length=40),
    analyst: str = Form("", max_length=200),
    count: str = Form("5", max_length=10),
    days: str = Form("30", max_length=10),
    note: str = Form("", max_length=MAX_COMMENT),
    principal: Principal = Depends(require_permission(QA_ADMIN)),
) -> Response:
    """Put a chosen closed case (or action), or N random cases of an analyst, in the queue."""
    container = container_of(request)
    actor = principal.user.username

    def step(session: Session) -> object:
        now = utcnow()
        if case_id.strip():
            case = _number(case_id, "the case number")
            action = _number(action_id, "the action number") if action_id.strip() else None
            return qa.target_case(session, case, action_id=action, actor=actor, now=now, note=note)
        if analyst.strip():
            period = _number(days, "the number of days")
            return qa.target_analyst(
                session,
                analyst,
                count=_number(count, "how many cases"),
                since=now - timedelta(days=min(period, 366)),
                actor=actor,
                now=now,
                rng=random.Random(),  # noqa: S311  # sampling, not secrets
            )
        raise qa.InvalidQaInput("give a case number, or an analyst and how many of their cases")

    problem = await run_step(container.sessions, step)
    if not isinstance(problem, AbuseDeskError):
        return RedirectResponse("/qa?done=targeted", status_code=303)
    return await run_in_threadpool(
        lambda: _show_queue(
            request,
            principal,
            "",
            "",
            qa.SampleState.WAITING,
            problem=str(problem),
            status_code=_status(problem),
        )
    )


def _number(text: str, what: str) -> int:
    value = text.strip().lstrip("#")
    if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise qa.InvalidQaInput(f"{what} must be a whole number, e.g. 42")
    return int(value)


# --- one sample -----------------------------------------------------------------------


@router.get("/qa/samples/{sample_id}")
def sample_page(
    request: Request,
    *,
    sample_id: int = SampleId,
    done: str | None = None,
    principal: Principal = Depends(require_permission(QA_REVIEW)),
) -> Response:
    """Show the sampled work beside its scorecard's form."""
    return _show_sample(request, principal, sample_id, notice=DONE.get(done or ""))


def _show_sample(
    request: Request,
    principal: Principal,
    sample_id: int,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
    entered: dict[str, str] | None = None,
) -> Response:
    container = container_of(request)
    me = principal.user.username
    with read_only(container.sessions) as session:
        found = qa.sample(session, sample_id)
        stored, card = qa.effective_scorecard(session, found.case_type)
        reviews = qa.reviews_of_sample(session, sample_id)
        history = case_history.history(session, found.case_id)
        notes = case_notes.notes(session, found.case_id)
        action = (
            None if found.action_id is None else enforcement.action_record(session, found.action_id)
        )
        round_ = (
            None if found.calibration_id is None else qa.calibration(session, found.calibration_id)
        )
    if round_ is not None and round_.closed_at is None:
        # Blind: while the round is open each reviewer sees only their own scores.
        reviews = [r for r in reviews if r.reviewer == me]
    mine = next((r for r in reviews if r.reviewer == me), None)
    may_score = (
        found.state == qa.SampleState.WAITING
        and mine is None
        and found.analyst != me
        and (round_ is None or (me in round_.reviewers and round_.closed_at is None))
    )
    return private_page(
        request,
        "workbench/qa_sample.html",
        {
            "sample": found,
            "card": card,
            "card_version": stored.version if stored else 1,
            "reviews": reviews,
            "history": history,
            "notes": notes,
            "action": action,
            "round": round_,
            "may_score": may_score,
            "own_work": found.analyst == me,
            "admin": principal.user.may(QA_ADMIN),
            "ratings": Rating.ALL,
            "rating_words": RATING_WORDS,
            "entered": entered or {},
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.post("/qa/samples/{sample_id}/score")
async def score_sample(
    request: Request,
    *,
    sample_id: int = SampleId,
    principal: Principal = Depends(require_permission(QA_REVIEW)),
) -> Response:
    """Score the sample on its case type's scorecard."""
    container = container_of(request)
    form = await request.form()
    reviewer = principal.user.username
    calibrating: list[bool] = []

    def step(session: Session) -> None:
        found = qa.sample(session, sample_id)
        _, card = qa.effective_scorecard(session, found.case_type)
        ratings, comments = _ratings_of(form, card)
        calibrating.append(found.calibration_id is not None)
        qa.score_sample(
            session,
            sample_id,
            reviewer=reviewer,
            ratings=ratings,
            comments=comments,
            comment=_text(form, "comment"),
            now=utcnow(),
        )

    problem = await run_step(container.sessions, step, raised=(NotFound,))
    if problem is None:
        done = "calibrated" if calibrating and calibrating[0] else "scored"
        return RedirectResponse(f"/qa/samples/{sample_id}?done={done}", status_code=303)
    entered = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    return await run_in_threadpool(
        lambda: _show_sample(
            request,
            principal,
            sample_id,
            problem=str(problem),
            status_code=_status(problem),
            entered=entered,
        )
    )


@router.post("/qa/samples/{sample_id}/skip")
async def skip_sample(
    request: Request,
    *,
    sample_id: int = SampleId,
    reason: str = Form("", max_length=MAX_COMMENT),
    principal: Principal = Depends(require_permission(QA_ADMIN)),
) -> Response:
    """Take a waiting sample out of the queue, saying why."""
    container = container_of(request)
    actor = principal.user.username
    problem = await run_step(
        container.sessions,
        lambda session: qa.skip_sample(
            session, sample_id, actor=actor, reason=reason, now=utcnow()
        ),
        raised=(NotFound,),
    )
    if problem is None:
        return RedirectResponse("/qa?done=skipped", status_code=303)
    return await run_in_threadpool(
        lambda: _show_sample(
            request, principal, sample_id, problem=str(problem), status_code=_status(problem)
        )
    )


# --- feedback and disputes ------------------------------------------------------------


@router.get("/qa/feedback")
def feedback_page(
    request: Request,
    *,
    done: str | None = None,
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Show the analyst the reviews of their own work, to acknowledge or dispute."""
    return _show_feedback(request, principal, notice=DONE.get(done or ""))


def _show_feedback(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        reviews = qa.feedback_of(session, principal.user.username)
    return private_page(
        request,
        "workbench/qa_feedback.html",
        {
            "reviews": reviews,
            "waiting": sum(1 for r in reviews if r.answerable),
            "rating_words": RATING_WORDS,
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


async def _answer(
    request: Request, principal: Principal, step: Callable[[Session], None], done: str
) -> Response:
    container = container_of(request)
    problem = await run_step(container.sessions, step, raised=(NotFound,))
    if problem is None:
        return RedirectResponse(f"/qa/feedback?done={done}", status_code=303)
    return await run_in_threadpool(
        lambda: _show_feedback(
            request, principal, problem=str(problem), status_code=_status(problem)
        )
    )


@router.post("/qa/reviews/{review_id}/acknowledge")
async def acknowledge(
    request: Request,
    *,
    review_id: int = ReviewId,
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Acknowledge a review of one's own work."""
    me = principal.user.username
    return await _answer(
        request,
        principal,
        lambda session: qa.acknowledge(session, review_id, analyst=me, now=utcnow()),
        "acknowledged",
    )


@router.post("/qa/reviews/{review_id}/dispute")
async def dispute(
    request: Request,
    *,
    review_id: int = ReviewId,
    reason: str = Form("", max_length=MAX_COMMENT + 1),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Dispute a review of one's own work, saying why."""
    me = principal.user.username
    return await _answer(
        request,
        principal,
        lambda session: qa.dispute(session, review_id, analyst=me, reason=reason, now=utcnow()),
        "disputed",
    )


@router.get("/qa/disputes")
def disputes_page(
    request: Request,
    *,
    done: str | None = None,
    principal: Principal = Depends(require_permission(QA_ADMIN)),
) -> Response:
    """List the disputes waiting to be settled, the oldest first."""
    return _show_disputes(request, principal, notice=DONE.get(done or ""))


def _show_disputes(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        disputes = qa.open_disputes(session)
    return private_page(
        request,
        "workbench/qa_disputes.html",
        {
            "disputes": disputes,
            "me": principal.user.username,
            "ratings": Rating.ALL,
            "rating_words": RATING_WORDS,
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.post("/qa/reviews/{review_id}/settle")
async def settle(
    request: Request,
    *,
    review_id: int = ReviewId,
    principal: Principal = Depends(require_permission(QA_ADMIN)),
) -> Response:
    """Settle a dispute: uphold the review, or amend its ratings."""
    container = container_of(request)
    form = await request.form()
    actor = principal.user.username

    def step(session: Session) -> None:
        found = qa.review(session, review_id)
        outcome = _text(form, "outcome", 20)
        ratings, comments = _ratings_of(form, found.card)
        qa.settle(
            session,
            review_id,
            actor=actor,
            outcome=outcome,
            settlement=_text(form, "settlement"),
            ratings=ratings if outcome == qa.Feedback.AMENDED else None,
            comments=comments,
            now=utcnow(),
        )

    problem = await run_step(container.sessions, step, raised=(NotFound,))
    if problem is None:
        return RedirectResponse("/qa/disputes?done=settled", status_code=303)
    return await run_in_threadpool(
        lambda: _show_disputes(
            request, principal, problem=str(problem), status_code=_status(problem)
        )
    )


# --- scorecards -----------------------------------------------------------------------


@router.get("/qa/scorecards")
def scorecards_page(
    request: Request,
    *,
    case_type: str | None = Query(None, max_length=40),
    done: str | None = None,
    principal: Principal = Depends(require_permission(QA_REVIEW)),
) -> Response:
    """List each case type's scorecard with its versions; edit one (``qa.admin``)."""
    return _show_scorecards(request, principal, case_type, notice=DONE.get(done or ""))


def _show_scorecards(
    request: Request,
    principal: Principal,
    case_type: str | None,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
    rows: list[dict[str, Any]] | None = None,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        stored = qa.current_scorecards(session)
        editing = None
        versions: list[qa.StoredScorecard] = []
        if case_type is not None:
            _, editing = qa.effective_scorecard(session, case_type)
            versions = qa.scorecard_versions(session, case_type)
    types = sorted(set(stored) | set(DEFAULT_SCORECARDS))
    cards = [
        (t, stored[t].card if t in stored else DEFAULT_SCORECARDS[t], stored.get(t)) for t in types
    ]
    if rows is None and editing is not None:
        rows = [c.to_dict() for c in editing.criteria]
    if rows is not None:
        rows = rows + [
            {"key": "", "label": "", "weight": "", "critical": False, "guidance": ""}
        ] * max(0, min(3, MAX_FORM_ROWS - len(rows)))
    return private_page(
        request,
        "workbench/qa_scorecards.html",
        {
            "cards": cards,
            "case_type": case_type,
            "editing": editing,
            "versions": versions,
            "rows": rows or [],
            "admin": principal.user.may(QA_ADMIN),
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.post("/qa/scorecards")
async def save_scorecard(
    request: Request,
    *,
    principal: Principal = Depends(require_permission(QA_ADMIN)),
) -> Response:
    """Save the edited criteria as the next version of the case type's scorecard."""
    container = container_of(request)
    form = await request.form()
    case_type = _text(form, "case_type", 40).strip()
    rows = _criterion_rows(form)
    actor = principal.user.username

    def step(session: Session) -> None:
        criteria = tuple(
            Criterion(
                key=row["key"],
                label=row["label"],
                weight=_weight(row["weight"]),
                critical=row["critical"],
                guidance=row["guidance"],
            )
            for row in rows
            if row["key"] or row["label"]
        )
        card = Scorecard(case_type, criteria)
        qa.save_scorecard(session, card, actor=actor, note=_text(form, "note"), now=utcnow())

    problem = await run_step(container.sessions, step)
    if problem is None:
        return RedirectResponse(f"/qa/scorecards?case_type={case_type}&done=saved", status_code=303)
    return await run_in_threadpool(
        lambda: _show_scorecards(
            request,
            principal,
            case_type,
            problem=str(problem),
            status_code=_status(problem),
            rows=rows,
        )
    )


def _criterion_rows(form: FormData) -> list[dict[str, Any]]:
    keys = form.getlist("key")[: MAX_FORM_ROWS + 1]
    labels = form.getlist("label")
    weights = form.getlist("weight")
    guidance = form.getlist("guidance")
    critical = {str(v) for v in form.getlist("critical")}

    def at(values: list[Any], index: int, limit: int) -> str:
        value = values[index] if index < len(values) else ""
        return value.strip()[:limit] if isinstance(value, str) else ""

    return [
        {
            "key": at(keys, i, 41),
            "label": at(labels, i, 201),
            "weight": at(weights, i, 10),
            "critical": str(i) in critical,
            "guidance": at(guidance, i, 1001),
        }
        for i in range(len(keys))
    ]


def _weight(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 6 else -1


# --- calibration ----------------------------------------------------------------------


@router.get("/qa/calibrations")
def calibrations_page(
    request: Request,
    *,
    done: str | None = None,
    principal: Principal = Depends(require_permission(QA_REVIEW)),
) -> Response:
    """List the calibration rounds; open one (``qa.admin``)."""
    return _show_calibrations(request, principal, notice=DONE.get(done or ""))


def _show_calibrations(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        rounds = qa.calibrations(session)
        recent = qa.queue(session, state=qa.SampleState.SCORED, limit=30)
    return private_page(
        request,
        "workbench/qa_calibrations.html",
        {
            "rounds": rounds,
            "recent": recent,
            "me": principal.user.username,
            "admin": principal.user.may(QA_ADMIN),
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.post("/qa/calibrations")
async def open_calibration(
    request: Request,
    *,
    title: str = Form("", max_length=qa.MAX_TITLE + 1),
    reviewers: str = Form("", max_length=2000),
    samples: str = Form("", max_length=2000),
    principal: Principal = Depends(require_permission(QA_ADMIN)),
) -> Response:
    """Open a calibration round with reviewers and samples."""
    container = container_of(request)
    actor = principal.user.username
    opened: list[int] = []

    def step(session: Session) -> None:
        ids = [_number(part, "each sample number") for part in _IDS.split(samples.strip()) if part]
        opened.append(
            qa.open_calibration(
                session,
                title=title,
                reviewers=[r for r in _IDS.split(reviewers) if r],
                sample_ids=ids,
                actor=actor,
                now=utcnow(),
            )
        )

    problem = await run_step(container.sessions, step)
    if problem is None:
        return RedirectResponse(f"/qa/calibrations/{opened[0]}?done=opened", status_code=303)
    return await run_in_threadpool(
        lambda: _show_calibrations(
            request, principal, problem=str(problem), status_code=_status(problem)
        )
    )


@router.get("/qa/calibrations/{round_id}")
def calibration_page(
    request: Request,
    *,
    round_id: int = RoundId,
    done: str | None = None,
    principal: Principal = Depends(require_permission(QA_REVIEW)),
) -> Response:
    """Show a round: its samples, who has scored what, and its agreement once closed."""
    return _show_calibration(request, principal, round_id, notice=DONE.get(done or ""))


def _show_calibration(
    request: Request,
    principal: Principal,
    round_id: int,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    me = principal.user.username
    with read_only(container.sessions) as session:
        found = qa.calibration(session, round_id)
        agreement = qa.calibration_agreement(session, round_id) if found.closed_at else []
    return private_page(
        request,
        "workbench/qa_calibration.html",
        {
            "round": found,
            "agreement": agreement,
            "me": me,
            "mine": found.scored.get(me, frozenset()),
            "admin": principal.user.may(QA_ADMIN),
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.post("/qa/calibrations/{round_id}/close")
async def close_calibration(
    request: Request,
    *,
    round_id: int = RoundId,
    principal: Principal = Depends(require_permission(QA_ADMIN)),
) -> Response:
    """Close a round and show its agreement."""
    container = container_of(request)
    actor = principal.user.username
    problem = await run_step(
        container.sessions,
        lambda session: qa.close_calibration(session, round_id, actor=actor, now=utcnow()),
        raised=(NotFound,),
    )
    if problem is None:
        return RedirectResponse(f"/qa/calibrations/{round_id}?done=closed", status_code=303)
    return await run_in_threadpool(
        lambda: _show_calibration(
            request, principal, round_id, problem=str(problem), status_code=_status(problem)
        )
    )


# --- trends ---------------------------------------------------------------------------


@router.get("/qa/trends")
def trends_page(
    request: Request,
    *,
    weeks: str = Query("12", max_length=10),
    principal: Principal = Depends(require_permission(QA_REVIEW)),
) -> Response:
    """Chart the mean quality score per team and week (1 to 52 weeks), with a table per analyst.

    A number of weeks out of range is brought within it; one that is not a number is 12.
    """
    weeks_shown = int(weeks) if weeks.strip().isdigit() else 12
    return _show_trends(request, max(1, min(MAX_TREND_WEEKS, weeks_shown)))


def _show_trends(request: Request, weeks: int) -> Response:
    container = container_of(request)
    now = utcnow()
    start = week_start(now) - timedelta(weeks=weeks - 1)
    with read_only(container.sessions) as session:
        reviews = qa.scored_reviews(session, start=start, end=now + timedelta(seconds=1))
    teams = weekly_quality(reviews, by="team")
    analysts = weekly_quality(reviews, by="analyst")
    chart = line_chart(_series(teams), title="Mean quality score per team and week", unit="")
    analyst_chart = line_chart(
        _series(analysts)[:6], title="Mean quality score per analyst and week (first six)"
    )
    week_list = [start + timedelta(weeks=i) for i in range(weeks)]
    table: dict[str, dict[datetime, Any]] = {}
    for row in analysts:
        table.setdefault(row.who, {})[row.week_start] = row
    team_table: dict[str, dict[datetime, Any]] = {}
    for row in teams:
        team_table.setdefault(row.who, {})[row.week_start] = row
    return private_page(
        request,
        "workbench/qa_trends.html",
        {
            "chart": chart,
            "analyst_chart": analyst_chart,
            "weeks": weeks,
            "week_list": week_list,
            "analysts": table,
            "teams": team_table,
            "reviews": len(reviews),
        },
    )


def _series(rows: list[Any]) -> list[Series]:
    points: dict[str, list[tuple[datetime, float]]] = {}
    for row in rows:
        points.setdefault(row.who, []).append((row.week_start, row.mean_score))
    return [Series(who, tuple(values)) for who, values in sorted(points.items())]
