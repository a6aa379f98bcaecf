"""A program run in the background, to be killed at an awaited moment (no sleeps)."""

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path


class Stage:
    """The program running in the background, its stderr collected as it comes."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)
        self.err = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for chunk in iter(lambda: self.process.stderr.read1(4096), b""):
            self.err += chunk.decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the program and everything it started: no chance to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)


def wait_until(ready: Callable[[], object], stage: Stage, timeout: float = 180) -> object:
    """Poll `ready` until it returns something true; fail if the program ends first."""
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        assert stage.process.poll() is None, f"the stage ended first:\n{stage.err[-2000:]}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)
    return found


def checkpoint(workspace: Path, stage: str) -> Path | None:
    """The checkpoint a training stage keeps in `workspace`, if there is one."""
    found = list((workspace / ".checkpoints" / stage).glob("*/state.pt"))
    return found[0] if found else None
