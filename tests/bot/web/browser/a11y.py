"""Accessibility and layout checks for the browser tests.

axe-core (vendored: ``vendor/axe.min.js``, see ``vendor/README.md``) is injected with
Playwright's ``add_script_tag``; the context must be made with ``bypass_csp=True``, since the
pages' Content-Security-Policy forbids any script but their own files. ``AXE_CORE_JS`` may
point at another copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

AXE = os.environ.get("AXE_CORE_JS") or str(Path(__file__).parent / "vendor" / "axe.min.js")


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=AXE)
    found = page.evaluate("axe.run().then(r => r.violations)")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x: {v['nodes'][0]['target']})"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def widest(page: Any) -> str:
    """The elements reaching past the window's right edge, to say what overflows."""
    return str(
        page.evaluate(
            "[...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1"
            " || e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible')"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className + ':' + e.scrollWidth)"
        )
    )
