"""Core statements run many times a second, compiled once and handed to the driver's executemany.

The dispatcher writes every send's outcome and attempt in executemany statements, a group of
rows per commit. SQLAlchemy rebuilds each row's parameters on every execution (its
``construct_params`` and every column's bind processor, row by row: measured 10-15 us a row a
statement, most of a group's cost beside the driver's own work). A :class:`PreparedMany` does
that once per dialect: the SQL string, the parameters' order and each one's bind processor;
each row then costs a tuple. The values bound are what SQLAlchemy would bind (the columns' own
processors, the statement's literal values), and the statement still runs on the session's
connection, in its transaction, with SQLAlchemy's error translation (deadlocks stay
retryable). ``tests/messaging/test_driver_sql.py`` holds it to ``Connection.execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter

_Processor = Callable[[Any], Any] | None


class _Bind:
    """One parameter: its name, the statement's own value if it has one, its processor."""

    __slots__ = ("default", "name", "process", "required")

    def __init__(self, bind: BindParameter[Any], name: str, dialect: Dialect, default: Any) -> None:
        self.name = name
        self.required = bind.required
        self.default = default
        self.process: _Processor = bind.type.dialect_impl(dialect).bind_processor(dialect)

    def value(self, row: Mapping[str, Any]) -> Any:
        value = row[self.name] if self.required else row.get(self.name, self.default)
        return value if self.process is None else self.process(value)


class _Compiled:
    __slots__ = ("binds", "positional", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect, for_executemany=True)
        assert isinstance(compiled, SQLCompiler)
        if compiled.insert_prefetch or compiled.update_prefetch or compiled.effective_returning:
            # Python-side defaults are computed by SQLAlchemy's execution context per row,
            # and RETURNING needs its result: neither happens on this path.
            raise ValueError("PreparedMany takes no Python-side defaults and no RETURNING")
        if compiled.escaped_bind_names:
            raise ValueError("PreparedMany takes only plain parameter names")
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        self.positional = dialect.positional
        names = list(compiled.positiontup or ()) if self.positional else list(by_name)
        defaults = compiled.construct_params(_check=False)
        self.binds = [_Bind(by_name[n], n, dialect, defaults.get(n)) for n in names]
        self.sql = compiled.string


class PreparedMany:
    """``statement`` with its parameters bound by name, run through the driver's executemany."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[Dialect, _Compiled] = {}

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row (nothing is run for no rows)."""
        if not rows:
            return
        dialect = connection.dialect
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = _Compiled(self._statement, dialect)
        binds = compiled.binds
        if compiled.positional:
            params: list[Any] = [tuple([b.value(row) for b in binds]) for row in rows]
        else:
            params = [{b.name: b.value(row) for b in binds} for row in rows]
        connection.exec_driver_sql(compiled.sql, params)
