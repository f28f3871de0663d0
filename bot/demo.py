"""``backorder-bot demo``: the whole loop on this machine, offline, as a readable story.

A fresh SQLite database under ``./var/``, the sample shop, the real server on 127.0.0.1 with the
sandbox channels and the dispatcher, and a scripted story played through the real code paths:
the JSON API (as the shop's systems would call it), the customer simulator (which posts signed
requests to the real Twilio and Telegram webhooks), and the dispatcher delivering the outbox
into the sandbox log, which is where the transcript reads what each customer received.

Quiet hours are off for the demo (it may run at any hour) and the sandbox's rate limits are
raised; everything else is as ``serve`` runs it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel

from bot import wiring
from bot.settings import Settings, load_settings
from bot.web.app import create_app
from bot.web.threaded import serving_in_thread
from messaging.channels.sandbox import SandboxRecord, read_sandbox_log
from messaging.render import as_plain_text
from store import migrate, sample
from store.agents import add_agent
from store.customers import CustomerData, upsert_customer
from store.db import Database
from store.models import Channel, utcnow

__all__ = ["DEMO_AGENT", "DemoFailed", "run_demo"]

DEMO_AGENT = ("demo", "demo-password")
WAIT_SECONDS = 20.0
SKU, ALTERNATIVE = "DEMO-ESPRESSO", "DEMO-ESPRESSO-PRO"


class DemoFailed(RuntimeError):
    """A step of the story did not happen as it should (the transcript says which)."""


@dataclass(frozen=True, slots=True)
class Cast:
    """The story's customers: (name, phone, locale)."""

    ada: tuple[str, str, str] = ("Ada Lovelace", "+14155550101", "en")
    maria: tuple[str, str, str] = ("María José Pérez", "+34612345670", "es")
    bob: tuple[str, str, str] = ("Bob Stone", "+14155550103", "en")
    chen: tuple[str, str, str] = ("Chen Wei", "+14155550104", "en")
    dana: tuple[str, str, str] = ("Dana Ruiz", "+525512345678", "es")


def demo_settings(var: Path, base_url: str) -> Settings:
    """Sandbox settings whatever the environment holds: the demo never uses real credentials."""
    return load_settings(
        database_url=f"sqlite:///{var / 'demo.db'}",
        sandbox_log=str(var / "demo-sandbox.jsonl"),
        public_base_url=base_url,  # links in messages point at this server
        telegram_bot_token=None,
        telegram_webhook_secret=None,
        twilio_account_sid=None,
        twilio_auth_token=None,
        agent_api_token=secrets.token_urlsafe(24),
        quiet_hours_start=dt.time(0),
        quiet_hours_end=dt.time(0),
        sms_rate_per_second=50.0,
        telegram_per_chat_per_second=50.0,
        shop_name="Casa Verde",
        support_contact="+1 415 555 0134",
        order_link_secret=secrets.token_urlsafe(24),
    )


def run_demo(
    console: Console, *, var: Path, port: int, serve: bool, wait_for_exit: Callable[[], None]
) -> None:
    """Prepare, serve, play the story; then keep serving until ``wait_for_exit`` returns."""
    var.mkdir(parents=True, exist_ok=True)
    for stale in ("demo.db", "demo.db-wal", "demo.db-shm", "demo-sandbox.jsonl"):
        (var / stale).unlink(missing_ok=True)
    # Bound first, so that a port of 0 is known before the settings name the server's address.
    sock = _bind(console, port)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = demo_settings(var, base)
    logging.getLogger().setLevel(logging.WARNING)  # the transcript is the output
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        _prepare(settings, db)
        with _serving(settings, db, sock) as base_url:
            story = Story(console, settings, db, base_url)
            story.play()
            console.print()
            if not serve:
                # The server stops with this function: addresses would point at nothing.
                console.print(
                    "The story is over and its server has stopped. Run `backorder-bot demo` "
                    "without --no-serve to try the dashboard, the simulator and the API yourself."
                )
                return
            console.print(
                Panel.fit(
                    f"Dashboard:  {base_url}/agent   (sign in as {DEMO_AGENT[0]} /"
                    f" {DEMO_AGENT[1]})\n"
                    f"Simulator:  {base_url}/simulator\n"
                    f"API docs:   {base_url}/docs   (bearer token: {_api_token(settings)})\n"
                    f"Order page: {story.order_page or '-'}",
                    title="Try it yourself",
                )
            )
            console.print("Serving until Ctrl-C ...")
            wait_for_exit()
    finally:
        db.dispose()
        sock.close()


def _bind(console: Console, port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port, or on a free port when that one is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        if port == 0:
            sock.close()
            raise
        console.print(f"[yellow]127.0.0.1:{port} is taken ({exc.strerror}); using a free port.")
        sock.bind(("127.0.0.1", 0))
    return sock


def _prepare(settings: Settings, db: Database) -> None:
    now = utcnow()
    with db.session() as session:
        sample.load(session, sample.generate(now=now), policy=settings.policy(), now=now)
        add_agent(session, DEMO_AGENT[0], DEMO_AGENT[1], now=now, actor="demo", is_admin=True)


@contextlib.contextmanager
def _serving(settings: Settings, db: Database, sock: socket.socket) -> Iterator[str]:
    """``serve`` in a thread: the web app with the dispatcher as its lifespan companion."""
    app = create_app(settings, db, lifespan_hooks=[wiring.dispatcher_lifespan(settings, db)])
    try:
        with serving_in_thread(app, sock) as base_url:
            yield base_url
    except RuntimeError as exc:
        raise DemoFailed(str(exc)) from exc


class Story:
    """The scripted story, one step per method, each printing what happened."""

    def __init__(self, console: Console, settings: Settings, db: Database, base_url: str) -> None:
        self.console = console
        self.settings = settings
        self.db = db
        self.cast = Cast()
        token = _api_token(settings)
        self.api = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        self.web = httpx.Client(base_url=base_url, timeout=10)
        self.customer_ids: dict[str, int] = {}
        self.order_page: str | None = None
        self._shown: set[str] = set()  # provider ids of the sandbox records already printed
        self._checked = 0  # sandbox records before this index were looked at by _unexpected

    def play(self) -> None:
        try:
            for number, step in enumerate(
                (
                    self.the_shop,
                    self.order_goes_on_backorder,
                    self.customer_asks_and_switches,
                    self.supplier_date_slips,
                    self.stock_arrives,
                    self.order_ships,
                    self.agent_broadcasts,
                ),
                start=1,
            ):
                # Not a Rule: its title is cut to the terminal's width, and piped it spans
                # the whole (unbounded) line.
                self.console.print(f"\n[bold]── {number}. {step.__doc__}[/bold]")
                step()
        finally:
            self.api.close()
            self.web.close()

    # --- the steps -------------------------------------------------------------------------------

    def the_shop(self) -> None:
        """The shop and its customers"""
        self._call("PUT", f"/api/products/{ALTERNATIVE}", json=_product("Espresso machine Pro", 5))
        product = _product("Espresso machine", 1, alternatives=[ALTERNATIVE])
        self._call("PUT", f"/api/products/{SKU}", json=product)
        self.say(f"Casa Verde sells the [b]Espresso machine[/b] ({SKU}): [b]1[/b] left in stock.")
        for key in ("ada", "maria", "bob", "chen", "dana"):
            name, phone, locale = getattr(self.cast, key)
            self.customer_ids[key] = self._customer(name, phone, locale, key == "maria")
        self.say("María prefers Telegram; she opens the link from her welcome e-mail:")
        self._simulator("/simulator/api/link", customer=self.customer_ids["maria"])
        self._expect_to("maria", Channel.TELEGRAM, "vinculado")

    def order_goes_on_backorder(self) -> None:
        """Five orders for one machine: four go on backorder"""
        for number, key in (
            ("D-1001", "chen"),
            ("D-1002", "ada"),
            ("D-1003", "maria"),
            ("D-1004", "bob"),
            ("D-1005", "dana"),
        ):
            self._order(number, key)
        self.say("Each waiting customer is told at once, on their channel, in their language:")
        self._expect_to("ada", Channel.SMS, "D-1002")
        self._expect_to("maria", Channel.TELEGRAM, "D-1003")
        self._expect_to("bob", Channel.SMS, "D-1004")
        self._expect_to("dana", Channel.SMS, "D-1005")

    def customer_asks_and_switches(self) -> None:
        """Ada asks where her order is, then switches to the alternative"""
        self._texts("ada", "where is my order?")
        self._expect_to("ada", Channel.SMS, "D-1002")
        self._texts("ada", "2")
        self._expect_to("ada", Channel.SMS, "Espresso machine Pro")
        order = self._call("GET", "/api/orders/D-1002")
        statuses = ", ".join(f"{line['sku']}: {line['status']}" for line in order["lines"])
        self.say(f"Order D-1002 now reads: {statuses}.")

    def supplier_date_slips(self) -> None:
        """The supplier's date moves: the waiting customers are told, once"""
        later = (utcnow() + dt.timedelta(days=30)).date().isoformat()
        self._call("POST", f"/api/products/{SKU}/eta", json={"eta": later, "reason": "port delay"})
        self.say(f"The supplier now promises {later}.")
        self._expect_to("maria", Channel.TELEGRAM, "D-1003")
        self._expect_to("bob", Channel.SMS, "D-1004")
        self._new_records()
        self._call("POST", f"/api/products/{SKU}/eta", json={"eta": later})
        time.sleep(1.5)
        repeats = [r for r in self._new_records() if "D-100" in r.message.text]
        if repeats:
            raise DemoFailed("the same date, sent again, was told again")
        self.say("The same date sent again tells nobody anything new.")

    def stock_arrives(self) -> None:
        """One machine arrives: the oldest waiting order gets it"""
        receipt = self._call(
            "POST", "/api/stock/receipts", json={"sku": SKU, "quantity": 1, "reference": "PO-77"}
        )
        given = ", ".join(a["order_number"] for a in receipt["allocated"]) or "nobody"
        self.say(f"Received 1 x {SKU}: allocated to {given} (placed before D-1004).")
        if given != "D-1003":
            raise DemoFailed(f"the oldest order should have had it, not {given}")
        self._expect_to("maria", Channel.TELEGRAM, "D-1003")

    def order_ships(self) -> None:
        """The shop ships María's order: she gets the tracking link"""
        parcel = {"carrier": "Correos", "tracking": "PK123456789ES"}
        parcel["tracking_url"] = "https://www.correos.es/track?n=" + parcel["tracking"]
        self._call("POST", "/api/orders/D-1003/shipments", json=parcel)
        self._expect_to("maria", Channel.TELEGRAM, parcel["tracking"])
        status = self._call("GET", "/api/orders/D-1003")["status"]
        self.say(f"Order D-1003 is now {status}.")
        if status != "completed":
            raise DemoFailed(f"a fully shipped order should be completed, not {status}")

    def agent_broadcasts(self) -> None:
        """An agent writes to everyone still waiting; the opted-out customer is skipped"""
        self._texts("bob", "STOP")
        self._expect_to("bob", Channel.SMS, "START")
        # Dana reads Spanish: the agent's text carries a translation, as the dashboard offers.
        body = {
            "filters": {"sku": SKU},
            "text": "Hi {{ first_name }}, a new shipment of {{ product }} is on its way.",
            "translations": {
                "es": "Hola {{ first_name }}, ya llega una nueva remesa de {{ product }}."
            },
        }
        self._new_records()
        preview = self._call("POST", "/api/broadcasts", json={**body, "dry_run": True})
        skipped = ", ".join(f"{n} {why}" for why, n in preview["skipped"].items()) or "none"
        self.say(f"Dry run: {preview['recipients']} recipient(s); skipped: {skipped}.")
        self._call("POST", "/api/broadcasts", json={**body, "idempotency_key": "demo-1"})
        time.sleep(1.5)
        self._expect_to("dana", Channel.SMS, "nueva remesa")
        got = {
            r.message.address
            for r in self._new_records()
            if "new shipment" in r.message.text or "nueva remesa" in r.message.text
        }
        if self.cast.bob[1] in got:
            raise DemoFailed("the opted-out customer got the broadcast")
        self.say("Bob, who texted STOP, got nothing.")
        self.order_page = self._order_page_link()

    # --- helpers ---------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.console.print(text)

    def _call(self, verb: str, path: str, **kwargs: Any) -> Any:
        response = self.api.request(verb, path, **kwargs)
        if response.status_code >= 400:
            raise DemoFailed(f"{verb} {path} answered {response.status_code}: {response.text}")
        return response.json()

    def _customer(self, name: str, phone: str, locale: str, telegram: bool) -> int:
        data = CustomerData(
            name=name,
            phone=phone,
            locale=locale,
            preferred_channel=Channel.TELEGRAM if telegram else Channel.SMS,
        )
        with self.db.session() as session:
            customer = upsert_customer(session, data)
            session.flush()
            return customer.id

    def _order(self, number: str, key: str) -> None:
        name, phone, locale = getattr(self.cast, key)
        answer = self._call(
            "POST",
            "/api/orders",
            json={
                "number": number,
                "customer": {"name": name, "phone": phone, "locale": locale},
                "lines": [{"sku": SKU, "quantity": 1}],
            },
        )
        line = answer["lines"][0]
        self.say(
            f"{name.split()[0]} orders {number}: {line['allocated']} allocated,"
            f" {line['backordered']} on backorder."
        )

    def _simulator(self, path: str, **body: Any) -> None:
        response = self.web.post(path, json=body)
        if response.status_code != 200 or response.json().get("webhook_status") != 200:
            raise DemoFailed(f"the simulator could not deliver: {response.text}")

    def _texts(self, key: str, text: str) -> None:
        name = getattr(self.cast, key)[0].split()[0]
        self.console.print(f"[bold cyan]{name} (SMS) >[/bold cyan] {text}")
        self._simulator(
            "/simulator/api/send", customer=self.customer_ids[key], channel="sms", text=text
        )

    def _expect_to(self, key: str, channel: Channel, contains: str) -> None:
        """Wait for a message to that customer on that channel containing ``contains``."""
        name, phone, _locale = getattr(self.cast, key)
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            for record in read_sandbox_log(self.settings.sandbox_log):
                message = record.message
                if record.provider_id in self._shown:
                    continue
                if message.channel != channel or contains not in message.text:
                    continue
                if channel is Channel.SMS and message.address != phone:
                    continue
                self._show(name.split()[0], record)
                return
            time.sleep(0.1)
        raise DemoFailed(f"{name} never received a {channel.value} message with {contains!r}")

    def _new_records(self) -> list[SandboxRecord]:
        """Records appended since the last call (printed or not)."""
        records = read_sandbox_log(self.settings.sandbox_log)
        fresh, self._checked = records[self._checked :], len(records)
        return fresh

    def _show(self, name: str, record: SandboxRecord) -> None:
        self._shown.add(record.provider_id)
        message = record.message
        label = "SMS" if message.channel is Channel.SMS else "Telegram"
        text = as_plain_text(message.text)
        buttons = "".join(f"\n  [ {b.label} ]" for b in message.buttons)
        self.console.print(f"[bold green]-> {name} ({label}):[/bold green] {text}{buttons}")

    def _order_page_link(self) -> str | None:
        """The personal order page link from the last SMS that carried one."""
        for record in reversed(read_sandbox_log(self.settings.sandbox_log)):
            if record.message.channel is not Channel.SMS:
                continue
            for word in record.message.text.split():
                if word.startswith("http") and "/o/" in word:
                    return word
        return None


def _product(name: str, stock: int, alternatives: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "price": "499.00",
        "category": "coffee",
        "stock_on_hand": stock,
        "supplier": "Acme Coffee Gear",
        "alternatives": alternatives or [],
    }


def _api_token(settings: Settings) -> str:
    assert settings.agent_api_token is not None  # demo_settings sets one
    return settings.agent_api_token.get_secret_value()


def wait_for_ctrl_c() -> None:
    """Block until Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)
