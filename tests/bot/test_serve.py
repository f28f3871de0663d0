"""`backorder-bot serve` as a real process: web app and dispatcher together, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from messaging import outbox
from store.db import Database
from store.models import Channel, Customer, OutboxMessage, OutboxStatus, utcnow

CLI = Path(sys.executable).with_name("backorder-bot")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def queued(committed_db: Database) -> int:
    with committed_db.session() as session:
        customer = Customer(name="Ada", phone="+14155550100")
        session.add(customer)
        session.flush()
        outbox.enqueue(
            session,
            [
                outbox.QueuedMessage(
                    dedupe_key="serve-test",
                    customer_id=customer.id,
                    channel=Channel.SMS,
                    address="+14155550100",
                    message="broadcast",
                    locale="en",
                    body="hello from serve",
                    urgent=True,
                )
            ],
            utcnow(),
        )
        return customer.id


def test_serve_answers_health_delivers_and_stops_cleanly_on_sigterm(
    committed_db: Database, queued: int, tmp_path: Path
) -> None:
    port = _free_port()
    log = tmp_path / "sandbox.jsonl"
    env = {
        **os.environ,
        "DATABASE_URL": committed_db.url,
        "SANDBOX_LOG": str(log),
        "SMS_RATE_PER_SECOND": "100",
    }
    for secret in ("TELEGRAM_BOT_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        env.pop(secret, None)
    process = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        health = json.loads(_wait_for(f"http://127.0.0.1:{port}/healthz"))
        assert health == {"status": "ok"}
        deadline = time.monotonic() + 20
        while not (log.exists() and "hello from serve" in log.read_text()):
            assert time.monotonic() < deadline, "the dispatcher inside serve sent nothing"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises the signal so process managers see it.
    assert process.returncode in (0, -signal.SIGTERM), output.decode()
    assert b"Application shutdown complete" in output
    with committed_db.read_session() as session:
        statuses = session.scalars(select(OutboxMessage.status)).all()
    assert statuses == [OutboxStatus.SENT]
