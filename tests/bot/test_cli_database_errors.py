"""Databases that fail: one ``error:`` line, the documented exit code, no traceback.

Run as a user runs it (a subprocess through ``main``), since the point is what reaches the
terminal.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.database import EXIT_CONFIG, EXIT_UNAVAILABLE, DatabaseProblem, open_database
from store.migrate import upgrade


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_"))}
    env |= {"DATABASE_URL": url, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-c", "from bot.cli.main import main; main()", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_database_url_that_is_not_a_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _cli(tmp_path, "notaurl", "report")
    assert result.returncode == EXIT_CONFIG
    assert "DATABASE_URL" in _one_error_line(result)


def test_a_refused_connection_is_one_line_and_exit_3(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/nothing"
    result = _cli(tmp_path, url, "report")
    assert result.returncode == EXIT_UNAVAILABLE
    assert "refused" in _one_error_line(result).lower()


@pytest.fixture
def read_only_db(tmp_path: Path) -> str:
    path = tmp_path / "ro.db"
    upgrade(f"sqlite:///{path}")
    # SQLite's own read-only mode: file permissions would not stop root, which runs CI here.
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def test_a_read_only_sqlite_file_is_one_line_and_exit_3(read_only_db: str, tmp_path: Path) -> None:
    csv = tmp_path / "customers.csv"
    csv.write_text("name,phone\nAna,+34612345678\n", encoding="utf-8")
    result = _cli(tmp_path, read_only_db, "import", "customers", str(csv))
    assert result.returncode == EXIT_UNAVAILABLE
    assert "read-only" in _one_error_line(result)


def test_a_typo_in_the_sqlite_path_creates_nothing(tmp_path: Path) -> None:
    result = _cli(tmp_path, f"sqlite:///{tmp_path}/typo/shop.db", "report")
    assert result.returncode == EXIT_CONFIG
    line = _one_error_line(result)
    assert "db upgrade" in line
    assert not (tmp_path / "typo").exists()


def test_db_upgrade_creates_the_database_and_its_folder(tmp_path: Path) -> None:
    result = _cli(tmp_path, f"sqlite:///{tmp_path}/new/shop.db", "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new" / "shop.db").exists()


def test_postgres_without_the_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # An import of a module mapped to None raises ImportError, as when psycopg is not installed.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(DatabaseProblem) as caught:
        open_database("postgresql://postgres@127.0.0.1/shop", create=False)
    assert caught.value.code == EXIT_CONFIG
    assert "pip install 'backorder-bot[postgres]'" in str(caught.value)


def test_an_ordinary_command_writes_nothing_on_stderr(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    upgrade(url)
    result = _cli(tmp_path, url, "report")
    assert result.returncode == 0
    assert result.stderr == ""  # no alembic "Context impl SQLiteImpl." lines
