"""The example clients in docs/ work against the real app, over HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.web import create_app
from bot.web.threaded import serving_in_thread
from store.db import Database
from store.models import LineStatus, OrderLine, Product
from tests import factories as f
from tests.bot.integrations.orderfeed import harness as h


@pytest.fixture
def bot_url(
    committed_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)
    with committed_db.session() as session:
        f.product(session, "TEA", stock=0, eta=dt.date(2026, 12, 20))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    with serving_in_thread(create_app(h.settings(), committed_db), sock, lifespan="off") as url:
        yield url
    sock.close()


def _events(tmp_path: Path) -> Path:
    path = tmp_path / "events.json"
    batch = {"events": [h.order("W-1", [("TEA", 2)]), h.stock("TEA", 5)]}
    path.write_text(json.dumps(batch, indent=2) + "\n")  # newlines: signed as they are
    return path


def _env(url: str, secret: str = h.SECRET) -> dict[str, str]:
    return {**os.environ, "ORDER_FEED_SECRET": secret, "BOT_URL": url}


def _line(db: Database) -> tuple[int, LineStatus]:
    with db.read_session() as session:
        line = session.scalars(select(OrderLine).join(Product)).one()
        return line.allocated_quantity, line.status


def test_the_python_example_client_places_the_order_and_counts_the_stock(
    committed_db: Database, bot_url: str, tmp_path: Path
) -> None:
    events = _events(tmp_path)
    script = str(h.DOCS / "order_feed_client.py")
    run = subprocess.run(
        [sys.executable, script, bot_url, str(events)],
        env=_env(bot_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert [r["outcome"] for r in json.loads(run.stdout)["results"]] == ["applied", "applied"]
    assert _line(committed_db) == (2, LineStatus.ALLOCATED)
    again = subprocess.run(
        [sys.executable, script, bot_url, str(events)],
        env=_env(bot_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert [r["outcome"] for r in json.loads(again.stdout)["results"]] == ["duplicate"] * 2


def test_the_python_example_client_with_a_wrong_secret_is_refused(
    committed_db: Database, bot_url: str, tmp_path: Path
) -> None:
    run = subprocess.run(
        [sys.executable, str(h.DOCS / "order_feed_client.py"), bot_url, str(_events(tmp_path))],
        env=_env(bot_url, "wrong"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert _line_count(committed_db) == 0


def _line_count(db: Database) -> int:
    with db.read_session() as session:
        return len(session.scalars(select(OrderLine)).all())


def _curl_block() -> str:
    text = (h.DOCS / "order-feed.md").read_text()
    found = re.search(r"<!-- curl-example -->\n```sh\n(.*?)```", text, re.S)
    assert found is not None, "docs/order-feed.md lost its curl example"
    return found.group(1)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("openssl")), reason="no curl")
def test_the_curl_and_openssl_example_is_accepted(
    committed_db: Database, bot_url: str, tmp_path: Path
) -> None:
    _events(tmp_path)
    run = subprocess.run(
        ["sh", "-c", _curl_block()],
        cwd=tmp_path,
        env=_env(bot_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert [r["outcome"] for r in json.loads(run.stdout)["results"]] == ["applied", "applied"]
    assert _line(committed_db) == (2, LineStatus.ALLOCATED)
