"""`slipway validate FILE...`: check Release manifests offline, as CI on a GitOps repository would."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import yaml

from slipway.api.validation import Problem, is_release, parse_release, release_problems
from slipway.routers.registry import inexpressible_in


def validate(
    files: Annotated[
        list[Path], typer.Argument(help="YAML files, each may hold several documents; - reads stdin.")
    ],
) -> None:
    """Check every Release in FILES; print each problem with its field path; exit 1 if there is any."""
    failed = False
    for path in files:
        for outcome, text in _file_report(path):
            failed = failed or outcome == "problem"
            typer.echo(text, err=outcome == "note")
    raise typer.Exit(1 if failed else 0)


# A report line: a problem (fails the run), a note (to stderr) or a valid Release.
_Line = tuple[Literal["problem", "note", "valid"], str]


def _file_report(path: Path) -> list[_Line]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        documents = list(yaml.safe_load_all(text))
    except (OSError, UnicodeDecodeError) as error:
        return [("problem", f"{path}: cannot read: {error}")]
    except yaml.YAMLError as error:
        return [("problem", f"{path}: not valid YAML: {_yaml_error(error)}")]
    lines: list[_Line] = []
    if not any(isinstance(document, dict) and is_release(document) for document in documents):
        lines.append(("note", f"{path}: no Release in this file"))
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            lines.append(("problem", f"{path}: document {number}: not a Kubernetes object"))
            continue
        name = _document_name(document, number)
        if not is_release(document):
            lines.append(
                (
                    "note",
                    f"{path}: {name}: skipped, a {document.get('kind', 'kindless object')} is not a Release",
                )
            )
            continue
        problems = release_problems(document) or _inexpressible(document)
        lines.extend(("problem", f"{path}: {name}: {problem}") for problem in problems)
        if not problems:
            lines.append(("valid", f"{path}: {name}: valid"))
    return lines


def _inexpressible(document: dict[str, Any]) -> list[Problem]:
    """What the Release's router cannot express (a match route or mirror), as the operator refuses it."""
    spec = parse_release(document).spec
    return [Problem(field, why) for field, why in inexpressible_in(spec)]


def _yaml_error(error: yaml.YAMLError) -> str:
    """A YAML error on one line: where and what."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    return " ".join(str(error).split())


def _document_name(document: dict[str, Any], number: int) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return str(name) if name else f"document {number}"


def register(app: typer.Typer) -> None:
    app.command(name="validate")(validate)
