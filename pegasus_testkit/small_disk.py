"""A small disk for the local object store: a tmpfs mount of a few hundred KiB.

Writes past its size fail in the kernel with ENOSPC ("No space left on device"), exactly as on
a full disk. Mounting needs root (or CAP_SYS_ADMIN); ``tmpfs`` raises ``MountRefusedError``
where it is not permitted, so a caller can fall back to a simulated full disk.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class MountRefusedError(RuntimeError):
    """This process may not mount a filesystem here."""


@dataclass
class Tmpfs:
    """A mounted tmpfs at ``path`` holding at most ``size_bytes``."""

    path: Path
    size_bytes: int

    def resize(self, size_bytes: int) -> None:
        """Grow (or shrink) it in place; what it holds stays."""
        _mount_command("-o", f"remount,size={size_bytes}", str(self.path))
        self.size_bytes = size_bytes


def _mount_command(*args: str, program: str = "mount") -> None:
    binary = shutil.which(program)
    if binary is None:
        raise MountRefusedError(f"{program} is not installed")
    result = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise MountRefusedError(f"{program} {' '.join(args)}: {result.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(path: Path, size_bytes: int) -> Iterator[Tmpfs]:
    """Mount a tmpfs of ``size_bytes`` at ``path`` (made if missing); unmount afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    _mount_command("-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(path))
    try:
        yield Tmpfs(path=path, size_bytes=size_bytes)
    finally:
        try:
            _mount_command(str(path), program="umount")
        except MountRefusedError:
            _mount_command("-l", str(path), program="umount")  # busy: detach it lazily
