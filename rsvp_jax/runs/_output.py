"""`open_output`: the one place that checks, locks and fills a command's output folder.

Every `rsvp` subcommand writes through it:

```python
with open_output(args.out, "simulate", overwrite=args.overwrite) as out:
    simulate_to_folder(..., out.work, ...)      # files go to a staging folder inside --out
# here every file is in --out, summary.json (the manifest) last
```

What it guarantees, before any work:

1. **A writable place.** An empty name, a path under a file, `/proc`, `/sys`, `/dev`, a
   read-only folder or file system is a one-line `ConfigError`.
2. **Never another command's results.** A folder is *owned* by the command named in its
   `summary.json` (every command writes one, last), by `rsvp sweep` if it holds `sweep.json`,
   or by the command of an interrupted commit (`.rsvp-commit.json`). A folder owned by another
   command, or holding files no command wrote, is refused naming what is there and
   `--overwrite`; the same command replaces its own earlier results.
3. **One writer.** A lock file `.rsvp.lock` holds the owner's pid under an `flock`: a second
   process is refused while the first lives, and the kernel releases the lock when it dies, so
   a killed run's lock is reclaimed by the next one.
4. **One unit.** Files are written into `.rsvp-stage-*` inside the folder; `commit` moves them
   into place with `summary.json` last, after a journal naming the new files, so that a kill at
   any moment leaves either the old run, the new run, or a journal the next run cleans up.
   Stale staging folders and `*.tmp` files of killed runs are removed on the next start.

`staged=False` (the resumable sweep) writes in place instead: the folder is checked, locked and
cleaned the same way, and the sweep's own store keeps its batches whole.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from ..errors import ConfigError, NonFiniteError

MANIFEST = "summary.json"
LOCK = ".rsvp.lock"
JOURNAL = ".rsvp-commit.json"
STAGE_PREFIX = ".rsvp-stage-"
#: Files that mark a folder as a sweep's (written before its first batch, long before summary.json).
SWEEP_MARKER = "sweep.json"
#: File systems no output belongs on (virtual: writes there fail or do something else entirely).
VIRTUAL = ("/proc", "/sys", "/dev")


def _control(name: str) -> bool:
    """Our own hidden bookkeeping files (not the user's, not results)."""
    return name in (LOCK, JOURNAL) or name.startswith(STAGE_PREFIX) or (name.startswith(".") and name.endswith(".tmp"))


def check_writable(path, flag: str = "--out") -> Path:
    """`path` as a `Path` if a folder can be made or written there; else a one-line `ConfigError`."""
    text = str(path)
    if not text.strip():
        raise ConfigError(f"{flag} is empty; give the folder to write into, e.g. {flag} out/run")
    p = Path(os.path.abspath(text))
    for root in VIRTUAL:
        if p == Path(root) or Path(root) in p.parents:
            raise ConfigError(f"{flag} {text!r} is on {root}, a virtual file system; give a folder on disk")
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag} {text!r} exists and is a file, not a folder; give a folder")
    a = p
    while not a.exists():
        if a.parent == a:
            break
        a = a.parent
    if not a.is_dir():
        raise ConfigError(f"{flag} {text!r} is under {str(a)!r}, which is a file, not a folder; give a folder")
    try:
        readonly_fs = bool(os.statvfs(a).f_flag & os.ST_RDONLY)
    except OSError:
        readonly_fs = False
    if readonly_fs:
        raise ConfigError(f"{flag} {text!r}: {str(a)!r} is on a read-only file system; give a writable folder")
    if not os.access(a, os.W_OK | os.X_OK) or not stat.S_IMODE(a.stat().st_mode) & 0o222:
        raise ConfigError(f"{flag} {text!r}: the folder {str(a)!r} is read-only; give a writable folder")
    return Path(text)


def folder_owner(path) -> tuple[str | None, list[str], bool]:
    """(the command whose results `path` holds or None, the visible entries, whether a commit was
    interrupted). An empty or missing folder gives (None, [], False)."""
    p = Path(path)
    if not p.is_dir():
        return None, [], False
    try:
        names = sorted(e.name for e in os.scandir(p))
    except OSError as e:
        raise ConfigError(f"--out {str(path)!r} cannot be read ({e.strerror})") from None
    visible = [n for n in names if not _control(n)]
    if JOURNAL in names:
        return _read_command(p / JOURNAL), visible, True
    if MANIFEST in visible:
        return _read_command(p / MANIFEST), visible, False
    if SWEEP_MARKER in visible:
        return "sweep", visible, False
    return None, visible, False


def _read_command(path: Path) -> str | None:
    try:
        command = json.loads(path.read_text()).get("command")
    except (OSError, ValueError, AttributeError):
        return None
    return command if isinstance(command, str) else None


def _listing(names, n: int = 4) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


class OutputFolder:
    """A checked, locked output folder (see the module docstring); made by `open_output`."""

    def __init__(self, path: Path, command: str, *, overwrite: bool, staged: bool):
        self.path, self.command, self.overwrite, self.staged = path, command, overwrite, staged
        self.work: Path = path
        self._lock_fd: int | None = None
        self._made: list[Path] = []  # folders this run created (removed again if it writes nothing)
        self._closed = False

    # -- opening ------------------------------------------------------------------------------------
    def _refuse_foreign(self) -> None:
        owner, visible, interrupted = folder_owner(self.path)
        if not visible and not interrupted or self.overwrite or owner == self.command:
            return
        where = f"--out {str(self.path)!r}"
        if owner is None:
            raise ConfigError(f"{where} is not empty and was not written by rsvp {self.command} (it holds "
                              f"{_listing(visible)}); give another folder, or --overwrite to replace its contents")
        what = "an interrupted run of" if interrupted else "the results of"
        raise ConfigError(f"{where} holds {what} rsvp {owner} ({_listing(visible)}); give another folder, "
                          f"or --overwrite to replace them")

    def _make(self) -> None:
        missing = []
        p = self.path
        while not p.exists():
            missing.append(p)
            p = p.parent
        try:
            for d in reversed(missing):
                try:
                    d.mkdir()
                except FileExistsError:  # another run made it meanwhile: the lock decides who writes
                    if not d.is_dir():
                        raise
                    continue
                self._made.append(d)
        except OSError as e:
            self._unmake()
            raise ConfigError(f"--out {str(self.path)!r} cannot be made ({e.strerror})") from None

    def _lock(self) -> None:
        import fcntl

        lock = self.path / LOCK
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise ConfigError(f"--out {str(self.path)!r} is not writable ({e.strerror}); give a writable folder") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise ConfigError(f"--out {str(self.path)!r} cannot be locked ({e.strerror})") from None
                raise ConfigError(f"--out {str(self.path)!r} is in use by another rsvp process "
                                  f"({_holder(lock)}); wait for it to finish, or give another folder") from None
            try:  # the file we locked may have been removed by its last owner meanwhile: lock the new one
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {os.uname().nodename} rsvp {self.command}\n".encode())
        self._lock_fd = fd

    def _clean_stale(self) -> None:
        """Remove what killed runs left: staging folders and temporaries (we hold the lock)."""
        for folder in (self.path, self.path / "batches"):
            if not folder.is_dir():
                continue
            for e in os.scandir(folder):
                if e.name.startswith(STAGE_PREFIX) and e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                elif e.name.startswith(".") and e.name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)

    def open(self) -> "OutputFolder":
        check_writable(self.path)
        self._refuse_foreign()
        self._make()
        try:
            self._lock()
            self._refuse_foreign()  # again, under the lock: another run may have finished meanwhile
            self._clean_stale()
            if self.overwrite or (self.path / JOURNAL).exists():
                if not self.staged:
                    self._clear()
            if self.staged:
                self.work = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=self.path))
        except OSError as e:  # a disk that fails between the checks
            self.close()
            raise ConfigError(f"--out {str(self.path)!r} is not writable ({e.strerror})") from None
        except BaseException:
            self.close()
            raise
        return self

    # -- closing ------------------------------------------------------------------------------------
    def _clear(self) -> None:
        """Remove every result in the folder (not our bookkeeping), the manifest first."""
        names = sorted((e.name for e in os.scandir(self.path) if not _control(e.name)), key=lambda n: n != MANIFEST)
        for name in names:
            p = self.path / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()

    def commit(self) -> None:
        """Move the staged files into the folder as one unit (see the module docstring)."""
        if not self.staged or self._closed:
            return
        names = sorted((e.name for e in os.scandir(self.work)), key=lambda n: n == MANIFEST)  # the manifest last
        from ..io import write_json

        write_json(self.path / JOURNAL, {"command": self.command, "pid": os.getpid(), "files": names})
        self._clear()
        for name in names:
            os.replace(self.work / name, self.path / name)
        os.unlink(self.path / JOURNAL)
        shutil.rmtree(self.work, ignore_errors=True)
        self.work = self.path

    def close(self) -> None:
        """Drop what was staged and not committed, remove folders made for nothing, release the lock."""
        if self._closed:
            return
        self._closed = True
        if self.staged and self.work != self.path:
            shutil.rmtree(self.work, ignore_errors=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path / LOCK)
            os.close(self._lock_fd)
            self._lock_fd = None
        self._unmake()

    def _unmake(self) -> None:
        for d in reversed(self._made):
            with contextlib.suppress(OSError):
                d.rmdir()  # only if empty
        self._made = []

    def __enter__(self) -> "OutputFolder":
        return self

    def __exit__(self, kind, error, tb) -> None:
        try:
            # A run that turned non-finite wrote what it promises to keep (its snapshots and a summary).
            if error is None or (isinstance(error, NonFiniteError) and (self.work / MANIFEST).exists()):
                try:
                    self.commit()
                except OSError as e:
                    raise ConfigError(f"--out {str(self.path)!r}: the results could not be moved into place "
                                      f"({e.strerror}); free some space and run the command again") from None
        finally:
            self.close()  # folders made for a run that wrote nothing go again (only empty ones)


def _holder(lock: Path) -> str:
    try:
        pid, host, *rest = lock.read_text().split()
    except (OSError, ValueError):
        return "its lock file is held"
    return f"pid {pid} on {host}" + (f", {' '.join(rest)}" if rest else "")


def open_output(path, command: str, *, overwrite: bool = False, staged: bool = True) -> OutputFolder:
    """Check, make and lock the output folder `path` of `rsvp command`; return an `OutputFolder`
    to use as a context manager (files go to `.work`; committed on success). Bad places, another
    command's results, foreign files and a folder in use are one-line `ConfigError`s, raised
    before anything is written."""
    return OutputFolder(Path(check_writable(path)), command, overwrite=overwrite, staged=staged).open()


__all__ = ["open_output", "OutputFolder", "check_writable", "folder_owner", "MANIFEST", "LOCK"]
