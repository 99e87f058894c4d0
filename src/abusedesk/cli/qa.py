"""``abusedesk qa``: sample work for quality review now, at random or targeted.

``abusedesk qa sample`` runs the sampling sweep at once (whatever its interval) over the
work done since the last sweep; ``--case ID`` (with ``--action ID`` for one of its
actions) or ``--analyst NAME --count N`` put chosen work in the QA queue instead.

Exit codes: 0 done, 1 refused (unknown case, nothing to sample), 2 invalid input.
"""

import random
from datetime import timedelta

import typer

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.cli.unattributed import default_actor
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.pipeline.qa_sampling import sample_now
from abusedesk.storage import qa
from abusedesk.storage.db import unit_of_work

app = typer.Typer(help="Quality assurance: sample work for review.", no_args_is_help=True)


def _fail(problem: AbuseDeskError) -> typer.Exit:
    errors.print(plain(problem))
    return typer.Exit(2 if isinstance(problem, qa.InvalidQaInput) else 1)


@app.command("sample")
def sample(
    *,
    case: int | None = typer.Option(None, min=1, help="Sample this closed case (targeted)."),
    action: int | None = typer.Option(
        None, min=1, help="With --case: sample this executed action of the case."
    ),
    analyst: str | None = typer.Option(
        None, help="Sample --count random closed cases of this analyst (targeted)."
    ),
    count: int = typer.Option(5, min=1, max=qa.MAX_TARGETED, help="With --analyst: how many."),
    days: int = typer.Option(30, min=1, max=366, help="With --analyst: closed in the last N days."),
    seed: int | None = typer.Option(
        None, help="Draw with this seed instead of the settings' qa.seed."
    ),
    note: str = typer.Option("", help="Why this work is targeted (audit log)."),
    actor: str | None = typer.Option(None, help="Who samples, for the audit log [OS user]."),
) -> None:
    """Run the sampling sweep now, or put chosen work in the QA queue."""
    if action is not None and case is None:
        errors.print(plain("--action needs --case: name the case the action belongs to"))
        raise typer.Exit(2)
    if case is not None and analyst is not None:
        errors.print(plain("give --case or --analyst, not both"))
        raise typer.Exit(2)
    now = utcnow()
    who = actor or default_actor()
    rng = random.Random(seed)  # noqa: S311  # sampling, not secrets
    try:
        with open_container() as container:
            if case is not None:
                with unit_of_work(container.sessions) as session:
                    sample_id = qa.target_case(
                        session, case, action_id=action, actor=who, now=now, note=note
                    )
                console.print(plain(f"sample {sample_id} added to the QA queue"))
                return
            if analyst is not None:
                with unit_of_work(container.sessions) as session:
                    ids = qa.target_analyst(
                        session,
                        analyst,
                        count=count,
                        since=now - timedelta(days=days),
                        actor=who,
                        now=now,
                        rng=rng,
                    )
                listed = ", ".join(map(str, ids))
                console.print(plain(f"{len(ids)} sample(s) added to the QA queue: {listed}"))
                return
            result = sample_now(
                container.sessions, container.settings.qa, now, seed=seed, force=True
            )
    except NotFound as problem:
        raise _fail(problem) from problem
    except AbuseDeskError as problem:
        raise _fail(problem) from problem
    if result is None:
        console.print(plain("another sweep is sampling right now; nothing done"))
        return
    picked = ", ".join(f"{reason} {n}" for reason, n in sorted(result.picked.items())) or "none"
    console.print(
        plain(
            f"sampled {result.total} of {result.considered} piece(s) of work done "
            f"{result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC ({picked})"
        )
    )
    if result.without_analyst:
        console.print(plain(f"{result.without_analyst} done by the system alone: not sampled"))
