"""A Jinja2 sandbox whose templates cannot take the server down.

Jinja2's ``SandboxedEnvironment`` stops attribute escapes, not work: ``range(10**9)``, nested
loops, ``'x' * 10**8`` and recursive macros run to the end (or until memory runs out). An agent's
broadcast text is a template typed into a form, so everything that can cost time or memory is
bounded here, before it is allocated:

- ``*``, ``**``, ``+`` and ``%`` check the size of their result first (``call_binop``);
- ``~`` (string concatenation) is rewritten into a call that checks the length first;
- every ``for`` loop's iterable is wrapped so that each iteration draws on the render's budget,
  and ``range`` is a bounded one;
- every call (macros, ``loop()``, string methods) draws on the same budget and checks the
  render's deadline; only a few string methods, all with outputs no longer than their input,
  may be called, and only filters of the same kind exist;
- the rendered output stops at ``max_output`` characters.

Whatever exceeds a bound raises ``TooCostly`` (a ``SecurityError``, so a ``TemplateError``).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

# The longest value any one operation may build: well above a 1,600-character SMS text, far
# below anything that costs memory.
MAX_VALUE_LENGTH = 4_000
# Loop iterations plus calls, per render. A real broadcast text needs none or a handful.
MAX_STEPS = 2_000
# CPU time of the rendering thread, not wall-clock time: on a busy machine a render can wait
# longer than this for a core, and a broadcast must not skip a customer ("render_error")
# because the machine was busy (the inbound load test caught one such skip). The garbage
# collector's time is left out too: a full collection that happens to start inside a render
# is the process's work, not the text's (CI caught a second skip in a large test process).
MAX_RENDER_SECONDS = 0.5
# Exponents of integers: 10**12 is a real number, 10**10**10 takes minutes to compute.
MAX_INT_BITS = 256

_GUARD = "__bounded_iter"
_CONCAT = "__bounded_concat"

# Filters whose output is never longer than their input (or is a number / a boolean).
SAFE_FILTERS = (
    "abs",
    "capitalize",
    "count",
    "d",
    "default",
    "first",
    "float",
    "int",
    "last",
    "length",
    "lower",
    "round",
    "string",
    "title",
    "trim",
    "truncate",
    "upper",
)
SAFE_STR_METHODS = frozenset(
    {"capitalize", "endswith", "lower", "lstrip", "rstrip", "startswith", "strip", "title"}
    | {"upper", "isdigit", "isalpha", "isupper", "islower"}
)


class TooCostly(SecurityError):
    """The template asked for more time, memory or output than a broadcast text may use."""


class _CollectorTime(threading.local):
    """The CPU time the garbage collector has spent in this thread (collections run in the
    thread whose allocation triggered them)."""

    started: float | None = None
    total: float = 0.0


_collector = _CollectorTime()


def _on_collection(phase: str, _info: dict[str, int]) -> None:
    if phase == "start":
        _collector.started = time.thread_time()
    elif _collector.started is not None:
        _collector.total += time.thread_time() - _collector.started
        _collector.started = None


gc.callbacks.append(_on_collection)


def _work_time() -> float:
    """This thread's CPU time less its garbage collections: what a render's deadline counts."""
    return time.thread_time() - _collector.total


@dataclass
class _Budget:
    steps: int
    deadline: float
    used: int = field(default=0)

    def spend(self) -> None:
        self.used += 1
        if self.used > self.steps:
            raise TooCostly(f"the text loops or calls more than {self.steps:,} times")
        if _work_time() > self.deadline:
            raise TooCostly("the text takes too long to fill in")


_budget: ContextVar[_Budget | None] = ContextVar("text_budget", default=None)


def _spend() -> None:
    budget = _budget.get()
    if budget is None:
        raise TooCostly("render the text with BoundedSandbox.render")
    budget.spend()


def _check_length(value: Any) -> Any:
    if isinstance(value, str | list | tuple | bytes) and len(value) > MAX_VALUE_LENGTH:
        raise TooCostly(f"the text builds a value longer than {MAX_VALUE_LENGTH:,} characters")
    return value


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple | bytes) else None


def _bounded_range(*args: int) -> Iterator[int]:
    """``range``, counted against the render's budget as it is iterated."""
    for i in range(*args):
        _spend()
        yield i


def _bounded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _spend()
        yield item


def _bounded_concat(*parts: Any) -> str:
    total = sum(len(str(part)) for part in parts)
    if total > MAX_VALUE_LENGTH:
        raise TooCostly(f"the text builds a value longer than {MAX_VALUE_LENGTH:,} characters")
    return "".join(str(part) for part in parts)


class BoundedSandbox(SandboxedEnvironment):
    """A sandbox for text a person typed: see the module docstring for what is bounded."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *, max_output: int) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        self.max_output = max_output
        self.globals.clear()
        self.globals.update({"range": _bounded_range, _GUARD: _bounded_iter})
        self.globals[_CONCAT] = _bounded_concat
        self.filters = {name: self.filters[name] for name in SAFE_FILTERS}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse an operation whose result would be too big, before computing it."""
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                size = _length(seq)
                if size is not None and isinstance(times, int) and size * times > MAX_VALUE_LENGTH:
                    raise TooCostly(
                        f"the text builds a value longer than {MAX_VALUE_LENGTH:,} characters"
                    )
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right > 0
            and abs(left).bit_length() * right > MAX_INT_BITS
        ):
            raise TooCostly("the text computes a number too big to write")
        if operator == "%" and isinstance(left, str):
            raise TooCostly("the text cannot use % formatting")
        return _check_length(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call draws on the budget; only macros, loops and harmless methods run."""
        _spend()
        allowed = (
            isinstance(__obj, Macro | LoopContext)
            or __obj in (_bounded_range, _bounded_iter, _bounded_concat)
            or (
                isinstance(getattr(__obj, "__self__", None), str)
                and getattr(__obj, "__name__", "") in SAFE_STR_METHODS
            )
        )
        if not allowed:
            name = getattr(__obj, "__name__", type(__obj).__name__)
            raise TooCostly(f"the text cannot call {name}()")
        return _check_length(super().call(__context, __obj, *args, **kwargs))

    def compile_text(self, source: str) -> Any:
        """The template for ``source``, with its loops and ``~`` bounded."""
        return self.from_string(_bound_tree(self.parse(source)))

    def render(self, template: Any, context: dict[str, Any]) -> str:
        """Render within the budget; the output stops at ``max_output`` characters."""
        budget = _Budget(MAX_STEPS, _work_time() + MAX_RENDER_SECONDS)
        token = _budget.set(budget)
        try:
            size = 0
            parts = []
            for chunk in template.generate(context):
                budget.spend()
                size += len(chunk)
                if size > self.max_output:
                    limit = f"{self.max_output:,}"
                    raise TooCostly(f"the text fills in to more than {limit} characters")
                parts.append(chunk)
            return "".join(parts)
        except (RecursionError, MemoryError, OverflowError) as exc:
            raise TooCostly(f"the text cannot be filled in ({type(exc).__name__})") from None
        finally:
            _budget.reset(token)


class _Bounder(NodeTransformer):
    """Wraps each loop's iterable and each ``~`` in the bounded helpers. Their names are not
    placeholders, so an agent's text that names them is refused before it gets here."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        visited = self.generic_visit(node)
        assert isinstance(visited, nodes.For)
        visited.iter = _helper(_GUARD, [visited.iter], node.lineno)
        return visited

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:
        visited = self.generic_visit(node)
        assert isinstance(visited, nodes.Concat)
        return _helper(_CONCAT, visited.nodes, node.lineno)


def _bound_tree(tree: nodes.Template) -> nodes.Template:
    bounded = _Bounder().visit(tree)
    assert isinstance(bounded, nodes.Template)
    return bounded


def _helper(name: str, args: list[Any], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.Name(name, "load", lineno=lineno), args, [], None, None, lineno=lineno)
