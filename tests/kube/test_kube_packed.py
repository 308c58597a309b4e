"""Objects packed for keeping: what comes back is what went in, compressed or not, and compressed is
smaller (what many are kept of at once, kube/watched.py and controller/first_look.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from slipway.kube.packed import pack, unpack

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


class Body(Mapping[str, Any]):
    """A mapping that is not a dict, as Kopf hands a watch event's body to a handler."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    def __getitem__(self, key: str) -> Any:
        return self._raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


@given(st.dictionaries(st.text(), JSON, max_size=6), st.booleans())
def test_what_is_unpacked_is_what_was_packed(obj: dict[str, Any], compressed: bool) -> None:
    assert unpack(pack(obj, compressed=compressed)) == obj
    assert unpack(pack(Body(obj), compressed=compressed)) == obj


def test_compressed_is_smaller_than_plain_for_an_object_of_the_api() -> None:
    deployment = {
        "metadata": {"name": "web-0123456789", "labels": {"slipway.dev/release": "web", "app": "wëb"}},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "example/web:1"}] * 8}}},
    }
    plain, compressed = pack(deployment, compressed=False), pack(deployment)
    assert len(compressed) < len(plain) / 2
    assert unpack(plain) == unpack(compressed) == deployment
