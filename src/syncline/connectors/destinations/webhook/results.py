"""Per-record results in a webhook response: a small convention, documented for receivers.

With ``results_path`` set (a dotted path such as ``results`` or ``data.items``), the response
JSON holds a list there, one item per record (``results_list: all``) or one per failed record
(``results_list: errors``). An item is matched to its record by ``index`` (position in the
request's ``records``), else by ``key`` (the record's key as text), else by its own position.
It says whether the record was applied through the first of these fields it has:

* ``success`` (boolean);
* ``status``: an HTTP-like number (2xx is success) or a word (``ok``, ``success``, ``created``,
  ``updated``, ``deleted``, ``unchanged``, ``accepted`` are success);
* ``error``: anything but null/empty/false is a failure.

An item with none of them is a success in ``all`` mode and a failure in ``errors`` mode. The
failure message is ``error`` (a string, or an object's ``message``), else ``message``; a 404
status or a ``not_found`` status word is reported as ``not_found`` (an update of a record the
receiver does not have), any other failure as ``rejected``. In ``all`` mode a record no item
mentions is not acknowledged (``no_result``): nothing is acked that the receiver did not confirm.
"""

from __future__ import annotations

from typing import Any

from syncline.connectors._http import quote_body

_OK_WORDS = frozenset({"ok", "success", "succeeded", "created", "updated", "deleted"})
_OK_WORDS |= frozenset({"unchanged", "accepted", "applied", "noop"})


def dig(payload: Any, path: str) -> Any:
    """The value at a dotted path (``data.items``); list steps may be numbers."""
    node = payload
    for step in path.split("."):
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    return node


def _failed(item: dict[str, Any], default: bool) -> bool:
    if "success" in item:
        return not bool(item["success"])
    status = item.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        return not 200 <= status < 300
    if isinstance(status, str):
        word = status.strip().lower()
        return not (word in _OK_WORDS or (word.isdigit() and word.startswith("2")))
    if "error" in item:
        return item["error"] not in (None, "", False)
    return default


def _message(item: dict[str, Any]) -> str:
    error = item.get("error")
    if isinstance(error, dict):
        error = error.get("message") or error
    text = error if error not in (None, "", False, True) else item.get("message")
    if text in (None, ""):
        text = f"status {item.get('status')}" if "status" in item else "rejected by the receiver"
    return quote_body(str(text))


def _class(item: dict[str, Any]) -> str:
    status = item.get("status")
    code = item.get("code") or (item.get("error") if isinstance(item.get("error"), str) else "")
    words = {str(status).strip().lower(), str(code).strip().lower()}
    return "not_found" if {"404", "not_found", "notfound", "not found"} & words else "rejected"


def item_errors(payload: Any, path: str, keys: list[str], mode: str) -> dict[int, tuple[str, str]]:
    """Errors by record offset, read from the per-item results at ``path``.

    When the path holds no list, the response carries no per-item results and the request's
    own (successful) status applies to every record: the result is no errors.
    """
    items = dig(payload, path)
    if not isinstance(items, list):
        return {}
    n = len(keys)
    by_key = {k: i for i, k in enumerate(keys)}
    errors: dict[int, tuple[str, str]] = {}
    seen: set[int] = set()
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            item = {"success": bool(item)}
        index: int | None = position
        if isinstance(item.get("index"), int) and not isinstance(item.get("index"), bool):
            index = item["index"]
        elif "key" in item:
            index = by_key.get(str(item["key"]))
        if index is None or not 0 <= index < n:
            continue  # an item about no record of this request: nothing to attribute
        seen.add(index)
        if _failed(item, default=mode == "errors"):
            errors[index] = (_message(item), _class(item))
    if mode == "all":
        for index in range(n):
            if index not in seen:
                errors[index] = ("the response has no result for this record", "no_result")
    return errors
