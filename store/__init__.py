"""The shop's state and the rules that change it.

Models, the engine/session, Alembic migrations and the operations (place order, allocate, receive
stock, set ETA, make and accept offers). Every operation records its domain events in the same
transaction as the change. Nothing here imports ``bot`` or ``messaging``.
"""
