"""Concurrent first messages open one inbox item per conversation (both databases).

Separate OS processes (threads in one process take turns on SQLite's process-wide lock, and
prove nothing there) each file one message from every conversation at once: known customers
(one open item per customer) and unknown senders (one per channel and address). Each
conversation must end with exactly one open item holding every worker's message. Before the
partial unique indexes of migration 0022, PostgreSQL opened two or more items for most
conversations in this race.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from store.db import Database
from store.models import Customer
from store.tables_inbox import InboxItem, InboxMessage
from tests import factories as f
from tests.messaging.recording_fake import env_without_settings

WORKERS = 4
CUSTOMERS = 30
SENDERS = 10


def _race(db: Database, tmp_path: Path, customers: str, senders: str) -> list[list[int]]:
    barrier = tmp_path / "start"
    logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
    processes = []
    for i, log in enumerate(logs):
        command = [
            sys.executable, "-m", "tests.store.inbox_race_worker", "--url", db.url,
            "--worker", str(i), "--customers", customers, "--senders", senders,
            "--barrier", str(barrier),
        ]  # fmt: skip
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(
                    command, cwd=tmp_path, env=env_without_settings(), stdout=out, stderr=out
                )
            )
    try:
        deadline = time.monotonic() + 60
        while not all(barrier.with_name(f"start.ready.{i}").exists() for i in range(WORKERS)):
            assert all(p.poll() is None for p in processes), [x.read_text() for x in logs]
            assert time.monotonic() < deadline, "the workers never got ready"
            time.sleep(0.01)
        barrier.with_name("start.go").touch()
        codes = [p.wait(timeout=120) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    assert codes == [0] * WORKERS, [log.read_text() for log in logs]
    return [json.loads(log.read_text().splitlines()[-1])["filed"] for log in logs]


def test_racing_first_messages_open_one_item_per_conversation(
    committed_db: Database, tmp_path: Path
) -> None:
    with committed_db.session() as session:
        people = [f.customer(session, name=f"Racer {i}") for i in range(CUSTOMERS)]
        customers = ",".join(f"{c.id}:{c.phone}" for c in people)
    senders = ",".join(f"+1415557{i:04d}" for i in range(SENDERS))
    filed = _race(committed_db, tmp_path, customers, senders)
    with committed_db.read_session() as session:
        items = list(session.scalars(select(InboxItem).where(InboxItem.closed_at.is_(None))))
        per_item = Counter(session.scalars(select(InboxMessage.item_id)))
        names = {cid: name for cid, name in session.execute(select(Customer.id, Customer.name))}
    per_customer = Counter(i.customer_id for i in items if i.customer_id is not None)
    per_sender = Counter(i.sender for i in items if i.customer_id is None)
    assert sorted(names[c] for c in per_customer) == sorted(p.name for p in people)
    assert set(per_customer.values()) == {1}, per_customer
    assert len(per_sender) == SENDERS
    assert set(per_sender.values()) == {1}, per_sender
    # Every worker's message is in its conversation's one item, and the count says so.
    assert all(per_item[i.id] == WORKERS == i.message_count for i in items)
    assert all(len(set(column)) == 1 for column in zip(*filed, strict=True))
