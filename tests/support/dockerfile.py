"""A Dockerfile read the way Docker reads it, so tests can check its rules where there is no Docker:
comment lines and line continuations, then instructions with their arguments, in stages split at FROM."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case, as Docker matches it
    arguments: str


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def arguments(self, keyword: str) -> list[str]:
        """The arguments of every `keyword` instruction of this stage, in order."""
        return [i.arguments for i in self.instructions if i.keyword == keyword]

    def pairs(self, keyword: str) -> dict[str, str]:
        """The key=value pairs of every LABEL or ENV instruction, quotes removed."""
        found: dict[str, str] = {}
        for arguments in self.arguments(keyword):
            for token in shlex.split(arguments):
                key, separator, value = token.partition("=")
                assert separator, f"{keyword} {arguments!r}: {token!r} is not key=value"
                found[key] = value
        return found


def instructions(text: str) -> list[Instruction]:
    """Comment lines (parser directives included) are dropped, also inside a continued instruction."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        if line.strip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        found.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    assert not pending, f"the Dockerfile ends inside a continued instruction: {pending!r}"
    return found


def parse_dockerfile(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in instructions(path.read_text()):
        if instruction.keyword == "FROM":
            words = [w for w in instruction.arguments.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, ()))
        else:
            assert stages, f"{instruction.keyword} before the first FROM"
            last = stages[-1]
            stages[-1] = Stage(last.base, last.name, (*last.instructions, instruction))
    return stages
