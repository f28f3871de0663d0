"""An agent's broadcast text cannot take the server down: every costly text is refused with a
``ContentError`` on the ``text`` field, quickly and without allocating what it asks for."""

import gc
import time
import tracemalloc

import pytest
from jinja2.sandbox import SandboxedEnvironment

from messaging import broadcast_content, text_sandbox
from messaging.broadcast_content import (
    MAX_RENDERED_LENGTH,
    SAMPLE_ROW,
    ContentError,
    compile_content,
)
from messaging.broadcast_limits import RenderTimer, long_sms_warning
from messaging.notifier import ShopVoice
from store.models import Channel

HOSTILE = {
    "huge string": "{{ 'x' * 20000000 }}",
    "huge string, reversed": "{{ 20000000 * 'x' }}",
    "huge list": "{{ ([1] * 20000000) | length }}",
    "huge range": "{% for i in range(10**9) %}{% endfor %}",
    "range past MAX_RANGE": "{% for i in range(10**12) %}{{ i }}{% endfor %}",
    "nested ranges": "{% for i in range(99999) %}{% for j in range(99999) %}"
    + "{% endfor %}{% endfor %}",
    "nested literal loops": "{% set L = [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0] %}"
    + "{% for a in L %}{% for b in L %}{% for c in L %}{% for d in L %}{% for e in L %}"
    + "{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
    "doubling macro": "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s }}"
    + "{% endif %}{% endmacro %}{{ f('x', 40) }}",
    "doubling with +": "{% macro f(s, n) %}{% if n %}{{ f(s + s, n - 1) }}{% else %}{{ s }}"
    + "{% endif %}{% endmacro %}{{ f('x', 40) }}",
    "branching macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    + "{% endmacro %}{{ f(40) }}",
    "endless recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "recursive loop": "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    "huge power": "{{ 10 ** 10 ** 10 }}",
    "% padding": "{{ '%0100000000d' % 1 }}",
    "str.format padding": "{{ '{:>100000000}'.format(1) }}",
    "center method": "{{ first_name.center(100000000) }}",
    "center filter": "{{ first_name | center(100000000) }}",
    "lipsum": "{{ lipsum(1000000) }}",
    "namespace accumulation": "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
    + "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "output too long": "{{ 'x' * 1000 }}{{ 'y' * 1000 }}",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_costly_text_is_refused_quickly_without_allocating_it(text: str) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ContentError) as refused:
            compile_content(None, text)
        took = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.field == "text"
    # A bound, not a benchmark: unbounded, these take minutes or gigabytes.
    assert took < 10, took
    assert peak < 20_000_000, peak


def test_the_text_is_compiled_in_a_sandbox() -> None:
    assert isinstance(broadcast_content._SANDBOX, SandboxedEnvironment)
    with pytest.raises(ContentError, match="cannot be rendered"):
        compile_content(None, "{{ first_name.__class__.__mro__ }}")


def test_an_ordinary_text_with_a_loop_and_filters_still_renders() -> None:
    content = compile_content(
        None,
        "Hi {{ first_name | upper }}{% for i in range(3) %}!{% endfor %} "
        "{{ 'ab' ~ sku }} {{ '-' * 3 }} {{ 2 ** 10 }}",
    )
    text = content.render(SAMPLE_ROW, Channel.TELEGRAM, ShopVoice("Shop", "s@example.com")).text
    assert "Hi ADA!!! abSKU-1 --- 1024" in text


def test_a_text_just_under_the_output_cap_is_accepted() -> None:
    compile_content(None, "{{ 'y' * " + str(MAX_RENDERED_LENGTH - 10) + " }}")


def test_the_preview_render_time_is_bounded_over_the_audience() -> None:
    timer = RenderTimer(0.05)

    def render_for_the_audience() -> None:
        for _ in range(100):
            with timer:
                time.sleep(0.01)

    with pytest.raises(ContentError) as refused:
        render_for_the_audience()
    assert refused.value.field == "text"
    assert "takes more than" in str(refused.value)


def test_a_many_segment_sms_is_warned_about() -> None:
    assert long_sms_warning(3) is None
    warning = long_sms_warning(14)
    assert warning is not None
    assert "14 segments" in warning


class _Collects:
    """A value whose rendering sets off a full garbage collection over a large heap."""

    def __init__(self, heap: list[object]) -> None:
        self.heap = heap

    def __str__(self) -> str:
        gc.collect()
        return "Ada"


class _Burns:
    """A value whose rendering costs the rendering thread real CPU time."""

    def __str__(self) -> str:
        until = time.thread_time() + 0.2
        while time.thread_time() < until:
            pass
        return "Ada"


def test_a_garbage_collection_inside_a_render_does_not_count_against_the_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The budget made small enough that one full collection of this heap exceeds it: the
    # collection is the process's work, and a broadcast must not skip a customer for it.
    heap: list[object] = [[i] for i in range(400_000)]
    started = time.thread_time()
    gc.collect()
    collection = time.thread_time() - started
    monkeypatch.setattr(text_sandbox, "MAX_RENDER_SECONDS", collection / 4)
    sandbox = text_sandbox.BoundedSandbox(max_output=1_000)
    template = sandbox.compile_text("Hi {{ who }}, {{ who }}!")
    assert sandbox.render(template, {"who": _Collects(heap)}) == "Hi Ada, Ada!"


def test_a_render_that_really_costs_time_is_still_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_sandbox, "MAX_RENDER_SECONDS", 0.05)
    sandbox = text_sandbox.BoundedSandbox(max_output=1_000)
    template = sandbox.compile_text("Hi {{ who }}, {{ who }}!")
    with pytest.raises(text_sandbox.TooCostly, match="too long"):
        sandbox.render(template, {"who": _Burns()})
