"""``dispatch --once`` tells how far it has got when it has more than a few messages (issue 16):
sent, failed, left and the rate on stderr; plain lines when stderr is not a terminal."""

from __future__ import annotations

import asyncio
import io
import re
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import dispatch_progress
from bot.cli.main import app
from messaging.dispatcher import DispatchStats
from store.db import Database
from store.models import Channel, Customer, OutboxMessage, OutboxStatus

runner = CliRunner()
LINE = re.compile(
    r"^dispatch: (\d+) sent, (\d+) failed(?:, \d+ held back)?, (\d+) left, ([\d.]+)/s$"
)


@pytest.fixture
def cli_env(committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    monkeypatch.setenv("DATABASE_URL", committed_db.url)
    return committed_db


def _pending_messages(db: Database, count: int) -> None:
    with db.session() as session:
        for i in range(count):
            phone = f"+1415555{4000 + i:04d}"
            customer = Customer(name=f"Ada {i}", phone=phone)
            session.add(customer)
            session.flush()
            session.add(
                OutboxMessage(
                    dedupe_key=f"progress-{i}",
                    customer_id=customer.id,
                    channel=Channel.SMS,
                    address=phone,
                    message="broadcast",
                    locale="en",
                    body="hi",
                    status=OutboxStatus.PENDING,
                    urgent=True,  # quiet hours don't hold it back, whatever the time of day
                )
            )


def test_a_few_messages_drain_quietly(cli_env: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_RATE_PER_SECOND", "1000")
    _pending_messages(cli_env, 3)
    result = runner.invoke(app, ["dispatch", "--once"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "3 sent" in result.stdout
    assert "left" not in result.stderr


def test_a_long_drain_shows_sent_failed_left_and_rate_in_plain_lines(
    cli_env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 messages at 20/s: about three seconds, a line every 0.3 s.
    monkeypatch.setenv("SMS_RATE_PER_SECOND", "20")
    monkeypatch.setattr(dispatch_progress, "PLAIN_INTERVAL", 0.3)
    _pending_messages(cli_env, 60)
    result = runner.invoke(app, ["dispatch", "--once"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "60 sent" in result.stdout  # the summary stays on stdout
    assert "\x1b" not in result.stderr  # not a terminal: no control codes
    assert "\r" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("dispatch: ")]
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    counts = [(int(m[1]), int(m[2]), int(m[3]), float(m[4])) for m in parsed if m]
    assert len(counts) >= 4, lines  # first, some along the way, last
    assert counts[0][2] == 60  # all of it left at the start
    assert any(0 < sent < 60 for sent, _, _, _ in counts), lines  # seen on its way
    assert counts[-1][:3] == (60, 0, 0)
    assert 5 < counts[-1][3] <= 25, lines  # about the 20/s it was allowed
    lefts = [left for _, _, left, _ in counts]
    assert lefts == sorted(lefts, reverse=True)


def test_on_a_terminal_the_line_is_redrawn_in_place() -> None:
    async def drain() -> DispatchStats:
        await asyncio.sleep(0.3)
        return DispatchStats(Counter(sent=40, failed=2))

    live = DispatchStats(Counter(sent=10))
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    stats = asyncio.run(dispatch_progress.watch(drain(), lambda: live, lambda: 42, console))
    assert stats.outcomes["sent"] == 40
    text = screen.getvalue()
    assert "\x1b[" in text  # cursor movement: one line, redrawn
    assert "dispatch: 10 sent, 0 failed, 42 left" in text
    assert "dispatch: 40 sent, 2 failed, 42 left" in text
