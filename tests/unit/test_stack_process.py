import os
import signal
import sys
from pathlib import Path

from infra.local.java import _major_version
from infra.local.process import TrackedProcess


def test_a_started_process_is_tracked_until_stopped(tmp_path: Path) -> None:
    tracked = TrackedProcess(tmp_path / "run" / "sleeper.pid")
    pid = tracked.start(
        [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "logs" / "s.log"
    )

    assert tracked.pid() == pid
    assert tracked.stop(signal.SIGTERM, timeout=10) is True
    assert tracked.pid() is None
    assert not tracked.pid_file.exists()


def test_a_recycled_pid_is_not_taken_for_ours(tmp_path: Path) -> None:
    pid_file = tmp_path / "stranger.pid"
    # This test's own pid, with a start time that is not its own: a recycled pid.
    pid_file.write_text(f"{os.getpid()} 1\n")
    tracked = TrackedProcess(pid_file)

    assert tracked.pid() is None
    assert tracked.stop(signal.SIGTERM, timeout=1) is False


def test_stop_escalates_to_sigkill_when_the_signal_is_ignored(tmp_path: Path) -> None:
    tracked = TrackedProcess(tmp_path / "stubborn.pid")
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    tracked.start([sys.executable, "-c", code], tmp_path / "s.log")

    assert tracked.stop(signal.SIGTERM, timeout=0.5) is True
    assert tracked.pid() is None


def test_java_major_version_from_the_release_file(tmp_path: Path) -> None:
    (tmp_path / "release").write_text('IMPLEMENTOR="x"\nJAVA_VERSION="25.0.1"\n')
    assert _major_version(tmp_path) == 25
    (tmp_path / "release").write_text('JAVA_VERSION="1.8.0_392"\n')
    assert _major_version(tmp_path) == 8
