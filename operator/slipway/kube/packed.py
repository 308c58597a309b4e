"""Objects kept for a while, packed: compact JSON, compressed where many are kept at once.

After a restart the operator keeps what the watch showed of thousands of objects until each Release's
first pass (kube/watched.py, controller/first_look.py), all of them at the same moment. As dicts that
was ~27 KB per Release more RSS than a bare Kopf operator at 3,000 Releases; packed and compressed, an
object of the API is a fifth of its JSON, and unpacking one costs microseconds, once.

What is kept only for the Releases in flight, and packed at every watch event of theirs
(controller/watch_view.py), is not compressed: compressing took 9 in 10 of packing's time, and packing
was an eighth of the operator's CPU with 1,000 Releases moving at once (py-spy, docs/operator.md).
orjson writes and reads JSON several times faster than the standard library's json. What it writes
is copied to a bytes object of its own size before it is kept (`dumped`): orjson hands back the buffer
it wrote into, never shrunk, 4 KiB for the smallest object and 64 KiB for one of 5 KB (orjson 3.13,
measured by tracemalloc), where the copy costs under a microsecond.

What is kept of every Release all along (controller/first_look.py, controller/upstreams.py) is packed by
a `Packer`, against the first object of its kind it packed: objects of one kind in one cluster share
most of their text (field names, condition types, messages), so a settled Release's body of the
benchmarks, 2.6 KB of JSON, packs to ~205 bytes against another, ~980 by zlib alone, in less time
(fewer bytes written; 12 against 16 us).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import orjson

from slipway.manifests import Obj

# A packed object's first byte: "{" for plain JSON, never the first byte of a zlib stream (0x78).
_PLAIN = b"{"[0]


def dumped(obj: Any) -> bytes:
    """`obj` as JSON, in a bytes object no larger than the JSON: for keeping."""
    return bytes(memoryview(orjson.dumps(obj)))


def pack(obj: Mapping[str, Any], compressed: bool = True) -> bytes:
    data = obj if isinstance(obj, dict) else dict(obj)
    return zlib.compress(orjson.dumps(data), 1) if compressed else dumped(data)


def unpack(packed: bytes) -> Obj:
    obj: Obj = orjson.loads(packed if packed[0] == _PLAIN else zlib.decompress(packed))
    return obj


class Packer:
    """Packs objects of one kind, compressed against a preset dictionary: the first object it packed,
    kept as long as the packer (the dictionary a packed object was made with is the one that unpacks
    it). A first object unlike the rest only packs them less well."""

    def __init__(self) -> None:
        self._dictionary: bytes | None = None

    def pack(self, obj: Mapping[str, Any]) -> bytes:
        plain = obj if isinstance(obj, dict) else dict(obj)
        data = orjson.dumps(plain)
        if self._dictionary is None:
            self._dictionary = dumped(plain)  # kept for good: orjson's buffer is not
        compressor = zlib.compressobj(1, zdict=self._dictionary)
        return compressor.compress(data) + compressor.flush()

    def unpack(self, packed: bytes) -> Obj:
        if self._dictionary is None:
            raise ValueError("nothing was packed by this packer")
        obj: Obj = orjson.loads(zlib.decompressobj(zdict=self._dictionary).decompress(packed))
        return obj


def digest(obj: Any) -> int:
    """A digest of JSON-like data, the same for equal data whatever the order of its keys: what a later
    look compares with, where keeping the data itself would cost its memory."""
    return hash(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS))
