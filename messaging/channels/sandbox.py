"""A channel that delivers nothing: it records what it would have sent.

Used when provider credentials are absent (local runs, the demo, tests). The most recent
records (:data:`KEEP_IN_MEMORY`) stay in memory, so a sandboxed server or a broadcast to a
million customers does not grow without bound; when a path is given, every record is also
appended to a JSON-lines file so another process (the demo's viewer, a test driving the CLI)
can read what was "sent".
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from messaging.channels.base import SendError, check_kind
from messaging.types import Button, ChannelKind, OutgoingMessage

# Look-alike ids keep log lines and status-callback code paths realistic: Twilio message SIDs
# are "SM" + 32 hex digits; "SB" marks a sandboxed Telegram message.
_ID_PREFIX = {ChannelKind.SMS: "SM", ChannelKind.TELEGRAM: "SB", ChannelKind.EMAIL: "EM"}
# Recent sends kept for ``sent`` and ``find_sent``: well over what reconciliation looks back
# over at sandbox speeds (a minute), and a few MB.
KEEP_IN_MEMORY = 20_000


class SandboxRecord(NamedTuple):
    """One message the sandbox accepted."""

    provider_id: str
    message: OutgoingMessage
    sent_at: datetime


class _Failure:
    """A scripted failure for one address, optionally for a limited number of sends."""

    __slots__ = ("after_delivery", "error", "remaining")

    def __init__(self, error: SendError, remaining: int | None, after_delivery: bool) -> None:
        self.error = error
        self.remaining = remaining
        self.after_delivery = after_delivery


class SandboxChannel:
    """Records messages instead of sending them; can be told to fail for an address.

    ``keep``: how many recent records ``sent`` holds (the log file, if any, has them all).
    """

    def __init__(
        self,
        kind: ChannelKind,
        *,
        log_path: str | Path | None = None,
        keep: int = KEEP_IN_MEMORY,
    ) -> None:
        self.kind = kind
        self._recent: deque[SandboxRecord] = deque(maxlen=keep)
        self._log_path = Path(log_path) if log_path is not None else None
        self._log_lock = asyncio.Lock()
        self._failures: dict[str, _Failure] = {}

    @property
    def sent(self) -> list[SandboxRecord]:
        """The most recent records (at most ``keep``), oldest first; a copy."""
        return list(self._recent)

    def fail_for(
        self,
        address: str,
        error: SendError | None = None,
        *,
        times: int | None = None,
        after_delivery: bool = False,
    ) -> None:
        """Make sends to ``address`` raise ``error`` (default: a transient provider error).

        ``times`` limits how many sends fail before the address works again; None means always.
        ``after_delivery`` records the message as sent before raising: the provider got it but
        its answer was lost (use with an ``outcome_unknown`` error).
        """
        chosen = error or SendError("provider_error", "sandbox scripted failure")
        self._failures[address] = _Failure(chosen, times, after_delivery)

    def succeed_for(self, address: str) -> None:
        """Undo :meth:`fail_for`."""
        self._failures.pop(address, None)

    async def send(self, message: OutgoingMessage) -> str:
        """Record ``message`` and return a fake provider id, or raise a scripted failure."""
        check_kind(self.kind, message)
        failure = self._scripted_failure(message.address)
        if failure is not None and not failure.after_delivery:
            raise failure.error
        record = SandboxRecord(
            provider_id=_ID_PREFIX[self.kind] + uuid.uuid4().hex,
            message=message,
            sent_at=datetime.now(UTC),
        )
        self._recent.append(record)
        if self._log_path is not None:
            await self._append(record)
        if failure is not None:
            raise failure.error
        return record.provider_id

    async def find_sent(self, message: OutgoingMessage, since: datetime) -> str | None:
        """Like Twilio's message list: what was accepted for this address and text."""
        for record in reversed(self._recent):
            same = (record.message.address, record.message.text) == (message.address, message.text)
            if same and record.sent_at >= since:
                return record.provider_id
        return None

    async def close(self) -> None:
        """Nothing to release; present for the :class:`Channel` contract."""

    def _scripted_failure(self, address: str) -> _Failure | None:
        failure = self._failures.get(address)
        if failure is not None and failure.remaining is not None:
            failure.remaining -= 1
            if failure.remaining <= 0:
                del self._failures[address]
        return failure

    async def _append(self, record: SandboxRecord) -> None:
        line = json.dumps(_record_to_json(record), ensure_ascii=False) + "\n"
        path = self._log_path
        assert path is not None
        # One writer at a time so lines never interleave; the write itself goes to a thread
        # because a slow disk must not stall every other coroutine in the dispatcher.
        async with self._log_lock:
            await asyncio.to_thread(_append_line, path, line)


def read_sandbox_log(path: str | Path) -> list[SandboxRecord]:
    """Read the records a :class:`SandboxChannel` appended to ``path`` (maybe in another process).

    Lines that do not parse (the writer may be mid-line) are skipped rather than fatal.
    """
    file = Path(path)
    if not file.exists():
        return []
    records = []
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            records.append(_record_from_json(json.loads(line)))
        except (ValueError, KeyError):
            continue
    return records


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(line)


def _record_to_json(record: SandboxRecord) -> dict[str, Any]:
    message = record.message
    return {
        "provider_id": record.provider_id,
        "sent_at": record.sent_at.isoformat(),
        "channel": message.channel.value,
        "address": message.address,
        "text": message.text,
        "buttons": [{"label": b.label, "data": b.data} for b in message.buttons],
        "reference": message.reference,
        "metadata": message.metadata,
    }


def _record_from_json(data: dict[str, Any]) -> SandboxRecord:
    message = OutgoingMessage(
        channel=ChannelKind(data["channel"]),
        address=data["address"],
        text=data["text"],
        buttons=tuple(Button(b["label"], b["data"]) for b in data["buttons"]),
        reference=data["reference"],
        metadata=dict(data["metadata"]),
    )
    return SandboxRecord(data["provider_id"], message, datetime.fromisoformat(data["sent_at"]))
