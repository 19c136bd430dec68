"""The /v1 route table and the helpers every resource shares: lists, paging, expand."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .params import CREATED, LIST_PARAMS, STR, Spec, check_limit
from .state import RequestContext, SandboxState
from .wire import JSON, invalid_request, not_found


@dataclass
class Call:
    """One API call as a handler sees it: validated params, path ids, who is calling."""

    state: SandboxState
    params: JSON
    path: dict[str, str]
    ctx: RequestContext

    def id(self, name: str = "id") -> str:
        return self.path[name]


Handler = Callable[[Call], JSON]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    schema: dict[str, Spec]
    publishable: bool = False  # callable with a publishable key + the object's client_secret
    # Parameters only Stripe.js sends (with a publishable key); refused from a secret key.
    publishable_params: dict[str, Spec] = field(default_factory=dict)
    regex: re.Pattern[str] = field(init=False)
    publishable_schema: dict[str, Spec] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        self.regex = re.compile(pattern + r"\Z")
        self.publishable_schema = {**self.schema, **self.publishable_params}

    def schema_for(self, ctx: RequestContext) -> dict[str, Spec]:
        """The parameters this caller may send: Stripe.js's own only with a publishable key."""
        return self.publishable_schema if ctx.publishable else self.schema


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: list[Route] = []
        for r in self.routes:
            if "{" in r.template:
                self._dynamic.append(r)
            else:
                self._static[(r.method, r.template)] = r

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._static.get((method, path))
        if route is not None:
            return route, {}
        for r in self._dynamic:
            if r.method != method:
                continue
            m = r.regex.match(path)
            if m:
                return r, m.groupdict()
        return None

    def path_known(self, path: str) -> bool:
        return any(r.regex.match(path) for r in self.routes)


# --------------------------------------------------------------------------- lists


def list_params(extra: dict[str, Spec] | None = None, *, created: bool = True) -> dict[str, Spec]:
    """A list's parameters: paging, ``expand``, ``created`` where Stripe filters by it (not on
    PaymentMethods, a charge's refunds or webhook endpoints), and the list's own ``extra``."""
    return {**LIST_PARAMS, **({"created": CREATED} if created else {}), **(extra or {})}


def where(**wanted: Any) -> Callable[[JSON], bool]:
    """A list's filter: objects whose fields equal every value given (None: any value)."""
    wanted = {k: v for k, v in wanted.items() if v is not None}
    return lambda o: all(o.get(k) == v for k, v in wanted.items())


def list_route(
    kind: str, url: str, filters: tuple[str, ...] = (), *, created: bool = True
) -> Route:
    """``GET url``: the objects of ``kind``, newest first, those whose fields equal the
    ``filters`` parameters the request gives (and in the ``created`` range, if it takes one)."""

    def list_(call: Call) -> JSON:
        keep = where(**{name: call.params.get(name) for name in filters})
        return paginate(call.state, kind, url, call.params, keep)

    return Route("GET", url, list_, list_params(dict.fromkeys(filters, STR), created=created))


def paginate(
    state: SandboxState,
    kind: str,
    url: str,
    params: JSON,
    keep: Callable[[JSON], bool] | None = None,
) -> JSON:
    """A Stripe list object, newest first, paged by limit / starting_after / ending_before."""
    limit = check_limit(params)
    ids = state.ids_of(kind)
    items = [state.objects[i] for i in reversed(ids) if i not in state.deleted]
    if keep is not None:
        items = [o for o in items if keep(o)]
    created = params.get("created")
    if created:
        items = [o for o in items if _created_ok(o["created"], created)]
    after, before = params.get("starting_after"), params.get("ending_before")
    if after:
        pos = _position(items, after, "starting_after", state)
        window = items[pos + 1 : pos + 1 + limit]
        has_more = pos + 1 + limit < len(items)
    elif before:
        pos = _position(items, before, "ending_before", state)
        start = max(0, pos - limit)
        window = items[start:pos]
        has_more = start > 0
    else:
        window = items[:limit]
        has_more = len(items) > limit
    return {"object": "list", "data": window, "has_more": has_more, "url": url}


def _position(items: list[JSON], id_: str, param: str, state: SandboxState) -> int:
    for i, o in enumerate(items):
        if o["id"] == id_:
            return i
    obj = state.objects.get(id_)
    kind = obj["object"] if obj else "object"
    raise not_found(kind, id_, param=param)


def _created_ok(ts: int, spec: JSON) -> bool:
    checks: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return all(checks[k](ts, v) for k, v in spec.items() if v is not None)


# --------------------------------------------------------------------------- expand


def expand(state: SandboxState, obj: JSON, paths: list[str] | None) -> JSON:
    """Replace ids by objects along each dotted path, as ``expand[]`` does (max depth 4)."""
    if not paths:
        return obj
    out = dict(obj)
    for path in paths:
        parts = path.split(".")
        if len(parts) > 4:
            raise invalid_request(
                f"You cannot expand more than 4 levels of a property. Property: {path}",
                param="expand",
            )
        out = _expand_one(state, out, parts, path)
    return out


def _expand_one(state: SandboxState, obj: JSON, parts: list[str], full: str) -> JSON:
    head, rest = parts[0], parts[1:]
    if obj.get("object") == "list" and head == "data":
        obj = dict(obj)
        obj["data"] = (
            [_expand_one(state, dict(o), rest, full) for o in obj["data"]] if rest else obj["data"]
        )
        return obj
    if head not in obj:
        raise invalid_request(f"This property cannot be expanded ({full}).", param="expand")
    value: Any = obj[head]
    if isinstance(value, str):
        target = state.objects.get(value)
        if target is None:
            raise invalid_request(f"This property cannot be expanded ({full}).", param="expand")
        if value in state.deleted:
            target = {"id": value, "object": target["object"], "deleted": True}
        value = dict(target)
    elif value is None:
        return obj
    elif not isinstance(value, dict):
        raise invalid_request(f"This property cannot be expanded ({full}).", param="expand")
    if rest:
        value = _expand_one(state, dict(value), rest, full)
    new = dict(obj)
    new[head] = value
    return new
