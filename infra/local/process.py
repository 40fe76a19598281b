"""Detached processes the stack starts and stops, tracked by pid files.

A pid file records the pid and the process start time, so a recycled pid never makes
`down` signal a stranger's process.
"""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int


def _start_time(pid: int) -> str | None:
    """The start time of a live process, None for a dead one or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in field 2 may hold spaces, so count fields after the ')'.
    fields = stat.rpartition(")")[2].split()
    state, start_time = fields[0], fields[19]
    return None if state in ("Z", "X") else start_time


@dataclass(frozen=True)
class TrackedProcess:
    pid_file: Path

    def pid(self) -> int | None:
        """The pid if the recorded process is still the one we started."""
        try:
            pid_text, started = self.pid_file.read_text().split()
        except (OSError, ValueError):
            return None
        pid = int(pid_text)
        return pid if _start_time(pid) == started else None

    def start(
        self,
        command: Sequence[str],
        log_file: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        run_as: RunAs | None = None,
    ) -> int:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                # Its own session: a Ctrl-C in the shell that ran `stack up` does not reach it.
                start_new_session=True,
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=[] if run_as else None,
            )
        started = _start_time(process.pid)
        self.pid_file.write_text(f"{process.pid} {started}\n")
        return process.pid

    def stop(self, stop_signal: signal.Signals, timeout: float) -> bool:
        """Signal the process, wait, SIGKILL its group after `timeout`. False if not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, stop_signal)
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid() is not None:
            _signal_group(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 64 * 1024))
            text = file.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
