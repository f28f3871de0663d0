"""`serve --workers 2`: two processes on one port, on the test database (SQLite file or
PostgreSQL), each message handled exactly once whichever worker gets its deliveries."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select

from store.db import Database
from store.models import Customer, InboundMessage
from tests.bot.test_serve import CLI, _free_port, _wait_for
from tests.bot.web.conftest import PUBLIC_BASE_URL, TOKEN, sign

SMS_URL = PUBLIC_BASE_URL + "/webhooks/twilio/sms"
PHONE = "+14155550123"
MESSAGES = 40


def _post(base: str, sid: str, body: str) -> tuple[int, bytes]:
    params = [("MessageSid", sid), ("From", PHONE), ("To", "+14155550100"), ("Body", body)]
    request = urllib.request.Request(
        base + "/webhooks/twilio/sms",
        data=urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(SMS_URL, params),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, answer.read()


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_two_workers_answer_on_one_port_handle_each_message_once_and_stop_together(
    committed_db: Database, tmp_path: Path
) -> None:
    with committed_db.session() as session:
        session.add(Customer(name="Ada", phone=PHONE))
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": committed_db.url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": "+14155550100",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    process = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), "--workers", "2", "--no-dispatch"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/healthz")
        workers = _children(process.pid)
        assert len(workers) == 2
        # Every message delivered twice at once (Twilio retries), spread over both workers.
        sids = [f"SM{n:032x}" for n in range(MESSAGES)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda sid: _post(base, sid, "HELP"), sids * 2))
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output.decode()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived the parent's SIGTERM"
        time.sleep(0.05)
    assert output.count(b"Application shutdown complete") == 2
    assert {status for status, _ in answers} == {200}
    # Exactly one of each message's two deliveries got the answer; the other an empty one.
    answered = sum(b"<Message>" in body for _, body in answers)
    assert answered == MESSAGES
    with committed_db.read_session() as session:
        logged = session.scalar(select(func.count()).select_from(InboundMessage))
        handled = session.scalar(select(func.count(InboundMessage.handled_at)))
    assert logged == handled == MESSAGES
