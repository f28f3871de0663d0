"""Errors the store raises when a rule refuses an operation; messages are written for people."""


class StoreError(Exception):
    """Base class: the operation was refused and nothing was changed."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    """The request contradicts what is already stored (e.g. the same order number, other lines)."""


class InvalidInput(StoreError):
    """A value the caller gave is refused; ``field`` names it when the store knows which."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
