"""Signing in and out of the dashboard, and the check every other page makes first.

- ``GET /agent/login`` sets a short-lived pre-session cookie and shows the form, whose CSRF
  token is bound to that cookie (a forged cross-site sign-in cannot know it);
- ``POST /agent/login`` checks the token, limits attempts per client address, then
  ``store.agents.authenticate`` (scrypt; the same cost for unknown usernames), and sets the
  session cookie: HttpOnly, SameSite=Strict, Path=/agent, Secure when PUBLIC_BASE_URL is https,
  and records the session server-side (``store.agent_sign_ins``);
- ``POST /agent/logout`` revokes this session (a copy of the cookie stops working too) and clears
  the cookie; ``POST /agent/logout-everywhere`` revokes every session of the agent.

Pages call :meth:`Gate.agent` (GET: no session -> 303 to the sign-in page) or
:meth:`Gate.form` (POST: no session or a wrong CSRF token -> 403, before anything is read or
written).
"""

# No ``from __future__ import annotations``: FastAPI evaluates the routes' annotations.
import asyncio
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from bot.agents.views import SignedInAgent, signed_in_agent
from bot.web.agent.drafts import NEXT_COOKIE, Drafts, return_page
from bot.web.agent.session import (
    LOGIN_COOKIE,
    LOGIN_TTL,
    SESSION_COOKIE,
    AgentSession,
    SessionSigner,
)
from bot.web.html import PAGE_HEADERS, page
from bot.web.ops import WebMetrics
from bot.web.sliding_window import SlidingWindow
from store.agent_sign_ins import end_all_sign_ins, end_sign_in, is_signed_in, start_sign_in
from store.agents import authenticate
from store.db import Database

PATH = "/agent"
LOGIN_PATH = PATH + "/login"
# Sign-in attempts per client address per window: scrypt already makes each guess slow.
LOGIN_ATTEMPTS = 10
LOGIN_WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The agent making this request, with the CSRF token their forms carry."""

    username: str
    csrf: str
    is_admin: bool = False


class Gate:
    """Reads and checks sessions; builds the cookies."""

    def __init__(
        self,
        db: Database,
        signer: SessionSigner,
        *,
        secure: bool,
        clock: Callable[[], dt.datetime],
        metrics: WebMetrics,
        root_path: str = "",
    ) -> None:
        self.db = db
        self.signer = signer
        self.secure = secure
        # The browser sees the proxy's prefix (ROOT_PATH): a cookie for /agent alone never
        # comes back from /bot/agent.
        self.cookie_path = root_path + PATH
        self.clock = clock
        self.metrics = metrics
        self.attempts = SlidingWindow(LOGIN_ATTEMPTS, LOGIN_WINDOW_SECONDS)
        self.drafts = Drafts(self)

    async def current(self, request: Request) -> tuple[SignedIn, AgentSession] | None:
        """The signed-in agent, or None: no cookie, a bad one, expired, signed out, or the
        agent changed."""
        session = self.cookie_session(request)
        if session is None:
            return None
        agent = await asyncio.to_thread(self._agent, session)
        if agent is None:
            return None
        if self.signer.fingerprint(agent.password_hash) != session.fingerprint:
            return None  # the password changed since this session began
        signed_in = SignedIn(agent.username, self.signer.csrf(session), agent.is_admin)
        return signed_in, session

    async def agent(self, request: Request) -> SignedIn:
        """For pages: the agent, or a redirect to the sign-in page."""
        found = await self.current(request)
        if found is None:  # sign in, then come back here
            cookie = Response()
            self.drafts.set_next_cookie(cookie, request)
            raise HTTPException(303, headers=_redirect(root_path(request) + LOGIN_PATH, cookie))
        return found[0]

    async def form(self, request: Request) -> tuple[SignedIn, FormData]:
        """For forms: the agent and the posted fields, or 403 when either check fails."""
        found = await self.current(request)
        form = await request.form()
        given = form.get("csrf")
        if found is None:
            self.metrics.webhook(PATH, "csrf_refused")
            await self._keep_and_redirect(request, form, None, "sign in again")
        who, session = found
        if not isinstance(given, str) or not self.signer.csrf_ok(session, given):
            self.metrics.webhook(PATH, "csrf_refused")
            await self._keep_and_redirect(request, form, who.username, "this form has expired")
        return who, form

    async def admin(self, request: Request) -> SignedIn:
        """For admin pages: the agent if they are an admin; 403 for any other agent."""
        who = await self.agent(request)
        if not who.is_admin:
            raise HTTPException(403, "only admins manage agents", headers=PAGE_HEADERS)
        return who

    async def admin_form(self, request: Request) -> tuple[SignedIn, FormData]:
        """For admin forms: the CSRF check of :meth:`form`, then the admin role."""
        who, form = await self.form(request)
        if not who.is_admin:
            raise HTTPException(403, "only admins manage agents", headers=PAGE_HEADERS)
        return who, form

    async def _keep_and_redirect(
        self, request: Request, form: FormData, username: str | None, refusal: str
    ) -> NoReturn:
        """Keep what the form carried (nothing is written from it) and send the agent to sign
        in, or, still signed in, back to the form's page; 403 if the stash is rate-limited or
        the post came from another site. Always raises."""
        token = await self.drafts.stash(request, form, username) if _own(request) else None
        if token is None:
            raise HTTPException(403, refusal, headers=PAGE_HEADERS)
        cookie = Response()
        self.drafts.set_stash_cookie(cookie, token)
        if username is None:
            target = LOGIN_PATH
        else:
            target = return_page(request.url.path.removeprefix(root_path(request)))
        raise HTTPException(303, headers=_redirect(root_path(request) + target, cookie))

    def cookie_session(self, request: Request) -> AgentSession | None:
        """The session the cookie names, checked for signature and expiry only."""
        return self.signer.read(request.cookies.get(SESSION_COOKIE), self.clock())

    def _agent(self, cookie: AgentSession) -> SignedInAgent | None:
        with self.db.read_session() as session:
            if not is_signed_in(session, cookie.username, cookie.nonce, now=self.clock()):
                return None  # signed out (here or everywhere), or from before sign-ins were kept
            return signed_in_agent(session, cookie.username)

    async def revoke(self, request: Request, *, everywhere: bool) -> None:
        """End the session of this request's cookie, or every session of its agent."""
        cookie = self.cookie_session(request)
        if cookie is None:
            return
        await asyncio.to_thread(self._revoke, cookie, everywhere)

    def _revoke(self, cookie: AgentSession, everywhere: bool) -> None:
        with self.db.session() as session:
            if everywhere:
                end_all_sign_ins(session, cookie.username)
            else:
                end_sign_in(session, cookie.nonce)

    def record_sign_in(self, cookie_value: str) -> None:
        """Keep the new session server-side (blocking: call it off the event loop)."""
        cookie = self.signer.read(cookie_value, self.clock())
        assert cookie is not None  # just issued under our own key
        with self.db.session() as session:
            start_sign_in(
                session,
                cookie.username,
                cookie.nonce,
                now=self.clock(),
                expires_at=cookie.expires_at,
            )

    def set_cookie(self, response: Response, name: str, value: str, ttl: dt.timedelta) -> None:
        response.set_cookie(
            name,
            value,
            max_age=int(ttl.total_seconds()),
            path=self.cookie_path,
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )

    def clear_cookie(self, response: Response, name: str) -> None:
        response.delete_cookie(
            name, path=self.cookie_path, httponly=True, samesite="strict", secure=self.secure
        )


def router(gate: Gate, shop_name: str) -> APIRouter:
    """The sign-in and sign-out routes."""
    routes = APIRouter()

    @routes.get(LOGIN_PATH)
    async def login_form(request: Request) -> Response:
        """The sign-in form (already signed in: straight to the board)."""
        if await gate.current(request) is not None:
            return RedirectResponse(root_path(request) + PATH, 303, headers=PAGE_HEADERS)
        return _login_page(gate, request, shop_name, error=None, status=200)

    @routes.post(LOGIN_PATH)
    async def login(request: Request) -> Response:
        """Check the form's token, then the credentials; set the session cookie."""
        form = await request.form()
        given = form.get("csrf")
        nonce = request.cookies.get(LOGIN_COOKIE)
        if not isinstance(given, str) or not gate.signer.login_csrf_ok(nonce, given):
            gate.metrics.webhook(LOGIN_PATH, "csrf_refused")
            raise HTTPException(
                403, "the sign-in form has expired; reload the page", headers=PAGE_HEADERS
            )
        address = request.client.host if request.client is not None else "unknown"
        wait = gate.attempts.hit(address)
        if wait is not None:
            gate.metrics.webhook(LOGIN_PATH, "rate_limited")
            response = _login_page(gate, request, shop_name, error="too_many", status=429)
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        username, password = _text(form.get("username")), _text(form.get("password"))
        found = await asyncio.to_thread(_authenticate, gate.db, username, password)
        if found is None:
            gate.metrics.webhook(LOGIN_PATH, "refused")
            return _login_page(gate, request, shop_name, error="wrong", status=401)
        gate.metrics.webhook(LOGIN_PATH, "signed_in")
        back_to = await gate.drafts.after_sign_in(request)
        response = RedirectResponse(root_path(request) + back_to, 303, headers=PAGE_HEADERS)
        if NEXT_COOKIE in request.cookies:
            gate.clear_cookie(response, NEXT_COOKIE)
        cookie = gate.signer.issue(found.username, found.password_hash, gate.clock())
        await asyncio.to_thread(gate.record_sign_in, cookie)
        gate.set_cookie(response, SESSION_COOKIE, cookie, gate.signer.ttl)
        gate.clear_cookie(response, LOGIN_COOKIE)
        return response

    async def sign_out(request: Request, *, everywhere: bool) -> Response:
        await gate.form(request)  # the CSRF check stops forced sign-outs
        await gate.revoke(request, everywhere=everywhere)
        gate.metrics.webhook(PATH + "/logout", "everywhere" if everywhere else "signed_out")
        response = RedirectResponse(root_path(request) + LOGIN_PATH, 303, headers=PAGE_HEADERS)
        gate.clear_cookie(response, SESSION_COOKIE)
        return response

    @routes.post(PATH + "/logout")
    async def logout(request: Request) -> Response:
        """End this session server-side: the cookie, and any copy of it, stops working."""
        return await sign_out(request, everywhere=False)

    @routes.post(PATH + "/logout-everywhere")
    async def logout_everywhere(request: Request) -> Response:
        """End every session of the signed-in agent (every browser, every copied cookie)."""
        return await sign_out(request, everywhere=True)

    return routes


def _login_page(
    gate: Gate, request: Request, shop_name: str, *, error: str | None, status: int
) -> Response:
    nonce = gate.signer.login_nonce()
    response = page(
        "agent/login.html",
        status,
        shop_name=shop_name,
        base=root_path(request) + PATH,
        csrf=gate.signer.login_csrf(nonce),
        error=error,
        username=None,
    )
    gate.set_cookie(response, LOGIN_COOKIE, nonce, LOGIN_TTL)
    return response


def _authenticate(db: Database, username: str, password: str) -> SignedInAgent | None:
    with db.read_session() as session:
        agent = authenticate(session, username, password)
        if agent is None:
            return None
        return SignedInAgent(agent.username, agent.password_hash, agent.telegram_user_id)


def _own(request: Request) -> bool:
    """Whether a post came from this site's own page: browsers say so in Sec-Fetch-Site; an
    Origin is "null" under our no-referrer policy, so only another site's origin counts."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin in (None, "null") or origin == f"{request.url.scheme}://{request.url.netloc}"


def _redirect(location: str, cookie: Response) -> dict[str, str]:
    """Headers of a 303 to ``location`` that also set the one cookie ``cookie`` carries."""
    return {**PAGE_HEADERS, "Location": location, "Set-Cookie": cookie.headers["set-cookie"]}


def root_path(request: Request) -> str:
    """The path prefix a proxy may mount the app under."""
    return str(request.scope.get("root_path", ""))


def _text(value: object) -> str:
    return value[:200] if isinstance(value, str) else ""
