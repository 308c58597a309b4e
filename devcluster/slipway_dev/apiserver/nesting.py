"""How deeply a request body may nest.

The server walks bodies recursively (copies, merges, validation, managed fields), in Python, whose
stack is far shallower than Go's: a body nested a few thousand levels deep would end in a RecursionError
and a 500. So a body is measured (without recursion) as soon as it is decoded and refused with a 400 past
MAX_DEPTH levels, far more than any Kubernetes object needs; a body too deep even to decode gets the same
400 (the server's error middleware turns a RecursionError into it).
"""

from __future__ import annotations

from typing import Any, Final

from slipway_dev.apiserver.errors import ApiError, bad_request

MAX_DEPTH: Final = 100


def too_deep() -> ApiError:
    return bad_request(f"the request body is nested too deeply: at most {MAX_DEPTH} levels are accepted")


def check_depth(value: Any) -> Any:
    """`value` itself when it nests at most MAX_DEPTH levels of objects and arrays; else a 400."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    raise too_deep()
                pending.append((child, depth + 1))
    return value
