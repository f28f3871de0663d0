"""Dispatcher processes killed, stopped and run side by side, against the fake providers over HTTP.

Everything here is a real OS process: the fake Telegram/Twilio (``recording_fake``), and the
dispatchers, built from environment settings with the real ``TelegramChannel`` and
``TwilioSmsChannel``. The promise under test (DESIGN, "Rules that are easy to get wrong"): the
dispatcher delivers at least once and never twice for the same outbox row, across crashes.
What "delivered" means is read from the fake provider's own record of what reached it.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, text

from messaging import outbox
from store.db import Database
from store.models import Channel, Customer, DeliveryAttempt, OutboxMessage, OutboxStatus, utcnow
from tests.messaging.recording_fake import dispatcher_env, running

CLI = Path(sys.executable).with_name("backorder-bot")


@dataclass(frozen=True)
class Fake:
    """The recording fake provider process: where to send, and where to ask what it got."""

    url: str
    control: str

    def texts(self) -> Counter[str]:
        """How many times each message text reached the provider (Telegram and Twilio)."""
        with urllib.request.urlopen(f"{self.control}/requests", timeout=10) as answer:
            body = json.load(answer)
        assert body["violations"] == [], body["violations"][:5]
        return Counter(send["text"] for send in body["sends"])


@contextmanager
def recording_fake(tmp_path: Path, latency_ms: float = 0.0) -> Iterator[Fake]:
    with running(tmp_path / "fake.log", "--latency-ms", str(latency_ms)) as (url, control):
        yield Fake(url, control)


@contextmanager
def child(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """A dispatcher process; whatever a test does, it is gone when the test ends."""
    with log.open("w") as out:
        # cwd is the test's folder: a developer's .env must not configure the child.
        process = subprocess.Popen(
            command, cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def worker_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.messaging.dispatch_worker", *args]


def queue(db: Database, customers: int, *, per_customer: int = 1, sms: int = 0) -> None:
    """``customers`` Telegram customers with ``per_customer`` rows each; the first ``sms`` of
    them also get one SMS. Every row's text is unique, so the fake's record maps back to it."""
    now = utcnow()
    with db.session() as session:
        ids = session.scalars(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
            [
                {
                    "name": f"Customer {i}",
                    "phone": f"+1415555{i:04d}",
                    "telegram_chat_id": 5_000_000_000 + i,
                    "created_at": now,
                }
                for i in range(customers)
            ],
        ).all()
        messages = [
            outbox.QueuedMessage(
                dedupe_key=f"proc:tg:{i}:{n}",
                customer_id=customer_id,
                channel=Channel.TELEGRAM,
                address=str(5_000_000_000 + i),
                message="broadcast",
                locale="en",
                body=f"Telegram {i}.{n}: your Blue Kettle ships on 12 December.",
            )
            for i, customer_id in enumerate(ids)
            for n in range(per_customer)
        ]
        messages += [
            outbox.QueuedMessage(
                dedupe_key=f"proc:sms:{i}",
                customer_id=customer_id,
                channel=Channel.SMS,
                address=f"+1415555{i:04d}",
                message="broadcast",
                locale="en",
                body=f"SMS {i}: your Blue Kettle ships on 12 December.",
            )
            for i, customer_id in enumerate(ids[:sms])
        ]
        outbox.enqueue(session, messages, now)


@dataclass(frozen=True)
class Row:
    status: OutboxStatus
    body: str
    attempts: int
    claimed_by: str | None
    lease_expires_at: dt.datetime | None
    provider_id: str | None


def rows(db: Database) -> dict[int, Row]:
    with db.read_session() as session:
        return {
            r.id: Row(r.status, r.body, r.attempts, r.claimed_by, r.lease_expires_at, r.provider_id)
            for r in session.scalars(select(OutboxMessage))
        }


def bodies(snapshot: dict[int, Row], *statuses: OutboxStatus) -> Counter[str]:
    return Counter(r.body for r in snapshot.values() if r.status in statuses)


def freeze_between_transactions(process: subprocess.Popen[bytes], db: Database) -> None:
    """SIGSTOP ``process`` at a moment it is in no transaction.

    A process frozen inside a write transaction on SQLite blocks every other writer until it
    thaws (that is SQLite, not the dispatcher): the test would then only measure the busy
    timeout. On PostgreSQL a transaction frozen open keeps its row locks the same way (seen in
    CI with the suite spread over two processes: the other worker waited 30 s on them). Right
    after a send the worker commits its outcome, so a freeze timed by the send often landed in
    that commit; this retries until, while it is frozen, it holds no transaction.
    """
    for _ in range(100):
        process.send_signal(signal.SIGSTOP)
        if _no_transaction_open(db):
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError("the worker never stopped between transactions")


def _no_transaction_open(db: Database) -> bool:
    if db.engine.dialect.name == "sqlite":
        return _write_lock_is_free(db)
    # Every other session on this test's own database (the workers'): none inside a transaction.
    with db.engine.connect() as conn:
        open_elsewhere = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
        ).scalar()
    return open_elsewhere == 0


def _write_lock_is_free(db: Database) -> bool:
    database = db.engine.url.database
    assert database is not None
    connection = sqlite3.connect(database, timeout=0.1, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_killed_worker_loses_no_row_and_sends_none_twice(
    committed_db: Database, tmp_path: Path
) -> None:
    concurrency = 20
    queue(committed_db, customers=40, sms=40)
    with recording_fake(tmp_path, latency_ms=2000) as fake:
        env = dispatcher_env(committed_db.url, fake.url)
        first = worker_command("--lease-seconds", "3", "--concurrency", str(concurrency))
        with child(first, env, tmp_path / "killed.log") as victim:
            # The fake holds every answer 2 s: these requests are in flight, and the other
            # rows of the claimed batches wait for a free slot.
            wait_for(lambda: sum(fake.texts().values()) >= concurrency, "requests in flight")
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
        at_kill, reached = rows(committed_db), fake.texts()
        assert bodies(at_kill, OutboxStatus.SENDING) == reached
        assert sum(bodies(at_kill, OutboxStatus.CLAIMED).values()) == 80 - concurrency

        leases = [r.lease_expires_at for r in at_kill.values() if r.lease_expires_at]
        wait_for(lambda: utcnow() > max(leases), "the dead worker's lease to expire")
        restart = worker_command("--lease-seconds", "30", "--once")
        with child(restart, env, tmp_path / "restart.log") as survivor:
            assert survivor.wait(timeout=60) == 0, (tmp_path / "restart.log").read_text()
        final, delivered = rows(committed_db), fake.texts()

    assert {r.status for r in final.values()} == {OutboxStatus.SENT, OutboxStatus.UNKNOWN}
    assert bodies(final, OutboxStatus.UNKNOWN) == reached
    assert max(delivered.values()) == 1
    assert delivered == bodies(final, OutboxStatus.SENT, OutboxStatus.UNKNOWN)
    # The dead worker's claims were given back, not counted as attempts.
    assert {r.attempts for r in final.values() if r.status == OutboxStatus.SENT} == {1}


def test_sigterm_finishes_sends_in_flight_and_hands_back_the_rest(
    committed_db: Database, tmp_path: Path
) -> None:
    queue(committed_db, customers=250, sms=20)
    with recording_fake(tmp_path, latency_ms=1000) as fake:
        env = dispatcher_env(committed_db.url, fake.url)
        with child([str(CLI), "dispatch"], env, tmp_path / "dispatch.log") as worker:
            wait_for(lambda: sum(fake.texts().values()) > 0, "requests in flight")
            time.sleep(0.2)
            in_flight = fake.texts()
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=20)
        assert code == 0, (tmp_path / "dispatch.log").read_text()
        stopped, delivered = rows(committed_db), fake.texts()

        assert {r.status for r in stopped.values()} == {OutboxStatus.SENT, OutboxStatus.PENDING}
        assert all(stopped[i].provider_id for i in stopped if stopped[i].body in in_flight)
        assert bodies(stopped, OutboxStatus.SENT) == delivered
        handed_back = [r for r in stopped.values() if r.status == OutboxStatus.PENDING]
        assert handed_back
        assert {(r.attempts, r.claimed_by, r.lease_expires_at) for r in handed_back} == {
            (0, None, None)
        }

        with child([str(CLI), "dispatch", "--once"], env, tmp_path / "drain.log") as drain:
            assert drain.wait(timeout=30) == 0, (tmp_path / "drain.log").read_text()
        final, delivered = rows(committed_db), fake.texts()

    assert {r.status for r in final.values()} == {OutboxStatus.SENT}
    assert delivered == bodies(final, OutboxStatus.SENT)
    assert max(delivered.values()) == 1


@pytest.mark.postgres
def test_two_worker_processes_drain_ten_thousand_rows_once_each(
    on_postgres: Database, committed_db: Database, tmp_path: Path
) -> None:
    queue(committed_db, customers=1000, per_customer=10)
    with recording_fake(tmp_path) as fake:
        env = dispatcher_env(committed_db.url, fake.url, DISPATCH_WORKERS="2")
        command = [str(CLI), "dispatch", "--once"]
        started = time.perf_counter()
        with (
            child(command, env, tmp_path / "a.log") as a,
            child(command, env, tmp_path / "b.log") as b,
        ):
            codes = a.wait(timeout=120), b.wait(timeout=120)
        wall = time.perf_counter() - started
        assert codes == (0, 0), (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
        delivered = fake.texts()

    final = rows(committed_db)
    assert {r.status for r in final.values()} == {OutboxStatus.SENT}
    assert len(delivered) == 10_000
    assert max(delivered.values()) == 1
    assert delivered == bodies(final, OutboxStatus.SENT)
    with committed_db.read_session() as session:
        per_worker = {
            worker: count
            for worker, count in session.execute(
                select(DeliveryAttempt.worker, func.count()).group_by(DeliveryAttempt.worker)
            )
        }
    assert len(per_worker) == 2
    assert sum(per_worker.values()) == 10_000
    print(f"\n2 dispatcher processes, 10,000 Telegram rows: {wall:.1f} s wall, {per_worker}")


# ---- regressions: a lapsed claim is never sent, and a stop does not wait for the limiter ----


def test_worker_whose_lease_expired_does_not_send_rows_another_worker_took(
    committed_db: Database, tmp_path: Path
) -> None:
    # A worker frozen (SIGSTOP: a VM pause, a stuck disk) while it holds claims loses them when
    # its lease runs out; another worker sends them; the frozen one, once thawed, must not.
    queue(committed_db, customers=4, sms=4)
    with committed_db.session() as session:
        session.execute(delete(OutboxMessage).where(OutboxMessage.channel == Channel.TELEGRAM))
    with recording_fake(tmp_path) as fake:
        # 4 SMS/s and a 6 s lease: a batch of 4 x 6 / 4 = 6 rows, sent over about a second.
        env = dispatcher_env(committed_db.url, fake.url, SMS_RATE_PER_SECOND="4")
        command = worker_command("--lease-seconds", "6", "--once")
        with child(command, env, tmp_path / "frozen.log") as frozen:
            wait_for(lambda: sum(fake.texts().values()) > 0, "the first send")
            freeze_between_transactions(frozen, committed_db)
            try:
                held = [r for r in rows(committed_db).values() if r.lease_expires_at]
                assert held, "the frozen worker should still hold claims"
                latest = max(r.lease_expires_at for r in held if r.lease_expires_at)
                wait_for(lambda: utcnow() > latest, "the frozen worker's lease to expire")
                with child(command, env, tmp_path / "other.log") as other:
                    assert other.wait(timeout=30) == 0
            finally:
                frozen.send_signal(signal.SIGCONT)
            assert frozen.wait(timeout=30) == 0
        delivered = fake.texts()
    assert sum(delivered.values()) == 4
    assert max(delivered.values()) == 1, delivered


def test_sigterm_does_not_wait_for_rate_limited_claims(
    committed_db: Database, tmp_path: Path
) -> None:
    # One SMS every 5 s: a dispatcher that waited for its claimed rows before stopping would
    # send them all after the SIGTERM, 5 s apart. The promise is checked on what is sent, not
    # on the wall clock (a loaded machine takes seconds just to stop a process); the time bound
    # is only a backstop, catching a hang (stops measured 0.6-4.8 s with 3 busy loops on 2 cores).
    queue(committed_db, customers=4, sms=4)
    with committed_db.session() as session:
        session.execute(delete(OutboxMessage).where(OutboxMessage.channel == Channel.TELEGRAM))
    with recording_fake(tmp_path) as fake:
        env = dispatcher_env(committed_db.url, fake.url, SMS_RATE_PER_SECOND="0.2")
        with child([str(CLI), "dispatch"], env, tmp_path / "dispatch.log") as worker:
            wait_for(lambda: sum(fake.texts().values()) > 0, "the first send")
            worker.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            sent_at_sigterm = sum(fake.texts().values())
            assert worker.wait(timeout=60) == 0
            took = time.monotonic() - stopped_at
        sent = sum(fake.texts().values())
    statuses = Counter(r.status for r in rows(committed_db).values())
    assert set(statuses) == {OutboxStatus.SENT, OutboxStatus.PENDING}, statuses
    # At most the one send already under way when the signal came.
    assert sent - sent_at_sigterm <= 1, (sent_at_sigterm, sent)
    assert statuses[OutboxStatus.SENT] == sent
    assert took < 20, f"SIGTERM took {took:.1f} s to stop the dispatcher"
    print(f"\nSIGTERM to exit: {took:.2f} s, {sent - sent_at_sigterm} sent after the signal")
