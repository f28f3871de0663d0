"""``backorder-bot demo --no-serve``: the story plays through the real paths and says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = Path(sys.executable).with_name("backorder-bot")
# Whatever the developer's shell holds, the demo must not see real credentials or databases.
_SCRUBBED = ("TELEGRAM_", "TWILIO_", "DATABASE_URL", "PUBLIC_BASE_URL", "AGENT_API_TOKEN")


def test_the_demo_story_plays_every_step_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env["COLUMNS"] = "80"  # piped output is whole whatever the width
    result = subprocess.run(
        [str(CLI), "demo", "--no-serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    steps = [
        "1. The shop and its customers",
        "2. Five orders for one machine: four go on backorder",
        "3. Ada asks where her order is, then switches to the alternative",
        "4. The supplier's date moves: the waiting customers are told, once",
        "5. One machine arrives: the oldest waiting order gets it",
        "6. The shop ships María's order: she gets the tracking link",
        "7. An agent writes to everyone still waiting; the opted-out customer is skipped",
    ]
    for step in steps:
        assert step in out
    # What each step must show happened, read from the messages the customers received.
    assert "-> María (Telegram): Casa Verde" in out  # linked, and told in Spanish
    assert "Ada orders D-1002: 0 allocated, 1 on backorder." in out
    assert "-> Ada (SMS): Casa Verde: Espresso machine (order D-1002) is on backorder." in out
    assert "Order D-1002 now reads: DEMO-ESPRESSO: switched, DEMO-ESPRESSO-PRO: allocated." in out
    assert "The same date sent again tells nobody anything new." in out
    assert "allocated to D-1003 (placed before D-1004)" in out
    assert "Número de seguimiento: PK123456789ES" in out
    assert "Order D-1003 is now completed." in out
    assert "Dry run: 1 recipient(s); skipped: 1 opted_out." in out
    spanish = "-> Dana (SMS): Casa Verde: Hola Dana, ya llega una nueva remesa de Espresso machine."
    assert spanish in out  # the agent's text, translated for a Spanish reader
    # --no-serve: the server is gone at the end, so no addresses are offered to try.
    assert "Try it yourself" not in out
    assert "127.0.0.1" not in out.split("7. An agent writes")[-1]
    assert "without --no-serve" in out
    assert (tmp_path / "var" / "demo.db").exists()
