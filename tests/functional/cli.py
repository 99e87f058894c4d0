"""Run the real ``abusedesk`` command in a subprocess against a given database."""

import os
import subprocess
import sys
from pathlib import Path


def cli_env(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """Return an environment for the CLI: the database, a private evidence folder, no colours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABUSEDESK_")}
    env.update(
        ABUSEDESK_DATABASE__URL=database_url,
        ABUSEDESK_STORAGE__EVIDENCE_DIR=str(workdir / "evidence"),
        NO_COLOR="1",
        COLUMNS="200",
        **extra,
    )
    return env


def run_cli(
    *args: str, database_url: str, workdir: Path, timeout: float = 300, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``abusedesk ARGS`` and return its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "abusedesk", *args],
        cwd=workdir,
        env=cli_env(database_url, workdir, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
