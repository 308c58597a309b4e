"""`kubectl slipway completion bash|zsh|fish`: the script each shell sources, and the completions the
plugin answers when that script calls it back. Both come from typer modules it exports nowhere public
(cli/plugin.py), so a typer release that moves them fails here (pyproject.toml bounds typer by this)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from slipway.cli.plugin import COMPLETE_VAR, PROG

PLUGIN = str(Path(sys.executable).parent / PROG)

# What each shell's script sets when it asks the plugin for completions of "kubectl-slipway pro".
ASKED: dict[str, dict[str, str]] = {
    "bash": {"COMP_WORDS": f"{PROG} pro", "COMP_CWORD": "1"},
    "zsh": {"_TYPER_COMPLETE_ARGS": f"{PROG} pro"},
    "fish": {"_TYPER_COMPLETE_ARGS": f"{PROG} pro", "_TYPER_COMPLETE_FISH_ACTION": "get-args"},
}


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLUGIN, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=True
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_calls_the_plugin_back_and_it_completes_command_names(shell: str) -> None:
    script = run("completion", shell).stdout
    assert f"{COMPLETE_VAR}=complete_{shell}" in script and PROG in script
    assert all(name in script for name in ASKED[shell])  # the variables set below are the script's
    answered = run(**{COMPLETE_VAR: f"complete_{shell}", **ASKED[shell]}).stdout
    assert "promote" in answered and "promote-full" in answered and "resume" not in answered
