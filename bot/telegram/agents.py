"""Telegram commands for support agents: ``/backorders``, ``/eta <sku> <date>`` and
``/broadcast <sku> <text>`` (a preview with a confirm button).

Only for allow-listed agents (``store.agents.find_by_telegram_user``), in private chats. The
handlers sit in a group before the customer handlers (``GROUP``): for an agent they answer and
stop the update there (``ApplicationHandlerStop``); for anyone else they do nothing, and the
update falls through to the customer conversation, which answers ``/eta`` like any unknown
command. So nobody learns from the bot's answers which commands agents have.

Each agent update is claimed in ``inbound_messages`` as a customer message is (logged, then
``handled_at`` set by one conditional update): a redelivered update is not obeyed twice, and
the bot's start-up replay of unhandled updates does not repeat it.

The confirm button's callback data is ``agent:bc:<token>`` (25 bytes; Telegram allows 64). The
preview it confirms is written to the audit log under ``telegram-preview:<token>`` with the
agent's Telegram user id, the SKU and the text, so the confirmation works whichever web process
receives it, only for the agent who asked, and only for ``PREVIEW_TTL``. The token is also the
broadcast's idempotency key: pressing the button twice sends one broadcast.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.agents import views
from bot.agents.broadcasts import broadcast_service
from bot.inbound import Inbound
from bot.settings import Settings
from bot.telegram.replies import deliver
from bot.telegram.updates import received_from_update
from messaging.broadcast_content import ContentError
from messaging.broadcasts import BroadcastRequest, BroadcastService
from store import audit
from store.agents import find_by_telegram_user
from store.audience import AudienceFilter
from store.db import Database
from store.errors import Conflict, InvalidInput, NotFound
from store.eta import set_eta
from store.models import AuditEntry, Channel, InboundMessage, utcnow
from store.policy import Policy

__all__ = ["CONFIRM_PREFIX", "GROUP", "AgentCommands"]

logger = logging.getLogger(__name__)

GROUP = -1  # before the customer handlers (group 0)
COMMANDS = ("backorders", "eta", "broadcast")
CONFIRM_PREFIX = "agent:bc:"
PREVIEW_TTL = dt.timedelta(minutes=15)
PREVIEW_ACTION = "broadcast.previewed"
BOARD_ROWS = 15
_TOKEN_BYTES = 12  # 16 base64url characters, 96 bits

Context = ContextTypes.DEFAULT_TYPE


@dataclass(frozen=True, slots=True)
class _Agent:
    username: str
    telegram_user_id: int


class AgentCommands:
    """The agent commands, around one database and broadcast service."""

    GROUP = GROUP

    def __init__(
        self,
        db: Database,
        service: BroadcastService,
        policy: Policy,
        inbound: Inbound,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._db = db
        self._service = service
        self._policy = policy
        self._inbound = inbound  # logs each agent update as the customers' are
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, inbound: Inbound) -> AgentCommands:
        return cls(db, broadcast_service(settings, db), settings.policy(), inbound)

    def handlers(self) -> list[BaseHandler[Any, Any, Any]]:
        """The handlers, to add in ``GROUP`` (before the customer handlers)."""
        return [
            CommandHandler(list(COMMANDS), self.on_command),
            CallbackQueryHandler(self.on_confirm, pattern=f"^{CONFIRM_PREFIX}"),
        ]

    # --- handlers -----------------------------------------------------------------------------

    async def on_command(self, update: Update, context: Context) -> None:
        """An agent's command: answered here; anyone else's falls through to the customers'."""
        agent = await self._agent(update)
        if agent is None:
            return
        message = update.message
        assert message is not None  # a CommandHandler's update: a text message
        if await self._claim(update):
            command, _, rest = (message.text or "").partition(" ")
            name = command.lstrip("/").split("@")[0].lower()
            text, markup = await asyncio.to_thread(self._run, agent, name, rest.strip())
            await deliver(
                lambda: context.bot.send_message(
                    message.chat.id,
                    text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                ),
                f"agent answer to update {update.update_id}",
            )
        raise ApplicationHandlerStop

    async def on_confirm(self, update: Update, context: Context) -> None:
        """The preview's confirm button: sends the broadcast once, for the agent who asked."""
        query = update.callback_query
        assert query is not None
        agent = await self._agent(update)
        if agent is None:
            return  # the customer handlers answer it as any unknown button
        try:
            if await self._claim(update):
                token = (query.data or "").removeprefix(CONFIRM_PREFIX)
                text = await asyncio.to_thread(self._confirm, agent, token)
                chat = update.effective_chat
                assert chat is not None
                await deliver(
                    lambda: context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML),
                    f"agent confirmation of update {update.update_id}",
                )
        finally:
            await deliver(query.answer, f"button acknowledgement of update {update.update_id}")
        raise ApplicationHandlerStop

    # --- the work, in a thread ----------------------------------------------------------------

    def _run(self, agent: _Agent, name: str, args: str) -> tuple[str, InlineKeyboardMarkup | None]:
        if name == "backorders":
            return self._backorders(), None
        if name == "eta":
            return self._eta(agent, args.split()), None
        return self._preview(agent, args)

    def _backorders(self) -> str:
        with self._db.read_session() as session:
            rows = views.board(session, self._clock())
        return _render(
            "backorders.html", rows=rows[:BOARD_ROWS], more=max(0, len(rows) - BOARD_ROWS)
        )

    def _eta(self, agent: _Agent, args: list[str]) -> str:
        if len(args) != 2:
            return _render("usage.html", command="eta")
        sku, raw = args
        try:
            eta = dt.date.fromisoformat(raw)
        except ValueError:
            return _render("usage.html", command="eta")
        try:
            result = self._db.transaction(
                lambda session: set_eta(
                    session,
                    sku,
                    eta,
                    source=f"telegram:{agent.username}"[:32],
                    policy=self._policy,
                    now=self._clock(),
                )
            )
            old, told = result.old_eta, len(result.changed_line_ids)
        except NotFound:
            return _render("unknown_sku.html", sku=sku)
        except InvalidInput as exc:  # a date in the past or years away; nothing was written
            return _render("eta_refused.html", reason=str(exc))
        return _render("eta_set.html", sku=sku, old=old, eta=eta, told=told)

    def _preview(self, agent: _Agent, args: str) -> tuple[str, InlineKeyboardMarkup | None]:
        sku, _, text = args.partition(" ")
        text = text.strip()
        if not sku or not text:
            return _render("usage.html", command="broadcast"), None
        request = BroadcastRequest(AudienceFilter(sku=sku[:64]), text=text)
        try:
            preview = self._service.preview(request)
        except (ContentError, InvalidInput) as exc:
            return _render("refused.html", reason=str(exc)), None
        recipients = preview.tally.recipients
        if recipients == 0:
            return _render("preview.html", sku=sku, preview=preview), None
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        with self._db.session() as session:
            audit.record(
                session,
                agent.username,
                PREVIEW_ACTION,
                subject=f"telegram-preview:{token}",
                now=self._clock(),
                telegram_user_id=agent.telegram_user_id,
                filters=request.filters.to_json(),
                text=text,
                recipients=recipients,
            )
        label = _render("confirm_button.html", recipients=recipients).strip()
        button = InlineKeyboardButton(label, callback_data=CONFIRM_PREFIX + token)
        return _render("preview.html", sku=sku, preview=preview), InlineKeyboardMarkup([[button]])

    def _confirm(self, agent: _Agent, token: str) -> str:
        with self._db.read_session() as session:
            entry = session.scalars(
                select(AuditEntry).where(
                    AuditEntry.subject == f"telegram-preview:{token[:32]}",
                    AuditEntry.action == PREVIEW_ACTION,
                )
            ).first()
            pending = (entry.at, dict(entry.details)) if entry is not None else None
        if pending is None or pending[1].get("telegram_user_id") != agent.telegram_user_id:
            return _render("expired.html")
        at, details = pending
        if at.replace(tzinfo=at.tzinfo or dt.UTC) + PREVIEW_TTL < self._clock():
            return _render("expired.html")
        request = BroadcastRequest(
            AudienceFilter.from_json(details["filters"]),
            text=details["text"],
            idempotency_key=f"telegram:{token}",
            created_by=agent.username,
        )
        try:
            info, created = self._service.create(request)
        except (ContentError, Conflict, InvalidInput) as exc:
            return _render("refused.html", reason=str(exc))
        info = self._service.queue(info.id)
        return _render("confirmed.html", broadcast=info, created=created)

    # --- who, and once ------------------------------------------------------------------------

    async def _agent(self, update: Update) -> _Agent | None:
        """The allow-listed agent who sent this, in a private chat; else None."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None or chat.type != ChatType.PRIVATE:
            return None
        return await asyncio.to_thread(self._find_agent, user.id)

    def _find_agent(self, telegram_user_id: int) -> _Agent | None:
        with self._db.read_session() as session:
            agent = find_by_telegram_user(session, telegram_user_id)
            return _Agent(agent.username, telegram_user_id) if agent is not None else None

    async def _claim(self, update: Update) -> bool:
        """Log the update (polling mode has not) and mark it handled; False for a repeat."""
        received = received_from_update(update, update.to_dict())
        if received is None:
            return False
        await asyncio.to_thread(self._inbound.record, received)
        return await asyncio.to_thread(self._mark_handled, received.provider_id)

    def _mark_handled(self, provider_id: str) -> bool:
        with self._db.session() as session:
            claimed = session.execute(
                update(InboundMessage)
                .where(
                    InboundMessage.channel == Channel.TELEGRAM,
                    InboundMessage.provider_id == provider_id,
                    InboundMessage.handled_at.is_(None),
                )
                .values(handled_at=self._clock(), intent="agent_command")
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
        return bool(claimed == 1)


def _render(template: str, **context: Any) -> str:
    """Agent replies are templates too (Telegram HTML, so autoescaped)."""
    # Imported here: bot.web's package imports the app, which imports this module.
    from bot.web.html import environment

    return environment().get_template(f"agent/telegram/{template}").render(**context).strip()
