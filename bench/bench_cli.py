"""The CLI's first second: repeated fresh runs of `backorder-bot --help` and `orders show`.

Like hyperfine: each command runs ``--repeat`` times as a new process; the median wall time and
the median CPU time (user + system of the child) are printed next to the target and next to a
floor measured in the same run, a bare interpreter importing only what the command cannot do
without (Typer for ``--help``; for ``orders show``, Typer, Rich's table, the SQLite driver and
pydantic-settings, which reads the configuration). On a shared,
busy machine the CPU time is the steadier figure; the target is for wall time on an idle one.

Targets (issue 16): ``--help`` <= 0.3 s, ``orders show`` <= 0.5 s.

    python bench/bench_cli.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from bot.cli.main import main; main()"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def medians(argv: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    runs = [timed(argv, env) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def prepare(url: str, env: dict[str, str]) -> str:
    """A small database with sample orders; returns one order's number."""
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [*CLI, "sample", "load", "--customers", "20", "--orders", "30"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        number = conn.execute(text("SELECT number FROM orders ORDER BY id LIMIT 1")).scalar_one()
    engine.dispose()
    return str(number)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'cli.db'}"
        env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "100"}
        number = prepare(url, env)
        cases = [
            ("--help", [*CLI, "--help"], "import typer", 0.3),
            (
                "orders show",
                [*CLI, "orders", "show", number],
                "import typer, rich.table, sqlite3, pydantic_settings",
                0.5,
            ),
        ]
        print(f"CLI start-up, median of {args.repeat} fresh processes (wall / CPU)")
        for label, argv, floor_code, target in cases:
            wall, cpu = medians(argv, env, args.repeat)
            floor_wall, floor_cpu = medians([sys.executable, "-c", floor_code], env, args.repeat)
            verdict = "PASS" if wall <= target else "MISS"
            print(
                f"  {label:<12} {wall:5.2f} s / {cpu:5.2f} s CPU   target <= {target:.1f} s  "
                f"{verdict}   floor `{floor_code}` {floor_wall:5.2f} s / {floor_cpu:5.2f} s CPU"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
