"""The channel contract: one async ``send`` that returns the provider's message id or raises.

Channels translate every provider failure into :class:`SendError`, so the dispatcher decides
what to do (give up, wait, retry, or check before resending) without knowing any provider SDK.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from messaging.types import ChannelKind, OutgoingMessage


class SendError(Exception):
    """A message could not be handed to the provider.

    ``permanent``: retrying the same message cannot help (blocked bot, invalid number, opt-out).
    ``retry_after``: seconds the provider asked us to wait (429 / flood control), if it said.
    ``outcome_unknown``: the request left and no answer came back, so the provider may have
    accepted it; neither Telegram nor Twilio offers an idempotency key, so resending blindly
    can deliver the message twice.
    ``reason``: a stable machine code for metrics, opt-out handling and the attempt log.
    """

    def __init__(
        self,
        reason: str,
        detail: str = "",
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.permanent = permanent
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown

    def __repr__(self) -> str:
        return (
            f"SendError(reason={self.reason!r}, permanent={self.permanent}, "
            f"retry_after={self.retry_after}, outcome_unknown={self.outcome_unknown}, "
            f"detail={self.detail!r})"
        )


@runtime_checkable
class Channel(Protocol):
    """What the dispatcher needs from a channel: send one message, and release resources."""

    kind: ChannelKind

    async def send(self, message: OutgoingMessage) -> str:
        """Deliver ``message`` and return the provider's message id; raise :class:`SendError`."""
        ...

    async def close(self) -> None:
        """Release connections; the channel must not be used afterwards."""
        ...


@runtime_checkable
class Reconciler(Protocol):
    """A channel that can tell whether a message whose answer was lost reached the provider.

    Twilio can (list the recipient's recent messages); Telegram cannot, so its ``unknown``
    messages wait for a person to decide (``backorder-bot outbox retry``).
    """

    async def find_sent(self, message: OutgoingMessage, since: datetime) -> str | None:
        """The provider's id for ``message`` if it was accepted at or after ``since``."""
        ...


def check_kind(channel_kind: ChannelKind, message: OutgoingMessage) -> None:
    """Refuse a message routed to the wrong channel, before anything leaves the process."""
    if message.channel is not channel_kind:
        raise SendError(
            "wrong_channel",
            f"{message.channel} message given to the {channel_kind} channel",
            permanent=True,
        )
