"""Writing output files: nothing clobbered, nothing half-written.

``check`` runs before training and refuses, with one line naming the flag,
any output that could not be written, so a run never fails at the end after
all its work. It leaves nothing behind: it tries creating a file (or a
folder, for missing parents) where the output will go and removes it at
once, since permissions do not tell (root may not write in /proc either).
``write`` then writes each output whole.

What happens to whatever already exists at an output's path:

- nothing: the missing parent directories are created and the file is
  written beside its final name, then renamed onto it, with the mode
  ``0o666 & ~umask`` of any new file;
- a regular file: the same; the old file stays whole and in place until the
  new one is complete, then the new one takes its name at once (so it gets
  the mode of a new file; the old one's mode and owner are not kept);
- a symbolic link: the file it points to is treated as above; the link stays;
- a character device (``/dev/null``, a terminal) or a named pipe (FIFO): it
  is never replaced; the complete file is made in a private temporary
  directory, then its bytes are written into the device or pipe. A pipe
  that no process is reading is an error, not a hang;
- a directory, a socket or a block device: refused; nothing is written.

A failure while writing (a full disk, a denied permission, an error while
producing the file) leaves no temporary file behind and raises
``OutputError``; the other outputs are not touched.
"""

import errno
import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path

# The --plot suffixes, all formats matplotlib's savefig writes without extra packages.
FIGURE_FORMATS = ("png", "pdf", "svg", "svgz", "jpg", "jpeg", "tif", "tiff", "webp", "eps", "ps")

KINDS = ("figure", "gif", "metrics", "checkpoint")


class OutputError(Exception):
    """One line naming the output and what went wrong, e.g.
    "cannot write 'plots/a.png': No space left on device"."""


def current_umask():
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # for an instant, a file another thread creates is private
    os.umask(mask)
    return mask


def _target(path):
    """The file a write to ``path`` lands in: a symbolic link's target, else ``path``."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def _stat(path):
    """``os.stat(path)``, or None if nothing is there (OSError for anything else)."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _refusal(mode):
    """Why an existing file of this mode cannot be an output, or None if it can."""
    if stat.S_ISREG(mode) or stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return None
    if stat.S_ISDIR(mode):
        return "it is a directory"
    if stat.S_ISSOCK(mode):
        return "it is a socket"
    if stat.S_ISBLK(mode):
        return "it is a block device"
    return "it is not a regular file"


def _problem(path, kind):
    """Why ``path`` cannot be written as an output of ``kind``, or None."""
    suffix = path.suffix.lower().lstrip(".")
    if kind == "figure" and suffix not in FIGURE_FORMATS:
        found = f"'.{suffix}'" if suffix else "no suffix"
        return f"unknown figure format ({found}); use one of {', '.join(FIGURE_FORMATS)}"
    if kind == "gif" and suffix != "gif":
        return "it must end in .gif"
    target = _target(path)
    existing = _stat(target)
    if existing is not None:
        refusal = _refusal(existing.st_mode)
        if refusal:
            return refusal
        if not stat.S_ISREG(existing.st_mode):  # a device or a pipe is written into
            return None if os.access(target, os.W_OK) else "permission denied"
    # Replaced or created: the nearest existing ancestor must be a writable directory.
    ancestor = target.parent
    while (found := _stat(ancestor)) is None and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if found is None or not stat.S_ISDIR(found.st_mode):
        return f"{str(ancestor)!r} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"permission denied to create files in {str(ancestor)!r}"
    return _probe(ancestor, target.parent != ancestor)


def _probe(folder, make_folder):
    """Why nothing can be created in ``folder``, found by creating (and at once removing)
    a temporary folder or file there, or None.

    Permissions do not tell: root may write anywhere, yet not in /proc, and no
    one in a read-only mount. The probe is what ``write`` will do: a folder
    (the missing parents) or the temporary file beside the target.
    """
    what = "a folder" if make_folder else "files"
    try:
        if make_folder:
            os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".probe."))
        else:
            handle, name = tempfile.mkstemp(dir=folder, prefix=".probe.")
            os.close(handle)
            os.unlink(name)
    except OSError as error:
        return f"cannot create {what} in {str(folder)!r}: {_reason(error)}"
    return None


def check(outputs):
    """Before any training: refuse outputs that cannot be written; leave nothing behind.

    ``outputs`` maps a flag to ``(path, kind)``, kind one of ``KINDS``, e.g.
    ``{"--plot": (Path("a.png"), "figure"), "--save": (Path("n.npz"), "checkpoint")}``.
    Raises ``ValueError("argument FLAG: cannot write 'PATH': REASON")`` for a
    figure suffix not in FIGURE_FORMATS, a gif not ending in .gif, an existing
    directory, socket or block device, a missing parent that cannot be
    created (an existing non-directory on the way, an ancestor the process
    may not write into, or one where creating fails, as in /proc or a
    read-only mount), or the same file given for two flags. Existing
    regular files, character devices and pipes are accepted.
    """
    seen = {}
    for flag, (path, kind) in outputs.items():
        if kind not in KINDS:
            raise ValueError(f"unknown output kind {kind!r} for {flag}; choose from {KINDS}")
        path = Path(path)
        try:
            problem = _problem(path, kind)
        except OSError as error:
            problem = error.strerror or str(error)
        if problem:
            raise ValueError(f"argument {flag}: cannot write {str(path)!r}: {problem}")
        key = os.path.realpath(path)
        if key in seen:
            other, other_path = seen[key]
            raise ValueError(f"argument {flag}: {str(path)!r} is the same file as "
                             f"{other} {str(other_path)!r}")
        seen[key] = (flag, path)


def _reason(error):
    """One line saying what went wrong."""
    lines = (getattr(error, "strerror", None) or str(error)).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _replace(target, produce):
    """Write ``target`` durably and atomically, in four steps, each tested
    (tests/test_outputs.py, "Durability"):

    1. a temporary file beside ``target`` (the same filesystem, so the rename is
       atomic), which ``produce`` writes and closes: its data has left Python's
       buffers (flushed) when it returns;
    2. fsync of the temporary file: its data is on disk before any name points to it;
    3. rename onto ``target``: readers see the old file or the new, never a mix;
    4. fsync of the folder: the rename itself (and any folder created for it)
       survives a power cut.

    The temporary file's name holds the process id: one left behind by a
    process that was killed (``kill -9``) is removed by the next write.
    """
    created = _make_folders(target.parent)
    _remove_orphans(target)
    handle, temporary = tempfile.mkstemp(dir=target.parent,
                                         prefix=f".{target.name}.{os.getpid()}.",
                                         suffix=target.suffix)
    os.close(handle)
    try:
        produce(Path(temporary))
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp made it 0o600
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise
    for folder in [target.parent, *(folder.parent for folder in created)]:
        _fsync_folder(folder)


def _make_folders(folder):
    """Create ``folder`` and its missing parents; returns those created, deepest first."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
    return missing


def _fsync_folder(folder):
    """Put a folder's entries (a rename, a new subfolder) on disk."""
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    except OSError as error:
        if error.errno != errno.EINVAL:  # a filesystem that cannot sync folders: nothing to do
            raise
    finally:
        os.close(handle)


def _remove_orphans(target):
    """Remove temporary files of ``target`` left by processes that no longer run."""
    prefix = f".{target.name}."
    for entry in os.scandir(target.parent):
        if not (entry.name.startswith(prefix) and entry.name.endswith(target.suffix)):
            continue
        pid = entry.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            _remove(entry.path)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


def _write_into(target, produce, is_pipe):
    """Produce a private temporary file, then copy its bytes into a device or pipe."""
    directory = tempfile.mkdtemp()
    try:
        temporary = Path(directory) / target.name
        produce(temporary)
        flags = os.O_WRONLY | os.O_NOCTTY | (os.O_NONBLOCK if is_pipe else 0)
        try:
            handle = os.open(target, flags)
        except OSError as error:
            if is_pipe and error.errno == errno.ENXIO:
                raise OSError(errno.ENXIO, "no process is reading the pipe") from error
            raise
        if is_pipe:
            fcntl.fcntl(handle, fcntl.F_SETFL, fcntl.fcntl(handle, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        with open(handle, "wb") as out, temporary.open("rb") as source:
            shutil.copyfileobj(source, out)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def write(path, produce):
    """Write one output whole: ``produce(tmp_path)`` creates the complete file at ``tmp_path``.

    ``tmp_path`` is a Path with ``path``'s suffix (matplotlib and Pillow take
    the format from it). A missing or regular target (or a symbolic link to
    one, whose target is written) is replaced by an atomic rename of a
    temporary ``.{name}.<random>{suffix}`` in the same directory, with the
    mode of a new file; a character device or a pipe gets the bytes written
    into it; anything else raises OutputError, as do OSError and ValueError
    from producing or writing (one line, from the error). The temporary file
    is removed on any failure. Returns ``path``.
    """
    path = Path(path)
    target = _target(path)
    try:
        existing = _stat(target)
        if existing is None or stat.S_ISREG(existing.st_mode):
            _replace(target, produce)
        elif stat.S_ISCHR(existing.st_mode) or stat.S_ISFIFO(existing.st_mode):
            _write_into(target, produce, is_pipe=stat.S_ISFIFO(existing.st_mode))
        else:
            raise OutputError(f"cannot write {str(path)!r}: {_refusal(existing.st_mode)}")
    except (OSError, ValueError) as error:
        raise OutputError(f"cannot write {str(path)!r}: {_reason(error)}") from error
    return path
