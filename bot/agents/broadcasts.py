"""The broadcast service built from the settings, for every interface that sends broadcasts."""

from __future__ import annotations

from bot.settings import Settings
from messaging.broadcasts import BroadcastService
from messaging.notifier import ShopVoice
from messaging.quiet_hours import QuietHours
from store.db import Database


def broadcast_service(settings: Settings, db: Database) -> BroadcastService:
    return BroadcastService(
        db,
        ShopVoice(settings.shop_name, settings.support_contact),
        QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
    )
