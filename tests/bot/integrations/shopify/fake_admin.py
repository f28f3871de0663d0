"""A local fake of Shopify's Admin GraphQL API on 127.0.0.1, checked against the real schema.

Every request is parsed and **validated against Shopify's own introspection of the pinned
version** (``shared/specs/shopify/admin-graphql-schema/admin_<version>.json.gz``, loaded with
graphql-core's ``build_client_schema``). A query or mutation the schema refuses is answered with
GraphQL errors, as Shopify does, and recorded in ``invalid`` (the tests' fixture fails on any).
Valid operations are then *executed* against the same schema with ``FakeShop``'s resolvers
(``fake_shop``), so answers have exactly the shape the operation selected, and arguments are
coerced by the schema's input types (a wrong enum or a missing required input fails as there).

What it checks and answers, and where each shape comes from:
- ``X-Shopify-Access-Token``: an unknown token gets HTTP 401 with Shopify's message (shape from
  Shopify's docs prose; no artefact has it).
- Access scopes: each root field's ``requiredAccess`` text in the introspection (Shopify's
  extension; the field's own, else its return type's), e.g. "Requires `write_order_edits` access
  scope."; a token without it gets ``errors[].extensions.code = ACCESS_DENIED`` (docs prose).
  ``tagsAdd`` has no text (it depends on the resource); on an order it needs ``write_orders``.
- Cost: ``extensions.cost = {requestedQueryCost, actualQueryCost, throttleStatus:
  {maximumAvailable, currentlyAvailable, restoreRate}}``: the shape of ``GQLExtensions`` in
  Shopify's ``graphql-client`` types and the sample in ``admin-api-client`` README
  (``graphql-responses/``). The cost itself follows Shopify's documented rules in outline (a
  mutation 10, an object 1, a connection 2 plus ``first`` times its nodes, scalars 0); the
  schema carries no cost data. The bucket (1000 points, 50/s by default) refills by the clock.
- A query costing more than is available: ``{"errors": [{"message": "Throttled", "extensions":
  {"code": "THROTTLED"}}]}`` (Shopify's library fixture) plus the cost block with
  ``actualQueryCost: null``, HTTP 200. No published artefact settles the status or the block.
- Faults on demand (``fail_next``): HTTP 429 (with ``Retry-After``) or 5xx, THROTTLED, or
  ``userErrors`` in the mutation's payload.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_client_schema,
    execute,
    get_named_type,
    is_leaf_type,
    parse,
    validate,
)
from graphql.error import GraphQLError
from graphql.utilities import value_from_ast_untyped

from tests.bot.integrations.shopify.fake_shop import FakeShop

SPECS = Path("/work/shared/specs/shopify/admin-graphql-schema")
VERSION = "2026-07"
TOKEN = "shpat_fake0123456789abcdef0123456789ab"
ALL_SCOPES = frozenset(
    {
        "read_orders",
        "write_orders",
        "write_order_edits",
        "read_products",
        "read_inventory",
        "read_discounts",
        "write_discounts",
        "read_customers",
    }
)
MUTATION_COST = 10
_SCOPE = re.compile(r"`([a-z_]+)`")


@cache
def load_schema(version: str = VERSION) -> GraphQLSchema:
    data = json.loads(gzip.decompress((SPECS / f"admin_{version}.json.gz").read_bytes()))
    schema = build_client_schema(data["data"])
    # Shopify's published schema breaks one of graphql-core 3.3's schema rules (an interface
    # field not deprecated where an implementation's is: 6 fields). That is a check of the
    # schema, not of our queries; operations are still validated in full below.
    schema._validation_errors = []
    return schema


@cache
def _required_access(version: str) -> dict[tuple[str, str], str | None]:
    """(root type, field) -> Shopify's ``requiredAccess`` text, or the return type's."""
    data = json.loads(gzip.decompress((SPECS / f"admin_{version}.json.gz").read_bytes()))
    types = {t["name"]: t for t in data["data"]["__schema"]["types"]}
    found: dict[tuple[str, str], str | None] = {}
    for root in ("QueryRoot", "Mutation"):
        for f in types[root]["fields"]:
            named = f["type"]
            while named.get("ofType"):
                named = named["ofType"]
            found[(root, f["name"])] = f.get("requiredAccess") or (
                types.get(named["name"], {}).get("requiredAccess")
            )
    return found


def missing_scopes(text: str | None, scopes: frozenset[str]) -> list[str]:
    """The scopes of ``text`` this token lacks: any one of them will do, unless the text asks
    for all ("as well as", "both")."""
    if not text:
        return []
    wanted = _SCOPE.findall(text.split("Also:")[0])
    if not wanted:
        return []
    if "as well as" in text or "both" in text:
        return [s for s in wanted if s not in scopes]
    return [] if any(s in scopes for s in wanted) else wanted


@dataclass
class Fault:
    field: str  # a root field name, or "*" for any
    kind: str  # "http" | "throttled" | "user_errors"
    status: int = 503
    message: str = "Something went wrong"
    retry_after: str | None = None


@dataclass
class Bucket:
    maximum: float = 1000.0
    restore_rate: float = 50.0
    available: float = 1000.0
    at: float = field(default_factory=time.monotonic)
    # Seconds the tests' recorded sleeps "waited": they refill the bucket as real time would.
    skipped: float = 0.0

    def refill(self) -> float:
        now = time.monotonic() + self.skipped
        self.available = min(self.maximum, self.available + (now - self.at) * self.restore_rate)
        self.at = now
        return self.available

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": round(self.available, 1),
            "restoreRate": self.restore_rate,
        }


@dataclass
class Call:
    fields: tuple[str, ...]
    variables: dict[str, Any]
    outcome: str  # "ok" | "invalid" | "denied" | "throttled" | "http <status>" | "user_errors"
    cost: int = 0


class FakeAdmin:
    """The fake's state, checks and answers; ``serve()`` puts it on 127.0.0.1."""

    def __init__(self, *, version: str = VERSION, scopes: frozenset[str] = ALL_SCOPES) -> None:
        self.version = version
        self.schema = load_schema(version)
        self.tokens: dict[str, frozenset[str]] = {TOKEN: scopes}
        self.shop = FakeShop()
        self.bucket = Bucket()
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self.invalid: list[str] = []
        self.base_url = ""
        self._lock = threading.Lock()

    def fail_next(self, field: str, kind: str, times: int = 1, **details: Any) -> None:
        self.faults.extend(Fault(field, kind, **details) for _ in range(times))

    def outcomes(self, field: str) -> list[str]:
        return [c.outcome for c in self.calls if field in c.fields]

    # --- one request ---------------------------------------------------------------------

    def answer(self, token: str | None, body: bytes) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            return self._answer(token, body)

    def _answer(self, token: str | None, body: bytes) -> tuple[int, dict[str, str], Any]:
        scopes = self.tokens.get(token or "")
        if scopes is None:
            msg = "[API] Invalid API key or access token (unrecognized login or wrong password)"
            return 401, {}, {"errors": msg}
        try:
            request = json.loads(body)
            document = parse(request["query"])
            variables = request.get("variables") or {}
        except (ValueError, KeyError, TypeError, GraphQLError) as exc:
            self.invalid.append(f"unparsable request: {exc}")
            return 200, {}, {"errors": [{"message": f"Parse error: {exc}"}]}
        operation = _operation(document)
        fields = _root_fields(operation)
        errors = validate(self.schema, document)
        if errors:
            self.invalid.extend(e.message for e in errors)
            self.calls.append(Call(fields, variables, "invalid"))
            return 200, {}, {"errors": [e.formatted for e in errors]}
        denied = self._denied(operation, fields, scopes, variables)
        if denied:
            self.calls.append(Call(fields, variables, "denied"))
            return (
                200,
                {},
                {"errors": [{"message": denied, "extensions": {"code": "ACCESS_DENIED"}}]},
            )
        fault = self._take_fault(fields)
        if fault is not None and fault.kind == "http":
            self.calls.append(Call(fields, variables, f"http {fault.status}"))
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return fault.status, headers, {"errors": fault.message}
        cost = query_cost(self.schema, document, operation, variables)
        if cost > self.bucket.maximum:
            self.calls.append(Call(fields, variables, "too costly", cost))
            message = f"Query cost is {cost}, which exceeds the single query max cost limit (1000)."
            return (
                200,
                {},
                {"errors": [{"message": message, "extensions": {"code": "MAX_COST_EXCEEDED"}}]},
            )
        available = self.bucket.refill()
        if (fault is not None and fault.kind == "throttled") or cost > available:
            self.calls.append(Call(fields, variables, "throttled", cost))
            return (
                200,
                {},
                {
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                    "extensions": {"cost": self._cost_block(cost, None)},
                },
            )
        self.bucket.available -= cost
        if fault is not None and fault.kind == "user_errors":
            self.shop.forced_user_error = fault.message
        result = execute(
            self.schema,
            document,
            root_value=self.shop.root(),
            context_value={"scopes": scopes},
            variable_values=variables,
        )
        self.shop.forced_user_error = None
        outcome = "user_errors" if fault is not None else "ok"
        self.calls.append(Call(fields, variables, outcome, cost))
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [e.formatted for e in result.errors]
        answer["extensions"] = {"cost": self._cost_block(cost, cost)}
        return 200, {}, answer

    def _denied(
        self,
        operation: OperationDefinitionNode,
        fields: tuple[str, ...],
        scopes: frozenset[str],
        variables: dict[str, Any],
    ) -> str | None:
        is_mutation = operation.operation == OperationType.MUTATION
        root = "Mutation" if is_mutation else "QueryRoot"
        access = _required_access(self.version)
        for name in fields:
            text = access.get((root, name))
            if name == "tagsAdd" and "Order/" in json.dumps(variables):
                text = "`write_orders` access scope."
            lacking = missing_scopes(text, scopes)
            if lacking:
                return f"Access denied for {name} field. Required access: {' or '.join(lacking)}."
        return None

    def _take_fault(self, fields: tuple[str, ...]) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.field == "*" or fault.field in fields:
                return self.faults.pop(i)
        return None

    def _cost_block(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": self.bucket.status(),
        }


def _operation(document: DocumentNode) -> OperationDefinitionNode:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            return definition
    raise GraphQLError("no operation in the document")


def _root_fields(operation: OperationDefinitionNode) -> tuple[str, ...]:
    return tuple(
        s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)
    )


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
) -> int:
    """Shopify's documented cost rules in outline (see the module docstring)."""
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(_root_fields(operation))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.query_type
    assert root is not None
    return _selection_cost(schema, operation.selection_set, root.fields, fragments, variables)


def _selection_cost(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode | None,
    fields: dict[str, GraphQLField],
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            definition = fields.get(selection.name.value)
            if definition is None:
                continue  # __typename and other meta fields are free
            named = get_named_type(definition.type)
            if is_leaf_type(named):
                continue
            inner = getattr(named, "fields", {})
            children = _selection_cost(schema, selection.selection_set, inner, fragments, variables)
            if named.name.endswith("Connection"):
                args = {
                    a.name.value: value_from_ast_untyped(a.value, variables)
                    for a in selection.arguments
                }
                total += 2 + int(args.get("first") or args.get("last") or 1) * children
            else:
                total += 1 + children
        else:
            if isinstance(selection, FragmentSpreadNode):
                fragment: InlineFragmentNode | FragmentDefinitionNode = fragments[
                    selection.name.value
                ]
            else:
                fragment = selection  # type: ignore[assignment]
            condition = fragment.type_condition
            target = schema.get_type(condition.name.value) if condition else None
            inner = getattr(target, "fields", fields)
            total += _selection_cost(schema, fragment.selection_set, inner, fragments, variables)
    return total


@contextmanager
def serve(fake: FakeAdmin) -> Iterator[FakeAdmin]:
    """Serve ``fake`` on 127.0.0.1 (a free port) at Shopify's path for its version."""
    path = f"/admin/api/{fake.version}/graphql.json"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != path:
                self._send(404, {}, {"errors": "Not Found"})
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, answer = fake.answer(self.headers.get("X-Shopify-Access-Token"), body)
            self._send(status, headers, answer)

        def _send(self, status: int, headers: dict[str, str], answer: Any) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the calls are in ``fake.calls``

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
