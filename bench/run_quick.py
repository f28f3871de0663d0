"""Every benchmark once, at quick sizes, so none rots (issue 16's CI step).

Not timed and nothing asserted about speed: each script must run to the end and exit 0 at a
size that takes seconds. A script's figures are printed as it prints them. A new benchmark in
``bench/`` must get a line in ``QUICK`` (the run fails otherwise), so it cannot be forgotten.

    python bench/run_quick.py            # all of them, about a minute on an idle 2-core machine
    python bench/run_quick.py fanout cli # some of them
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

QUICK: dict[str, list[str]] = {
    "analytics": ["--lines", "5000", "--runs", "1"],
    "broadcast": ["--customers", "500"],
    "channels": ["--n", "200", "--latency-ms", "0"],
    "claim": ["--rows", "500", "--naive-rows", "100", "--repeat", "1"],
    "cli": ["--repeat", "1"],
    "dispatch": ["--n", "200", "--n30", "30", "--latency-ms", "50"],
    "fanout": ["--customers", "500", "--repeat", "1"],
    "order_feed": ["-n", "60", "--batch", "20"],
    "import_stall": ["--rows", "200", "--floor-seconds", "0.5"],
    "ratelimit": ["--seconds", "1", "--senders", "10", "--chats", "20"],
    "render": ["--n", "200", "--runs", "1"],
    "shopify": ["-n", "50"],
    "timeline": ["--customers", "50", "--per-customer", "5", "--runs", "1"],
    "webhooks": ["--quick", "--orders", "2000", "--duration", "0.5", "--warmup", "0.2"],
}


def main(argv: list[str]) -> int:
    present = sorted(p.stem.removeprefix("bench_") for p in BENCH.glob("bench_*.py"))
    unlisted = [name for name in present if name not in QUICK]
    if unlisted:
        print(f"no quick size for: {', '.join(unlisted)} (add them to QUICK)", file=sys.stderr)
        return 2
    names = argv or present
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    failed = []
    started = time.perf_counter()
    for name in names:
        print(f"== bench_{name}.py {' '.join(QUICK[name])}", flush=True)
        one = time.perf_counter()
        script = BENCH / f"bench_{name}.py"
        result = subprocess.run(
            [sys.executable, str(script), *QUICK[name]],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        sys.stderr.write(result.stderr)
        # A missed target at a quick size is no news (some scripts exit 1 on a miss); a
        # traceback or a signal is a benchmark that rotted.
        rotted = result.returncode < 0 or result.returncode > 1 or "Traceback" in result.stderr
        print(f"   ({time.perf_counter() - one:.1f} s, exit {result.returncode})", flush=True)
        if rotted:
            failed.append(name)
    print(
        f"{len(names) - len(failed)}/{len(names)} benchmarks ran in "
        f"{time.perf_counter() - started:.0f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
