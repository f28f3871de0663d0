"""A fake Telegram Bot API and a fake Twilio Messages API, over HTTP on 127.0.0.1.

Each request is checked against the providers' published specs (``specs/telegram/api.json``,
``specs/twilio/twilio_api_v2010.json``): required fields present, no unknown fields, values of
the documented types. Problems are answered like the provider would (HTTP 400) *and* collected
in :attr:`FakeProviders.violations`, so a test can assert there were none.

With ``chaos=Chaos(rate=0.1, seed=...)`` a seeded share of message sends fails the way real
providers fail (:class:`Chaos`); :attr:`FakeProviders.delivered` counts, per provider, recipient
and text, the messages the fake accepted, whatever answer (if any) the client then got
(when recording).

Used in-process by the end-to-end tests (``async with FakeProviders() as fake``) and as a
separate process by the benchmark, so its CPU is not counted against the client::

    python -m tests.messaging.fake_providers --latency-ms 50

prints one JSON line with the base URL, then serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import gzip
import html
import itertools
import json
import os
import random
import re
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures"
TELEGRAM_TOKEN = "7000000001:AAFakeTokenForTestsOnly_abcdefghijk"
TWILIO_ACCOUNT_SID = "AC" + "feedface" * 4
TWILIO_AUTH_TOKEN = "fake-auth-token"
TWILIO_MESSAGING_SERVICE_SID = "MG" + "c0ffee00" * 4

_PRIMITIVES = {"String", "Integer", "Float", "Boolean", "True", "InputFile"}
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_TAG = re.compile(r"<[^>]+>")
_MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"


# The providers' published specs, vendored gzipped (both MIT-licensed; provenance in
# SOURCE_COMMIT beside each) so the tests run from any clone. BACKORDER_SPECS_DIR points at an
# unpacked copy instead, e.g. the team's ../shared/specs.
VENDORED_SPECS = Path(__file__).parent / "specs"


def specs_dir() -> Path:
    """Where the specs are read from: ``BACKORDER_SPECS_DIR`` or the vendored copy."""
    configured = os.environ.get("BACKORDER_SPECS_DIR")
    return Path(configured) if configured else VENDORED_SPECS


def read_spec(relative: str) -> Any:
    """One spec file as JSON, from an unpacked ``<relative>`` or the vendored ``<relative>.gz``."""
    path = specs_dir() / relative
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return json.loads(gzip.decompress((path.parent / (path.name + ".gz")).read_bytes()))


@dataclass(frozen=True)
class CannedAnswer:
    """A provider answer kept as a JSON fixture: status, body (JSON or text) and headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        """The body as the provider would send it."""
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()

    def content_type(self) -> str:
        """``text/html`` for text bodies (e.g. a proxy's 502 page), JSON otherwise."""
        return "text/html" if isinstance(self.body, str) else "application/json"


def load_answer(name: str) -> CannedAnswer:
    """Load ``fixtures/<name>``, e.g. ``telegram/blocked_by_user.json``."""
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return CannedAnswer(data["status"], data["body"], data.get("headers", {}))


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, with its fields decoded to their documented types."""

    provider: str
    method: str
    fields: dict[str, Any]
    received_at: float


# What Chaos injects, by name (the keys of FakeProviders.faults).
HTTP_500 = "http_500"  # an error answer: nothing was accepted
RATE_LIMITED = "rate_limited"  # 429 with retry_after / Retry-After: nothing was accepted
TIMEOUT = "timeout"  # accepted, then the answer is held past the client's timeout
DROP_BEFORE = "drop_before"  # connection closed without an answer, nothing accepted
DROP_AFTER = "drop_after"  # accepted, then the connection closed without an answer
CHAOS_KINDS = (HTTP_500, RATE_LIMITED, TIMEOUT, DROP_BEFORE, DROP_AFTER)


@dataclass
class Chaos:
    """Random faults on message sends (``sendMessage``, ``Messages.create``), seeded.

    A share ``rate`` of sends fails; the failures are a quarter each HTTP 500, 429 (Telegram's
    ``parameters.retry_after``, Twilio's code 20429 with ``Retry-After``), timeouts (the message
    is accepted, then the answer waits ``stall`` seconds: an ambiguous send for a client whose
    timeout is shorter) and dropped connections (half before the message is accepted, half
    after). ``rate`` may be changed while serving.
    """

    rate: float = 0.10
    seed: int = 0
    stall: float = 5.0
    retry_after: int = 1
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def roll(self) -> str | None:
        """The fault for the next send, or None for a normal answer."""
        if self._rng.random() >= self.rate:
            return None
        pick = self._rng.random()
        if pick < 0.25:
            return HTTP_500
        if pick < 0.5:
            return RATE_LIMITED
        if pick < 0.75:
            return TIMEOUT
        return DROP_BEFORE if pick < 0.875 else DROP_AFTER

    def answer(self, provider: str, fault: str) -> CannedAnswer:
        """The error answer for an ``http_500`` or ``rate_limited`` fault."""
        if fault == HTTP_500:
            return load_answer(f"{provider}/internal_error.json")
        if provider == "telegram":
            description = f"Too Many Requests: retry after {self.retry_after}"
            body = {
                "ok": False,
                "error_code": 429,
                "description": description,
                "parameters": {"retry_after": self.retry_after},
            }
            return CannedAnswer(429, body)
        canned = load_answer("twilio/too_many_requests_20429.json")
        return CannedAnswer(429, canned.body, {"Retry-After": str(self.retry_after)})


@dataclass
class _Script:
    answer: CannedAnswer | None
    delay: float
    remaining: int | None


class TelegramSpec:
    """The Bot API methods and types from ``api.json``, able to check one call's fields."""

    def __init__(self, api: dict[str, Any]) -> None:
        self.version = str(api.get("version", ""))
        self._methods = {name: _fields(m) for name, m in api["methods"].items()}
        self._types = api["types"]

    def knows(self, method: str) -> bool:
        """Whether ``method`` exists in the Bot API."""
        return method in self._methods

    def decode_and_check(
        self, method: str, form: dict[str, str]
    ) -> tuple[dict[str, Any], list[str]]:
        """Decode form fields (JSON inside for non-strings) and list what breaks the spec."""
        spec = self._methods[method]
        problems = [f"{method}: unknown parameter {name!r}" for name in form if name not in spec]
        problems += [
            f"{method}: missing required parameter {name!r}"
            for name, (_, required) in spec.items()
            if required and name not in form
        ]
        decoded: dict[str, Any] = {}
        for name, raw in form.items():
            if name not in spec:
                continue
            types = spec[name][0]
            value, error = _decode(raw, types)
            decoded[name] = value
            problems += [f"{method}.{name}: {error}"] if error else []
            if not error:
                problems += [f"{method}.{name}: {p}" for p in self._check_value(value, types)]
        return decoded, problems

    def _check_value(self, value: Any, types: list[str]) -> list[str]:
        """Problems with ``value`` against the first of ``types`` it fits (none if any fits)."""
        best: list[str] | None = None
        for type_name in types:
            problems = self._check_one(value, type_name)
            if not problems:
                return []
            if best is None or len(problems) < len(best):
                best = problems
        return best or []

    def _check_one(self, value: Any, type_name: str) -> list[str]:
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return [f"expected {type_name}"]
            inner = type_name.removeprefix("Array of ")
            return [p for item in value for p in self._check_value(item, [inner])]
        if type_name in _PRIMITIVES:
            return [] if _is_primitive(value, type_name) else [f"expected {type_name}"]
        spec = self._types.get(type_name)
        if spec is None:
            return [f"unknown type {type_name}"]
        if "subtypes" in spec and "fields" not in spec:
            return self._check_value(value, spec["subtypes"])
        return self._check_object(value, type_name, _fields(spec))

    def _check_object(
        self, value: Any, type_name: str, spec: dict[str, tuple[list[str], bool]]
    ) -> list[str]:
        if not isinstance(value, dict):
            return [f"expected a {type_name} object"]
        problems = [f"{type_name}: unknown field {name!r}" for name in value if name not in spec]
        problems += [
            f"{type_name}: missing field {name!r}"
            for name, (_, required) in spec.items()
            if required and name not in value
        ]
        for name, item in value.items():
            if name in spec:
                problems += self._check_value(item, spec[name][0])
        return problems


class TwilioMessagesSpec:
    """The form fields of ``POST .../Messages.json`` from the Twilio OpenAPI document."""

    def __init__(self, api: dict[str, Any]) -> None:
        operation = api["paths"][_MESSAGES_PATH]["post"]
        schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        self._properties: dict[str, Any] = schema["properties"]
        self._required: list[str] = schema.get("required", [])
        sid_parameter = next(p for p in operation["parameters"] if p["name"] == "AccountSid")
        self._account_sid = re.compile(sid_parameter["schema"]["pattern"])
        self.created_example: dict[str, Any] = operation["responses"]["201"]["content"][
            "application/json"
        ]["examples"]["create"]["value"]

    def check(self, account_sid: str, form: dict[str, list[str]]) -> list[str]:
        """List what in this create-message request breaks the spec."""
        problems = [] if self._account_sid.match(account_sid) else ["AccountSid: bad pattern"]
        problems += [f"unknown parameter {name!r}" for name in form if name not in self._properties]
        problems += [f"missing required {name!r}" for name in self._required if name not in form]
        # Documented in the field descriptions rather than the schema:
        if not ({"From", "MessagingServiceSid"} & form.keys()):
            problems.append("one of 'From' or 'MessagingServiceSid' is required")
        if not ({"Body", "MediaUrl", "ContentSid"} & form.keys()):
            problems.append("one of 'Body', 'MediaUrl' or 'ContentSid' is required")
        for name, values in form.items():
            schema = self._properties.get(name)
            if schema is not None:
                problems += [f"{name}: {p}" for v in values for p in _check_form_value(v, schema)]
                if schema.get("type") != "array" and len(values) > 1:
                    problems.append(f"{name}: given {len(values)} times")
        return problems


class FakeProviders:
    """Fake Telegram and Twilio on one aiohttp server, with latency and scripted failures."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        record: bool = True,
        telegram_token: str = TELEGRAM_TOKEN,
        twilio_account_sid: str = TWILIO_ACCOUNT_SID,
        twilio_auth_token: str = TWILIO_AUTH_TOKEN,
        chaos: Chaos | None = None,
    ) -> None:
        self.latency = latency
        self.record = record
        self.chaos = chaos
        # Messages accepted, by (provider, recipient, text): a count above 1 is a duplicate.
        self.delivered: Counter[tuple[str, str, str]] = Counter()
        # Faults injected by the chaos mode, by kind.
        self.faults: Counter[str] = Counter()
        self.requests: list[RecordedRequest] = []
        # Messages Twilio "holds", for the list endpoint (reconciling lost answers).
        self.twilio_messages: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.counts = {"telegram": 0, "twilio": 0}
        # Updates handed out by getUpdates (a bot polling), in update_id order.
        self.telegram_updates: list[dict[str, Any]] = []
        self._token = telegram_token
        self._twilio_auth = (twilio_account_sid, twilio_auth_token)
        self._scripts: dict[str, _Script] = {}
        self._message_ids = itertools.count(1)
        self._telegram, self._twilio = _load_specs()
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def telegram_base_url(self) -> str:
        """What ``TelegramChannel(base_url=...)`` should be given."""
        return f"{self.url}/bot"

    @property
    def twilio_base_url(self) -> str:
        """What ``TwilioSmsChannel(base_url=...)`` should be given."""
        return self.url

    def fail(self, address: str, answer: str | CannedAnswer, *, times: int | None = None) -> None:
        """Answer requests for ``address`` (chat id or ``To``) with a fixture or canned answer."""
        canned = load_answer(answer) if isinstance(answer, str) else answer
        self._scripts[address] = _Script(canned, 0.0, times)

    def stall(self, address: str, seconds: float, *, times: int | None = None) -> None:
        """Delay answers for ``address`` by ``seconds`` on top of the base latency."""
        self._scripts[address] = _Script(None, seconds, times)

    def sent(self, provider: str) -> list[RecordedRequest]:
        """Recorded message sends for ``"telegram"`` or ``"twilio"``."""
        return [r for r in self.requests if r.provider == provider]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host``; port 0 picks a free one. Returns the base URL."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._telegram_call)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio_create)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio_list)
        app.router.add_get("/_fake/summary", self._summary)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """Stop serving and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeProviders:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _telegram_call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self._token:
            return _json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if not self._telegram.knows(method):
            return _json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        form = await _telegram_fields(request)
        fields, problems = self._telegram.decode_and_check(method, form)
        self._note("telegram", method, fields, problems)
        address = str(fields.get("chat_id", ""))
        answer = await self._scripted(address)
        if problems:
            return _telegram_error(400, "Bad Request: " + "; ".join(problems))
        if answer is not None:
            return _answer(answer)
        if method == "getUpdates":
            return _json(200, {"ok": True, "result": await self._updates(fields)})
        if method == "sendMessage":
            return await self._accept(
                request,
                "telegram",
                address,
                str(fields.get("text", "")),
                lambda: _json(200, {"ok": True, "result": self._telegram_result(method, fields)}),
            )
        return _json(200, {"ok": True, "result": self._telegram_result(method, fields)})

    async def _accept(
        self,
        request: web.Request,
        provider: str,
        address: str,
        text: str,
        answer: Callable[[], web.Response],
    ) -> web.Response:
        """Accept a message (``answer`` builds the success answer), or inject a fault."""
        fault = self.chaos.roll() if self.chaos is not None else None
        if fault is not None:
            self.faults[fault] += 1
        if self.chaos is not None and fault in (HTTP_500, RATE_LIMITED):
            return _answer(self.chaos.answer(provider, fault))
        if fault == DROP_BEFORE:
            return _drop(request)
        response = answer()
        if self.record:  # benchmarks run without recording, and without this cost
            self.delivered[(provider, address, text)] += 1
        if fault == DROP_AFTER:
            return _drop(request)
        if self.chaos is not None and fault == TIMEOUT:
            await asyncio.sleep(self.chaos.stall)
        return response

    async def _updates(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        """Pending updates from ``offset`` on; a short wait when there are none (long polling)."""
        offset = int(fields.get("offset") or 0)
        pending = [u for u in self.telegram_updates if u["update_id"] >= offset]
        if not pending:
            await asyncio.sleep(0.05)
        return pending

    async def _twilio_create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json(401, _twilio_error_body(401, 20003, "Authenticate"))
        posted = await request.post()
        form: dict[str, list[str]] = {}
        for key, value in posted.items():
            form.setdefault(key, []).append(str(value))
        problems = self._twilio.check(request.match_info["sid"], form)
        fields = {k: v if len(v) > 1 else v[0] for k, v in form.items()}
        self._note("twilio", "Messages.create", fields, problems)
        answer = await self._scripted(str(fields.get("To", "")))
        if problems:
            return _json(400, {"message": "; ".join(problems), "status": 400})
        if answer is not None:
            return _answer(answer)

        def created() -> web.Response:
            message = self._twilio_result(request.match_info["sid"], fields)
            self.twilio_messages.append(message)
            return _json(201, message)

        to, body = str(fields.get("To", "")), str(fields.get("Body", ""))
        return await self._accept(request, "twilio", to, body, created)

    async def _twilio_list(self, request: web.Request) -> web.Response:
        """Messages.json list, newest first, filtered by To as Twilio does."""
        if not self._authorized(request):
            return _json(401, _twilio_error_body(401, 20003, "Authenticate"))
        to = request.query.get("To")
        found = [m for m in reversed(self.twilio_messages) if to is None or m["to"] == to]
        size = int(request.query.get("PageSize", "50"))
        uri = request.path
        page = {
            "messages": found[:size],
            "page": 0,
            "page_size": size,
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": uri,
            "start": 0,
            "end": max(0, min(size, len(found)) - 1),
        }
        return _json(200, page)

    async def _summary(self, request: web.Request) -> web.Response:
        summary = {
            "counts": self.counts,
            "violations": self.violations[:50],
            "cpu_s": time.process_time(),
        }
        return _json(200, summary)

    def _note(
        self, provider: str, method: str, fields: dict[str, Any], problems: list[str]
    ) -> None:
        self.counts[provider] += 1
        self.violations.extend(f"{provider} {p}" for p in problems)
        if self.record:
            self.requests.append(RecordedRequest(provider, method, fields, time.time()))

    async def _scripted(self, address: str) -> CannedAnswer | None:
        """Wait the base latency (plus any stall) and return a scripted answer, if any."""
        script = self._scripts.get(address)
        delay = self.latency + (script.delay if script else 0.0)
        if script is not None and script.remaining is not None:
            script.remaining -= 1
            if script.remaining <= 0:
                del self._scripts[address]
        if delay:
            await asyncio.sleep(delay)
        return script.answer if script else None

    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(":".join(self._twilio_auth).encode()).decode()
        return (
            request.headers.get("Authorization") == expected
            and request.match_info["sid"] == self._twilio_auth[0]
        )

    def _telegram_result(self, method: str, fields: dict[str, Any]) -> Any:
        bot = load_answer("telegram/get_me_ok.json").body["result"]
        if method == "getMe":
            return bot
        if method != "sendMessage":
            return True
        chat_id = fields["chat_id"]
        chat: dict[str, Any] = (
            {"id": chat_id, "first_name": "Customer", "type": "private"}
            if isinstance(chat_id, int)
            else {"id": -1001000000001, "title": "Channel", "type": "channel"}
        )
        result: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": {k: bot[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": chat,
            "date": int(time.time()),
            "text": html.unescape(_TAG.sub("", fields["text"])),
        }
        # A sent message shows only an inline keyboard; reply keyboards are not echoed back.
        markup = fields.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            result["reply_markup"] = markup
        if "link_preview_options" in fields:
            result["link_preview_options"] = fields["link_preview_options"]
        return result

    def _twilio_result(self, account_sid: str, fields: dict[str, Any]) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        via_service = "From" not in fields
        uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}"
        result = copy.deepcopy(self._twilio.created_example)
        result.update(
            account_sid=account_sid,
            body=fields.get("Body", ""),
            date_created=now,
            date_updated=now,
            date_sent=None,
            to=fields["To"],
            messaging_service_sid=fields.get("MessagingServiceSid"),
            sid=sid,
            status="accepted" if via_service else "queued",
            uri=f"{uri}.json",
            subresource_uris={"media": f"{uri}/Media.json"},
            num_segments="0" if via_service else "1",
        )
        result["from"] = fields.get("From")
        return result


@cache
def _load_specs() -> tuple[TelegramSpec, TwilioMessagesSpec]:
    telegram = read_spec("telegram/api.json")
    twilio = read_spec("twilio/twilio_api_v2010.json")
    return TelegramSpec(telegram), TwilioMessagesSpec(twilio)


def _fields(spec: dict[str, Any]) -> dict[str, tuple[list[str], bool]]:
    return {f["name"]: (f["types"], bool(f["required"])) for f in spec.get("fields", [])}


def _decode(raw: str, types: list[str]) -> tuple[Any, str | None]:
    """A form value as its documented type: PTB sends non-string values as JSON text."""
    if "String" in types and set(types) <= _PRIMITIVES:
        if "Integer" in types and re.fullmatch(r"-?\d+", raw):
            return int(raw), None
        return raw, None
    try:
        return json.loads(raw), None
    except ValueError:
        return raw, f"not valid JSON for {'/'.join(types)}"


def _is_primitive(value: Any, type_name: str) -> bool:
    if type_name == "String":
        return isinstance(value, str)
    if type_name == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name in ("Boolean", "True"):
        return isinstance(value, bool)
    return True


def _check_form_value(value: str, schema: dict[str, Any]) -> list[str]:
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        return ["expected an integer"]
    if kind == "boolean" and value not in ("true", "false"):
        return ["expected true or false"]
    if fmt == "phone-number" and not _E164.match(value.split(":", 1)[-1]):
        return [f"{value!r} is not an E.164 number"]
    if fmt == "uri" and not re.match(r"^https?://[^\s/_]+(/\S*)?$", value):
        return [f"{value!r} is not an absolute URL (no underscores in the host)"]
    return []


async def _telegram_fields(request: web.Request) -> dict[str, str]:
    """Form fields, or a JSON body flattened the way PTB's form encoding would send it."""
    if request.content_type == "application/json":
        body = await request.json()
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
    posted = await request.post()
    return {k: str(v) for k, v in posted.items()}


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=json.dumps(body), content_type="application/json")


def _answer(answer: CannedAnswer) -> web.Response:
    response = web.Response(
        status=answer.status, body=answer.payload(), content_type=answer.content_type()
    )
    response.headers.update(answer.headers)
    return response


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (the returned response is never written)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=200)


def _telegram_error(status: int, description: str) -> web.Response:
    return _json(status, {"ok": False, "error_code": status, "description": description})


def _twilio_error_body(status: int, code: int, message: str) -> dict[str, Any]:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return {"code": code, "message": message, "more_info": more_info, "status": status}


async def _serve(latency: float, port: int) -> None:
    fake = FakeProviders(latency=latency, record=False)
    url = await fake.start(port=port)
    print(json.dumps({"url": url}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the fake providers until interrupted (for benchmarks and manual demos)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.latency_ms / 1000, args.port))


if __name__ == "__main__":
    main(sys.argv[1:])
