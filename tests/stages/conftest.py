"""What the stage tests share: a fresh copy of the module's `finished` workspace per test, and
a stage's command line run in this interpreter."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def workspace(finished: Path, tmp_path: Path) -> Path:
    """A copy of the requesting module's `finished` workspace, for one test to change."""
    copy = tmp_path / "ws"
    shutil.copytree(finished, copy)
    return copy


def run_here(command: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture) -> subprocess.CompletedProcess:
    """`python script args...` (`command`, as the tests build it) run in this interpreter, where
    a fresh one would spend seconds importing torch: its exit status and output, as
    subprocess.run gives them. What would be a traceback escapes here as the exception."""
    script, *args = command[1:]
    capsys.readouterr()  # drop what the test printed before
    with monkeypatch.context() as patch:
        patch.chdir(cwd)
        patch.setattr(sys, "argv", [script, *args])
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as done:
            code = done.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(command, code, out, err)
