"""One process of the inbox race: files one message for each conversation, as fast as it can.

Started by ``tests/store/test_inbox_race.py``: every worker files, in the same order, one
message from each customer in ``--customers`` and from each unknown sender in ``--senders``, each
in its own transaction (``Database.transaction``, as ``bot.inbound`` files), so every filing is
a conversation's first message racing the other workers'. It says it is ready by creating
``<barrier>.ready.<worker>`` and starts when ``<barrier>.go`` appears. Prints one JSON line::

    python -m tests.store.inbox_race_worker --url URL --worker 0 --customers 1,2 --senders +1..
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sqlalchemy.orm import Session

from store import inbox
from store.db import Database
from store.models import Channel, Customer, InboundMessage, utcnow
from store.tables_inbox import InboxKind


def _file(session: Session, worker: int, customer_id: int | None, sender: str) -> int:
    customer = session.get(Customer, customer_id) if customer_id is not None else None
    now = utcnow()
    message = InboundMessage(
        channel=Channel.SMS,
        provider_id=f"race-{worker}-{customer_id}-{sender}",
        sender=sender,
        body=f"agent please (worker {worker})",
        customer_id=customer_id,
        received_at=now,
        handled_at=now,
    )
    session.add(message)
    session.flush()
    kind = InboxKind.HUMAN_REQUESTED if worker % 2 else InboxKind.NOT_UNDERSTOOD
    return inbox.file_message(
        session, inbound_id=message.id, kind=kind, channel=Channel.SMS, sender=sender,
        customer=customer, now=now,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--customers", required=True, help="id:phone,id:phone,...")
    parser.add_argument("--senders", required=True, help="unknown senders, comma separated")
    parser.add_argument("--barrier", type=Path, required=True)
    args = parser.parse_args()
    targets: list[tuple[int | None, str]] = []
    for pair in args.customers.split(","):
        cid, phone = pair.split(":")
        targets.append((int(cid), phone))
    targets += [(None, sender) for sender in args.senders.split(",")]
    db = Database(args.url)
    with db.read_session() as session:  # connect before the start, so all start together
        session.get(Customer, targets[0][0])
    args.barrier.with_name(f"{args.barrier.name}.ready.{args.worker}").touch()
    while not args.barrier.with_name(f"{args.barrier.name}.go").exists():
        time.sleep(0.002)
    filed = [
        db.transaction(lambda s, c=cid, a=address: _file(s, args.worker, c, a))
        for cid, address in targets
    ]
    db.dispose()
    print(json.dumps({"worker": args.worker, "filed": filed}))


if __name__ == "__main__":
    main()
