"""The HTTP surface: webhooks, operators' routes, and later the JSON API and the dashboard."""

from bot.web.app import LifespanHook, create_app

__all__ = ["LifespanHook", "create_app"]
