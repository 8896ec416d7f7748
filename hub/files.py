"""Owner-only files and directories for what the hub writes (the state store, the token cache, reports, the audit
export, the sandbox's credential files), whatever the process's umask.

    private_dir(path)    create `path` and any missing parents with mode 0700 (existing ones are left alone)
    private_file(path)   create `path` empty with mode 0600 if missing, else tighten it to 0600; its content is kept

A file created through `private_file` keeps its mode when it is then opened for writing ("w" truncates, it does not
re-create), so a writer that opens the path itself writes owner-only.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:  # (made meanwhile by another worker)
            continue
        os.chmod(d, DIR_MODE)  # (mkdir's mode is masked by the umask)
    return path


def private_file(path: Path) -> Path:
    path = Path(path)
    if path.exists():
        # by path, never by opening it: closing a descriptor of a file drops every POSIX lock this process holds
        # on it, and SQLite's database, WAL and shared-memory files may be open in this process
        if os.stat(path).st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)
        return path
    try:  # (O_EXCL: a file another thread made meanwhile is not opened, for the same reason)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        return private_file(path)
    try:
        os.fchmod(fd, FILE_MODE)  # (the mode given to open is masked by the umask)
    finally:
        os.close(fd)
    return path
