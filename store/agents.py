"""Support agents: accounts with scrypt-hashed passwords and an optional Telegram allow-list id.

The hash is stored as ``scrypt$n$r$p$salt$hash`` (salt and hash in base64), so the cost can be
raised later without breaking existing accounts. Verification always runs one scrypt, also for
unknown or disabled usernames, so response times do not reveal which usernames exist.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import audit
from store.agent_sign_ins import end_all_sign_ins
from store.errors import Conflict, InvalidInput, NotFound
from store.models import Agent

# RFC 7914's interactive-login parameters: about 16 MiB and tens of milliseconds per check.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


def hash_password(password: str) -> str:
    """A self-describing scrypt hash of ``password`` with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(
        ("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest))
    )


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; constant time in the comparison."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that case costs one scrypt as well."""
    return hash_password(secrets.token_urlsafe(16))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * n * r * 2, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def normalize_username(raw: str) -> str:
    username = raw.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            "a username is 2-64 characters: lowercase letters, digits, '.', '_' or '-'"
        )
    return username


def add_agent(
    session: Session,
    username: str,
    password: str,
    *,
    now: dt.datetime,
    telegram_user_id: int | None = None,
    actor: str = "cli",
    is_admin: bool = False,
) -> Agent:
    """Create an agent; a taken username or Telegram id is a ``Conflict``."""
    name = normalize_username(username)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalars(select(Agent.id).where(Agent.username == name)).first() is not None:
        raise Conflict(f"agent {name} already exists")
    if telegram_user_id is not None and find_by_telegram_user(session, telegram_user_id):
        raise Conflict(f"Telegram user {telegram_user_id} is already another agent's")
    agent = Agent(
        username=name,
        password_hash=hash_password(password),
        telegram_user_id=telegram_user_id,
        created_at=now,
        is_admin=is_admin,
    )
    session.add(agent)
    session.flush()
    audit.record(
        session,
        actor,
        "agent.added",
        subject=f"agent:{name}",
        now=now,
        telegram_user_id=telegram_user_id,
        is_admin=is_admin,
    )
    return agent


def list_agents(session: Session) -> Sequence[Agent]:
    return session.scalars(select(Agent).order_by(Agent.username)).all()


def remove_agent(session: Session, username: str, *, now: dt.datetime, actor: str = "cli") -> None:
    """Delete an agent (their past actions stay in the audit log under their name)."""
    name = username.strip().lower()
    agent = session.scalars(select(Agent).where(Agent.username == name)).first()
    if agent is None:
        raise NotFound(f"agent {name} does not exist")
    session.delete(agent)
    audit.record(session, actor, "agent.removed", subject=f"agent:{name}", now=now)


def authenticate(session: Session, username: str, password: str) -> Agent | None:
    """The enabled agent with these credentials, else None (same cost either way)."""
    agent = session.scalars(select(Agent).where(Agent.username == username.strip().lower())).first()
    stored = agent.password_hash if agent is not None else _dummy_hash()
    valid = check_password(password, stored)
    if agent is None or agent.disabled or not valid:
        return None
    return agent


def find_by_telegram_user(session: Session, telegram_user_id: int) -> Agent | None:
    """The enabled agent allow-listed for this Telegram user id (Telegram agent commands)."""
    return session.scalars(
        select(Agent).where(Agent.telegram_user_id == telegram_user_id, Agent.disabled.is_(False))
    ).first()


def set_disabled(
    session: Session, username: str, disabled: bool, *, now: dt.datetime, actor: str
) -> Agent:
    """Disable (or enable again) an agent; a disabled agent's sessions end at once.

    An admin cannot disable themselves, and the last enabled admin cannot be disabled: someone
    must always be able to manage agents from the dashboard.
    """
    agent = _existing(session, username)
    if disabled and agent.username == actor:
        raise InvalidInput("you cannot disable yourself")
    if disabled and agent.is_admin and _enabled_admins(session) <= 1:
        raise InvalidInput(f"{agent.username} is the last admin: make another admin first")
    agent.disabled = disabled
    if disabled:
        end_all_sign_ins(session, agent.username)
    action = "agent.disabled" if disabled else "agent.enabled"
    audit.record(session, actor, action, subject=f"agent:{agent.username}", now=now)
    return agent


def reset_password(
    session: Session, username: str, password: str, *, now: dt.datetime, actor: str
) -> Agent:
    """Give an agent a new password; every session of theirs ends (the fingerprint changes)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    agent = _existing(session, username)
    agent.password_hash = hash_password(password)
    end_all_sign_ins(session, agent.username)
    audit.record(session, actor, "agent.password_reset", subject=f"agent:{agent.username}", now=now)
    return agent


def change_own_password(
    session: Session, username: str, current: str, new: str, *, now: dt.datetime
) -> Agent:
    """An agent changes their own password, proving they know the current one; every session
    of theirs ends (the caller signs this browser in again)."""
    agent = _existing(session, username)
    if not check_password(current, agent.password_hash):
        raise InvalidInput("the current password is not right", field="current")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="new"
        )
    if new == current:
        raise InvalidInput("the new password is the current one", field="new")
    agent.password_hash = hash_password(new)
    end_all_sign_ins(session, agent.username)
    audit.record(
        session, agent.username, "agent.password_changed", subject=f"agent:{agent.username}",
        now=now,
    )  # fmt: skip
    return agent


def set_admin(
    session: Session, username: str, is_admin: bool, *, now: dt.datetime, actor: str
) -> Agent:
    """Grant or take away the admin role (never from the last enabled admin)."""
    agent = _existing(session, username)
    if not is_admin and agent.is_admin and not agent.disabled and _enabled_admins(session) <= 1:
        raise InvalidInput(f"{agent.username} is the last admin: make another admin first")
    agent.is_admin = is_admin
    action = "agent.made_admin" if is_admin else "agent.admin_removed"
    audit.record(session, actor, action, subject=f"agent:{agent.username}", now=now)
    return agent


def _existing(session: Session, username: str) -> Agent:
    name = username.strip().lower()
    agent = session.scalars(select(Agent).where(Agent.username == name)).first()
    if agent is None:
        raise NotFound(f"agent {name} does not exist")
    return agent


def _enabled_admins(session: Session) -> int:
    query = select(func.count()).where(Agent.is_admin.is_(True), Agent.disabled.is_(False))
    return int(session.scalar(query) or 0)
