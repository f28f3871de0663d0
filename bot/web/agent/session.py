"""Agents' sessions: a signed, expiring cookie, and the CSRF tokens bound to it.

The cookie carries ``{username, nonce, expiry, password fingerprint}`` as base64url JSON with an
HMAC-SHA256 over it, and the nonce's hash is kept server-side (``store.agent_sign_ins``): signing
out deletes that row, so a copied cookie stops working too. Every request re-reads the agent,
so removing or disabling an agent, or changing their password (the fingerprint is an HMAC of
the stored hash), ends their sessions at once. Expiry is absolute (``SESSION_TTL`` after
sign-in), not sliding: a stolen cookie is good for hours at most.

The CSRF token of a session is an HMAC of its nonce under a separate subkey: nothing to store,
different for every sign-in, and useless without the cookie it belongs to. The sign-in form
gets the same protection from a short-lived pre-session cookie (``LOGIN_COOKIE``).

The key comes from :func:`session_key`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from bot.settings import SANDBOX_ORDER_LINK_SECRET, Settings

SESSION_COOKIE = "backorder_agent"
LOGIN_COOKIE = "backorder_agent_login"
SESSION_TTL = dt.timedelta(hours=8)
LOGIN_TTL = dt.timedelta(minutes=15)
_TOKEN_CHARS = 43  # base64url of 256 bits


def session_key(settings: Settings) -> bytes:
    """The dashboard's signing key, derived so it is never one used for anything else.

    From ORDER_LINK_SECRET or the provider secrets (``order_link_secret_bytes``), else from
    AGENT_API_TOKEN: every web process of one deployment derives the same key, so a session
    works whichever process answers. With none of those (the sandbox) the only key available
    would be a constant in the source, which anyone could sign cookies with; a random key per
    process is used instead, so sandbox sessions end when the server restarts.
    """
    material = settings.order_link_secret_bytes()
    if material == SANDBOX_ORDER_LINK_SECRET:
        token = settings.agent_api_token
        material = token.get_secret_value().encode() if token else secrets.token_bytes(32)
    return hmac.new(material, b"backorder-bot agents' dashboard session", "sha256").digest()


@dataclass(frozen=True, slots=True)
class AgentSession:
    """A verified session cookie (the agent still has to exist, see ``fingerprint``)."""

    username: str
    nonce: str
    expires_at: dt.datetime
    fingerprint: str


class SessionSigner:
    """Issues and verifies session cookies and CSRF tokens under one key."""

    def __init__(self, key: bytes, ttl: dt.timedelta = SESSION_TTL) -> None:
        self._sign_key = _subkey(key, "session")
        self._csrf_key = _subkey(key, "csrf")
        self._login_key = _subkey(key, "login")
        self._hash_key = _subkey(key, "password")
        self.ttl = ttl

    def fingerprint(self, password_hash: str) -> str:
        """Stands for the agent's current password: another password, another fingerprint."""
        mac = hmac.new(self._hash_key, password_hash.encode(), hashlib.sha256).digest()
        return _b64(mac[:12])

    def issue(self, username: str, password_hash: str, now: dt.datetime) -> str:
        """A fresh session's cookie value (a new nonce, so a new CSRF token too)."""
        payload = {
            "u": username,
            "n": secrets.token_urlsafe(16),
            "e": int((now + self.ttl).timestamp()),
            "p": self.fingerprint(password_hash),
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return body + "." + self._mac(body)

    def read(self, cookie: str | None, now: dt.datetime) -> AgentSession | None:
        """The session in a cookie, or None if it is missing, forged, altered or expired."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 1024:
            return None
        body, mac = cookie.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            data = json.loads(_unb64(body))
            found = AgentSession(
                str(data["u"]),
                str(data["n"]),
                dt.datetime.fromtimestamp(int(data["e"]), dt.UTC),
                str(data["p"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        return found if now < found.expires_at else None

    def csrf(self, session: AgentSession) -> str:
        """The CSRF token every form of this session carries."""
        return self._token(self._csrf_key, session.nonce)

    def csrf_ok(self, session: AgentSession, given: str) -> bool:
        return _same(self.csrf(session), given)

    def login_nonce(self) -> str:
        """The pre-session cookie's value for the sign-in form."""
        return secrets.token_urlsafe(16)

    def login_csrf(self, nonce: str) -> str:
        return self._token(self._login_key, nonce)

    def login_csrf_ok(self, nonce: str | None, given: str) -> bool:
        return bool(nonce) and _same(self.login_csrf(nonce or ""), given)

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._sign_key, body.encode(), hashlib.sha256).digest())

    @staticmethod
    def _token(key: bytes, nonce: str) -> str:
        return _b64(hmac.new(key, nonce.encode(), hashlib.sha256).digest())[:_TOKEN_CHARS]


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _subkey(key: bytes, purpose: str) -> bytes:
    return hmac.new(key, purpose.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
