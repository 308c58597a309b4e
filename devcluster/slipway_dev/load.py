"""The mix of the generated load: shares of requests that carry headers or cookies (testers' traffic).

A `LoadVariant` is a named share (in percent) of every entry point's generated requests that carry
its headers and cookies; the rest, variant `default`, carry none. `slipway dev --load-variant
testers,10,header:x-canary=true,cookie:canary=always` is `LoadVariant.parse` of that text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT = "default"


class LoadMixError(ValueError):
    """A load mix that cannot be sent; the message names the part at fault."""


@dataclass(frozen=True)
class LoadVariant:
    name: str
    percent: float
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> LoadVariant:
        """`NAME,PERCENT[,header:NAME=VALUE|cookie:NAME=VALUE]...`"""
        name, _, rest = text.partition(",")
        percent_text, _, items = rest.partition(",")
        try:
            percent = float(percent_text)
        except ValueError:
            raise LoadMixError(f"{text!r}: PERCENT must be a number, got {percent_text!r}") from None
        headers: list[tuple[str, str]] = []
        cookies: list[tuple[str, str]] = []
        for item in filter(None, items.split(",")):
            kind, _, pair = item.partition(":")
            key, equals, value = pair.partition("=")
            if kind not in ("header", "cookie") or not equals or not key:
                raise LoadMixError(f"{text!r}: {item!r} must be header:NAME=VALUE or cookie:NAME=VALUE")
            (headers if kind == "header" else cookies).append((key.strip(), value.strip()))
        return cls(name.strip(), percent, tuple(headers), tuple(cookies))

    def request_headers(self) -> dict[str, str]:
        """Its headers with lower-case names, its cookies in one `cookie` header."""
        found = {name.lower(): value for name, value in self.headers}
        if self.cookies:
            found["cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies)
        return found


def check_mix(variants: Sequence[LoadVariant]) -> None:
    """Raise LoadMixError unless the names are distinct and the shares fit in 100 %."""
    names = [variant.name for variant in variants]
    for variant in variants:
        if not variant.name or variant.name == DEFAULT or names.count(variant.name) > 1:
            raise LoadMixError(
                f"load variant name {variant.name!r}: must be unique, non-empty and not {DEFAULT!r}"
            )
        if not 0 <= variant.percent <= 100:
            raise LoadMixError(
                f"load variant {variant.name!r}: percent must be within 0..100, got {variant.percent}"
            )
    if sum(variant.percent for variant in variants) > 100:
        raise LoadMixError(f"load variants {names}: their percents add up to more than 100")
