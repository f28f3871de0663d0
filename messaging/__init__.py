"""Turns domain events and broadcasts into messages and delivers them.

Data flows one way: store op -> domain event -> notifier -> outbox row -> dispatcher -> channel.
This package imports ``store``; it never imports ``bot``.
"""
