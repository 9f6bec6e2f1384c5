"""Every file the tool writes goes through `write_atomic`: the content goes to a temporary file
beside the target (a unique name, so concurrent writers never share one), is flushed to disk,
and is renamed over the target in one step. A reader sees the old file or the new one, never a
truncated mix; a failure (disk full, permission denied, the directory being a file) removes the
temporary file, leaves the old target as it was, and becomes one `UserError` naming the path.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from dse.errors import UserError

#: What an OSError means to a user, by errno (the rest use the system's own message).
_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "it is a directory",
    errno.EEXIST: "a file of that name is in the way",
}


def file_error(exc: OSError, path: str | Path, action: str = "write") -> UserError:
    """A UserError for a failed file operation: "cannot <action> '<path>': <reason>"."""
    reason = _REASONS.get(exc.errno) or exc.strerror or str(exc)
    return UserError(f"cannot {action} {str(path)!r}: {reason}")


def make_dir(path: str | Path) -> Path:
    """`path` as a directory (created with its parents), or a UserError naming it."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"cannot use {str(p)!r} as a directory: it is a file")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise file_error(exc, p, "create the directory") from None
    return p


@functools.cache
def _umask() -> int:
    """The process umask, read once: reading it means setting it, which is process-wide, so a
    thread creating a file meanwhile would get mode 0666 (a umask changed later is not seen)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, content: str | bytes | Callable[[Path], object]) -> Path:
    """Write `content` (text as UTF-8, bytes, or a function that writes a given path) to
    `path` atomically (see the module docstring); returns `path`."""
    target = Path(path)
    make_dir(target.parent)
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise file_error(exc, target) from None
    tmp = Path(name)
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else content
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # as an ordinary new file (mkstemp makes it 0600)
        os.replace(tmp, target)
    except OSError as exc:  # pyarrow's write errors are OSErrors too
        tmp.unlink(missing_ok=True)
        raise file_error(exc, target) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
