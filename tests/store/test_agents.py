"""Agents: scrypt-hashed passwords, unique names and Telegram ids, removal kept in the audit log."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from store import agents
from store.errors import Conflict, InvalidInput, NotFound
from store.models import Agent, AuditEntry
from tests.factories import NOW

PASSWORD = "correct horse battery"


def test_the_password_is_stored_only_as_a_scrypt_hash(session: Session) -> None:
    agent = agents.add_agent(session, "Ann", PASSWORD, now=NOW)
    assert agent.username == "ann"
    assert agent.password_hash.startswith("scrypt$16384$8$1$")
    assert PASSWORD not in agent.password_hash


def test_two_hashes_of_one_password_differ() -> None:
    assert agents.hash_password(PASSWORD) != agents.hash_password(PASSWORD)


def test_authenticate_accepts_the_right_password_only(session: Session) -> None:
    agents.add_agent(session, "ann", PASSWORD, now=NOW)
    assert agents.authenticate(session, "ANN", PASSWORD) is not None
    assert agents.authenticate(session, "ann", PASSWORD + "!") is None
    assert agents.authenticate(session, "nobody", PASSWORD) is None


def test_a_disabled_agent_cannot_sign_in(session: Session) -> None:
    agent = agents.add_agent(session, "ann", PASSWORD, now=NOW, telegram_user_id=42)
    agent.disabled = True
    assert agents.authenticate(session, "ann", PASSWORD) is None
    assert agents.find_by_telegram_user(session, 42) is None


def test_the_telegram_allow_list(session: Session) -> None:
    agents.add_agent(session, "ann", PASSWORD, now=NOW, telegram_user_id=8_000_000_001)
    found = agents.find_by_telegram_user(session, 8_000_000_001)
    assert found is not None
    assert found.username == "ann"
    assert agents.find_by_telegram_user(session, 1) is None
    with pytest.raises(Conflict, match="Telegram user"):
        agents.add_agent(session, "bob", PASSWORD, now=NOW, telegram_user_id=8_000_000_001)


@pytest.mark.parametrize(
    ("username", "password", "error"),
    [
        ("a", PASSWORD, InvalidInput),
        ("ann smith", PASSWORD, InvalidInput),
        ("ann", "short", InvalidInput),
    ],
)
def test_bad_usernames_and_short_passwords_are_refused(
    session: Session, username: str, password: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        agents.add_agent(session, username, password, now=NOW)


def test_a_username_is_taken_once(session: Session) -> None:
    agents.add_agent(session, "ann", PASSWORD, now=NOW)
    with pytest.raises(Conflict, match="already exists"):
        agents.add_agent(session, "Ann", PASSWORD, now=NOW)


def test_remove_deletes_and_audits(session: Session) -> None:
    agents.add_agent(session, "ann", PASSWORD, now=NOW, actor="cli:root")
    agents.remove_agent(session, "ann", now=NOW, actor="cli:root")
    session.flush()
    assert session.scalars(select(Agent)).all() == []
    actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["agent.added", "agent.removed"]
    with pytest.raises(NotFound):
        agents.remove_agent(session, "ann", now=NOW)


def test_a_corrupt_hash_never_matches() -> None:
    assert not agents.check_password(PASSWORD, "md5$abc")
    assert not agents.check_password(PASSWORD, "scrypt$x$8$1$AA==$AA==")
