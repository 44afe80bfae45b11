"""Output files, by one set of rules for every command.

An instrument must not destroy what it did not make, and must not run for an
hour recording nothing. So:

* a missing parent directory is an error, never created on the user's behalf
  (``--capture``, ``--log-file``, ``report --html``, ``capture scrub OUT``, the
  parent of ``demo --out``): a typo in a path should not grow a tree;
* an existing file is never truncated or chmod-ed: a capture refuses an
  existing path unless ``--force``, and even then replaces only a regular file,
  by renaming a new file over it (other links to the old one keep its data);
  a log is appended to, as it is;
* files muxscope creates are private (0600): they hold terminal traffic;
* every problem is an :class:`OutputError` whose text is the one line to print,
  raised before any work starts.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from typing import IO

PRIVATE = 0o600


class OutputError(ValueError):
    """An output path that cannot be used; the message names the option, the path and the fix."""


def check_parent(path: str, option: str) -> None:
    """Refuse ``path`` when its directory does not exist (or is not a directory)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        what = "is not a directory" if os.path.exists(parent) else "does not exist"
        raise OutputError(f"{option} {path}: the directory {parent} {what}; create it first "
                          "(muxscope does not create missing directories)")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def create_private(path: str, option: str, *, force: bool = False) -> int:
    """A new file at ``path``, mode 0600, open for writing; returns its descriptor.

    An existing ``path`` is refused unless ``force``; with ``force`` only a
    regular file is replaced, and by rename, so it is never truncated.
    """
    check_parent(path, option)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot use it: {_reason(exc)}") from None
    if st is not None and not force:
        raise OutputError(f"{option} {path}: the file exists; pick another name, or add --force to replace it")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{option} {path}: not a regular file; --force replaces only regular files")
    try:
        if st is None:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(os.path.abspath(path)))
        try:
            os.replace(tmp, path)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return fd
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot create it: {_reason(exc)}") from None


def open_log(path: str, option: str = "--log-file") -> IO[str]:
    """``path`` opened for appending (created 0600 when new, an existing file's mode left alone)."""
    check_parent(path, option)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE)
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot open it for appending: {_reason(exc)}") from None
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_replacing(path: str, text: str, option: str) -> None:
    """Write a whole output (a report page) to a new file renamed over ``path``: readers never see half of it."""
    check_parent(path, option)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot write in {directory}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would have made it: a report holds no terminal text
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{option} {path}: cannot write it: {_reason(exc)}") from None
