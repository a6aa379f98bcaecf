"""What the stage tests share: a fresh copy of the module's `finished` workspace per test, and
a stage's command line run in this interpreter."""

from __future__ import annotations

import io
import runpy
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest


@pytest.fixture
def workspace(finished: Path, tmp_path: Path) -> Path:
    """A copy of the requesting module's `finished` workspace, for one test to change."""
    copy = tmp_path / "ws"
    shutil.copytree(finished, copy)
    return copy


def run_here(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`python script args...` (`command`, as the tests build it) run in this interpreter, where
    a fresh one would spend seconds importing torch: its exit status and output, as
    subprocess.run gives them. What would be a traceback escapes here as the exception."""
    script, *args = command[1:]
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        patch.chdir(cwd)
        patch.setattr(sys, "argv", [script, *args])
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as done:
            code = done.code
    return subprocess.CompletedProcess(command, code, out.getvalue(), err.getvalue())
