"""Telegram: the customers' bot (``bot``), the agents' commands (``agents``), reading updates
(``updates``), sending replies (``replies``) and retrying updates whose handling failed
(``retry``)."""
