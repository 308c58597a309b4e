"""Objects packed for keeping: what comes back is what went in, compressed or not, and compressed is
smaller (what many are kept of at once, kube/watched.py and controller/first_look.py); packed against
the first of their kind, a fraction of that (what every sharded replica keeps of every Release)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from settled_release import settled_release
from traced import left_allocated

from slipway.kube.packed import Packer, dumped, pack, unpack

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


@given(st.lists(st.dictionaries(st.text(), JSON, max_size=6), min_size=1, max_size=4))
def test_what_a_packer_unpacks_is_what_it_packed(objs: list[dict[str, Any]]) -> None:
    packer = Packer()
    packed = [packer.pack(obj) for obj in objs] + [packer.pack(Body(obj)) for obj in objs]
    assert [packer.unpack(each) for each in packed] == objs + objs


def test_a_packer_packs_a_release_against_another_to_a_fraction_of_zlib_alone() -> None:
    packer = Packer()
    packer.pack(settled_release("web"))
    api = settled_release("api", namespace="payments", versions=5)
    packed = packer.pack(api)
    assert len(packed) < len(pack(api)) / 2 < len(dumped(api)) / 4
    assert packer.unpack(packed) == api


def test_a_packer_unpacks_nothing_packed_against_another_dictionary() -> None:
    """A zlib stream names the dictionary it was made with (its checksum): another one is refused, never
    read as something else."""
    with pytest.raises(ValueError, match="nothing was packed"):
        Packer().unpack(pack(settled_release("web")))
    web, api = Packer(), Packer()
    web.pack(settled_release("web"))
    api.pack(settled_release("api", namespace="payments", versions=5))
    with pytest.raises(zlib.error, match="zdict"):
        web.unpack(api.pack(settled_release("api")))


def test_compressed_is_smaller_than_plain_for_an_object_of_the_api() -> None:
    deployment = {
        "metadata": {"name": "web-0123456789", "labels": {"slipway.dev/release": "web", "app": "wëb"}},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "example/web:1"}] * 8}}},
    }
    plain, compressed = pack(deployment, compressed=False), pack(deployment)
    assert len(compressed) < len(plain) / 2
    assert unpack(plain) == unpack(compressed) == deployment


def test_what_is_kept_takes_the_memory_of_its_json_only() -> None:
    """orjson hands back the whole buffer it wrote into (32 KiB for this object's 3 KB): what is kept
    is a copy of its own size."""
    obj = {"metadata": {"name": "web", "labels": {"note": "b" * 3000}}}
    kept, traced = left_allocated(
        lambda: [pack(obj, compressed=False) for _ in range(100)] + [dumped(obj) for _ in range(100)]
    )
    assert unpack(kept[0]) == unpack(kept[-1]) == obj
    assert traced < len(kept) * (len(kept[0]) + 100)
