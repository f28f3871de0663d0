"""Take the README's screenshots from a running demo (`backorder-bot demo --port 8123`).

    .venv/bin/backorder-bot demo --port 8123 &      # plays the story, then serves
    .venv/bin/python docs/screenshots/capture.py http://127.0.0.1:8123

Drives Debian's Chromium (/usr/bin/chromium) through playwright, as the browser tests do.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"


def main(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 820}).new_page()
            page.goto(f"{base}/agent")
            page.get_by_label("Username").fill("demo")
            page.get_by_label("Password").fill("demo-password")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/agent**")
            page.screenshot(path=str(HERE / "dashboard.png"))
            page.goto(f"{base}/simulator")
            page.locator("#customer").select_option(label=_option(page, "María"))
            page.wait_for_timeout(1500)
            page.screenshot(path=str(HERE / "simulator.png"))
        finally:
            browser.close()


def _option(page: object, name: str) -> str:
    options = page.locator("#customer option").all_inner_texts()  # type: ignore[attr-defined]
    return next(text for text in options if text.startswith(name))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8123")
