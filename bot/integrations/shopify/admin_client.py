"""A small client for Shopify's Admin GraphQL API that keeps inside the cost-based rate limit.

Shopify meters GraphQL by query cost: a bucket of ``maximumAvailable`` points that refills at
``restoreRate`` points a second; every answer reports it under ``extensions.cost.throttleStatus``
(shape as in Shopify's ``graphql-client`` types, ``GQLExtensions.cost``). This client remembers
the last report and, before the next call, waits until the bucket has refilled enough for the
call's cost (the cost the same operation was charged last time, else ``DEFAULT_COST``). A call
Shopify refuses as ``THROTTLED`` (``errors[].extensions.code``, as Shopify's own libraries detect
it) waits for the refill and is sent again, a few times.

Errors are translated here, once (``AdminError``): HTTP 429 and 5xx, a timeout or a refused
connection can pass (``permanent=False``, with Shopify's ``Retry-After`` when given); a 401/403,
GraphQL errors (a query the schema refuses, a missing access scope) cannot, and neither can the
``userErrors`` a mutation answers (``user_errors``). The token goes in one header and never
into a message or a log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["DEFAULT_COST", "AdminClient", "AdminError", "Throttle", "user_errors"]

logger = logging.getLogger(__name__)

DEFAULT_COST = 10.0  # Shopify charges a mutation 10 points; most of our queries cost less
THROTTLED_TRIES = 4
MAX_WAIT_S = 60.0


class AdminError(Exception):
    """A call that did not succeed; ``permanent`` when sending it again cannot help."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(slots=True)
class Throttle:
    """The bucket as Shopify last reported it, and when (our monotonic clock)."""

    maximum: float
    available: float
    restore_rate: float
    seen_at: float

    def projected(self, now: float) -> float:
        refilled = self.available + self.restore_rate * max(0.0, now - self.seen_at)
        return min(self.maximum, refilled)

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` points are available (0 when they are)."""
        missing = min(cost, self.maximum) - self.projected(now)
        if missing <= 0 or self.restore_rate <= 0:
            return 0.0
        return min(MAX_WAIT_S, missing / self.restore_rate)


class AdminClient:
    """Calls one shop's Admin GraphQL endpoint at a pinned API version."""

    def __init__(
        self,
        shop_domain: str,
        token: str,
        api_version: str,
        *,
        base_url: str | None = None,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        root = (base_url or f"https://{shop_domain}").rstrip("/")
        self.endpoint = f"{root}/admin/api/{api_version}/graphql.json"
        self._http = httpx.Client(
            headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self._sleep = sleep
        self._clock = clock
        self.throttle: Throttle | None = None
        self._costs: dict[str, float] = {}
        self.waited_s = 0.0  # time spent waiting for the bucket, for tests and reports

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(
        self, name: str, query: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run the operation ``name`` and return its ``data``; raise ``AdminError`` otherwise."""
        for attempt in range(1, THROTTLED_TRIES + 1):
            self._wait_for_bucket(self._costs.get(name, DEFAULT_COST))
            body = self._post(query, variables)
            self._remember_cost(name, body)
            errors = body.get("errors")
            if errors and _is_throttled(errors):
                logger.info("Shopify throttled %s (try %d)", name, attempt)
                cost = self._costs.get(name, DEFAULT_COST)
                self._wait_for_bucket(cost, throttled=True)
                continue
            if errors:
                raise AdminError(f"{name}: {_messages(errors)}", permanent=True)
            data = body.get("data")
            if not isinstance(data, dict):
                raise AdminError(f"{name}: the answer has no data", permanent=False)
            return data
        raise AdminError(f"{name}: still throttled after {THROTTLED_TRIES} tries", permanent=False)

    def _wait_for_bucket(self, cost: float, *, throttled: bool = False) -> None:
        wait = self.throttle.wait_for(cost, self._clock()) if self.throttle else 0.0
        if throttled and wait <= 0:
            # Refused though our view of the bucket says there is room (another app shares the
            # shop's bucket, or no status came back): give it a second to refill.
            wait = 1.0
        if wait > 0:
            self.waited_s += wait
            self._sleep(wait)

    def _post(self, query: str, variables: Mapping[str, Any] | None) -> dict[str, Any]:
        try:
            response = self._http.post(
                self.endpoint, json={"query": query, "variables": dict(variables or {})}
            )
        except httpx.TimeoutException:
            raise AdminError("Shopify did not answer in time", permanent=False) from None
        except httpx.TransportError as exc:
            raise AdminError(
                f"Shopify unreachable ({type(exc).__name__})", permanent=False
            ) from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise AdminError(
                f"Shopify answered HTTP {status}",
                permanent=False,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            raise AdminError(
                f"Shopify refused the access token (HTTP {status}); check SHOPIFY_ADMIN_TOKEN",
                permanent=True,
            )
        if status != 200:
            raise AdminError(f"Shopify answered HTTP {status}", permanent=True)
        try:
            body = response.json()
        except ValueError:
            raise AdminError("Shopify's answer is not JSON", permanent=False) from None
        if not isinstance(body, dict):
            raise AdminError("Shopify's answer is not a JSON object", permanent=False)
        return body

    def _remember_cost(self, name: str, body: Mapping[str, Any]) -> None:
        extensions = body.get("extensions")
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        if not isinstance(cost, dict):
            return
        requested = cost.get("requestedQueryCost")
        if isinstance(requested, int | float):
            self._costs[name] = float(requested)
        status = cost.get("throttleStatus")
        if isinstance(status, dict):
            try:
                self.throttle = Throttle(
                    maximum=float(status["maximumAvailable"]),
                    available=float(status["currentlyAvailable"]),
                    restore_rate=float(status["restoreRate"]),
                    seen_at=self._clock(),
                )
            except (KeyError, TypeError, ValueError):
                logger.warning("Shopify sent an unreadable throttleStatus; ignored")


def user_errors(payload: Mapping[str, Any] | None, *fields: str) -> str | None:
    """The ``userErrors`` (or ``fields``) a mutation answered, as one line; None when none."""
    if payload is None:
        return "the mutation answered nothing"
    found: list[str] = []
    for field in fields or ("userErrors",):
        for error in payload.get(field) or []:
            where = ".".join(str(part) for part in error.get("field") or [])
            found.append(f"{where}: {error.get('message')}" if where else str(error.get("message")))
    return "; ".join(found) if found else None


def _is_throttled(errors: Any) -> bool:
    return isinstance(errors, list) and any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    )


def _messages(errors: Any) -> str:
    if not isinstance(errors, list):
        return str(errors)[:300]
    return "; ".join(str(e.get("message")) if isinstance(e, dict) else str(e) for e in errors)[:400]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
