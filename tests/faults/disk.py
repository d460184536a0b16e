"""Make the registry's disk full, and free it again, under a running gateway.

Preferred: the SQLite file lives on a small tmpfs mounted for the test, and "full" means
a filler file takes every free byte. Where mounting is not allowed (not root, no
CAP_SYS_ADMIN), the gateway process gets a file-size limit instead (RLIMIT_FSIZE set
with prlimit to the database files' current sizes, so growing any of them fails with
EFBIG, as a full disk would); "free" lifts the limit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

FILESYSTEM_BYTES = 32 * 1024 * 1024
_CHUNK = 1024 * 1024


class SmallDisk:
    """A directory for the database, on a small tmpfs when one could be mounted."""

    def __init__(self, path: Path, mounted: bool) -> None:
        self.path = path
        self.mounted = mounted
        self._filler = path / "filler"
        self._limited: int | None = None

    def fill(self, gateway_pid: int) -> str:
        """Leave no space for the database to grow; returns how."""
        if self.mounted:
            with open(self._filler, "wb", buffering=0) as filler:
                for size in (_CHUNK, 4096, 512):
                    block = b"\0" * size
                    while True:
                        try:
                            filler.write(block)
                        except OSError as exc:
                            if exc.errno != errno.ENOSPC:
                                raise
                            break
            return f"tmpfs of {FILESYSTEM_BYTES >> 20} MiB filled"
        sizes = [f.stat().st_size for f in self.path.glob("galgate.db*")]
        limit = max(4096, min(sizes))
        resource.prlimit(gateway_pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        self._limited = gateway_pid
        return f"RLIMIT_FSIZE of the gateway set to {limit} bytes"

    def free(self) -> None:
        """Give the space back."""
        if self.mounted:
            self._filler.unlink(missing_ok=True)
        elif self._limited is not None:
            unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            with contextlib.suppress(ProcessLookupError):
                resource.prlimit(self._limited, resource.RLIMIT_FSIZE, unlimited)
            self._limited = None


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[SmallDisk]:
    """Mount a tmpfs of FILESYSTEM_BYTES at ``path`` if allowed; unmount afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.geteuid() == 0:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={FILESYSTEM_BYTES},mode=0700", "tmpfs", path],
            capture_output=True,
            text=True,
        )
        mounted = done.returncode == 0
    disk = SmallDisk(path, mounted)
    try:
        yield disk
    finally:
        disk.free()
        if mounted:
            subprocess.run(["umount", "-l", path], capture_output=True)
