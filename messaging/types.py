"""Small value types shared by rendering, the outbox and the channels."""

from __future__ import annotations

from dataclasses import dataclass, field

# The store owns the list of channels (customers' per-channel state is stored by it).
from store.models import Channel as ChannelKind


@dataclass(frozen=True, slots=True)
class Button:
    """One inline button (Telegram). ``data`` is the callback data, at most 64 bytes."""

    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready for one channel: its text and, on Telegram, its inline buttons."""

    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a channel is asked to deliver.

    ``address`` is an E.164 phone number for SMS and a chat id (as text) for Telegram.
    ``reference`` is the outbox row id, so status callbacks can be matched to it.
    """

    channel: ChannelKind
    address: str
    text: str
    buttons: tuple[Button, ...] = ()
    reference: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


__all__ = ["Button", "ChannelKind", "OutgoingMessage", "Rendered"]
