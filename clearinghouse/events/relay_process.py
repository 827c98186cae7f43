"""The daemon's relay child: ``clearinghouse events relay`` run as a process of the daemon's own
(``[events] relay = "process"``, the default), so building and publishing events never holds the
signing process's interpreter lock (benchmarks/README.md: at saturation the daemon signed at
0.73–0.80 of its rate without events with a relay thread, 0.97 with this process).

The child reads the same configuration file, with the daemon's effective database URL in its
environment (a ``--database-url`` flag of ``serve`` reaches it). It asks the kernel to SIGTERM
it when the daemon dies (``--exit-with-parent``), so a SIGKILLed daemon leaves no relay behind;
the daemon restarts a child that died, at most every RESTART_BACKOFF_S, and stops it (SIGTERM,
then SIGKILL after RELAY_PROCESS_STOP_TIMEOUT_S) when it stops. Stopping or losing a child loses nothing:
the next one resumes from the stored cursor, re-sending at most the events after it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from clearinghouse.events.limits import RELAY_PROCESS_STOP_TIMEOUT_S, RESTART_BACKOFF_S

LOG = logging.getLogger(__name__)


class RelayProcess:
    """Starts, watches and stops the relay child of a daemon."""

    def __init__(self, config_path: Path, database_url: str) -> None:
        self._command = [sys.executable, "-m", "clearinghouse", "events", "relay", "--config", str(config_path),
                         "--exit-with-parent", str(os.getpid())]
        self._environment = {**os.environ, "CLEARINGHOUSE_DATABASE_URL": database_url}
        self._child: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="events-relay-process", daemon=True)
        self.starts = 0

    def start(self) -> None:
        self._spawn()
        self._watcher.start()

    def _spawn(self) -> None:
        # Its log lines go to the daemon's stderr, in the configured format.
        self._child = subprocess.Popen(self._command, env=self._environment, stdin=subprocess.DEVNULL)
        self.starts += 1

    def _watch(self) -> None:
        while not self._stop.wait(RESTART_BACKOFF_S):
            child = self._child
            if child is not None and child.poll() is not None:
                LOG.error("event relay process exited with %s; starting it again", child.returncode)
                self._spawn()

    def stop(self) -> None:
        self._stop.set()
        child, self._child = self._child, None
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(RELAY_PROCESS_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            LOG.warning("event relay process did not stop within %g s; killing it", RELAY_PROCESS_STOP_TIMEOUT_S)
            child.kill()
            child.wait()
