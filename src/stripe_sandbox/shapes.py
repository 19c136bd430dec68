"""How an object looks in an API version, where the sandbox knows the shape changed.

Objects are stored in one shape that holds everything any version shows (a charge keeps its
``refunds`` list); rendering for a version drops what that version hides unless the request
expanded it. Known differences:

- ``charge.refunds`` — since 2022-11-15 a charge's refunds are included only with
  ``expand[]=refunds`` (``data.refunds`` in a list, ``latest_charge.refunds`` from an intent).

An event is rendered in its own version (the account's default when it was created, or a
webhook endpoint's ``api_version`` on delivery), never the request's: its ``data.object`` and
``previous_attributes`` then follow that version.
"""

from __future__ import annotations

from typing import Any

from . import versions
from .wire import JSON

# Per object type, the fields a version may hide and whether it shows them (unless expanded).
_HIDDEN: dict[str, dict[str, Any]] = {
    "charge": {"refunds": versions.includes_charge_refunds},
}


def render(obj: JSON, version: str, expand: list[str] | None = None) -> JSON:
    """``obj`` (a response: an object, a list of them, an event) as ``version`` shows it;
    ``obj`` itself is never changed."""
    return _render(obj, version, "", frozenset(expand or ()))


def render_event(event: JSON, version: str | None = None) -> JSON:
    """The event as an endpoint on ``version`` receives it (default: the event's own)."""
    version = version or event["api_version"]
    data = event["data"]
    shaped = {"object": _render(data["object"], version, "", frozenset())}
    if "previous_attributes" in data:
        shaped["previous_attributes"] = _hide(
            data["object"].get("object"), data["previous_attributes"], version, "", frozenset()
        )
    if shaped == data and version == event["api_version"]:
        return event
    return {**event, "api_version": version, "data": shaped}


def _render(value: JSON, version: str, prefix: str, expanded: frozenset[str]) -> JSON:
    kind = value.get("object")
    if kind == "event":
        return render_event(value)
    if kind == "list" and isinstance(value.get("data"), list):
        items = [
            _render(item, version, prefix + "data.", expanded) if isinstance(item, dict) else item
            for item in value["data"]
        ]
        return value if _same(items, value["data"]) else {**value, "data": items}
    out = _hide(kind, value, version, prefix, expanded)
    # Nested objects are there only when expanded: render those paths.
    for path in expanded:
        if not path.startswith(prefix):
            continue
        key = path[len(prefix) :].split(".", 1)[0]
        child = out.get(key)
        if isinstance(child, dict):
            shaped = _render(child, version, f"{prefix}{key}.", expanded)
            if shaped is not child:
                out = {**out, key: shaped}
    return out


def _hide(kind: Any, value: JSON, version: str, prefix: str, expanded: frozenset[str]) -> JSON:
    """``value`` without the fields of a ``kind`` object that ``version`` does not show."""
    hidden = [
        name
        for name, shown in _HIDDEN.get(kind, {}).items()
        if name in value and not shown(version) and prefix + name not in expanded
    ]
    if not hidden:
        return value
    return {k: v for k, v in value.items() if k not in hidden}


def _same(a: list[Any], b: list[Any]) -> bool:
    return all(x is y for x, y in zip(a, b, strict=True))
