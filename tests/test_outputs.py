import errno
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from program import outputs
from program.outputs import FIGURE_FORMATS, OutputError, check, write

from checks import within

NEEDS_NON_ROOT = pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")


def listing(directory):
    """Every path under ``directory``, to prove nothing was created or left behind."""
    return sorted(str(path.relative_to(directory)) for path in Path(directory).rglob("*"))


def writer(content):
    def produce(tmp_path):
        tmp_path.write_bytes(content)
    return produce


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


# write: regular files


def test_regular_target_is_replaced_atomically(tmp_path):
    target = tmp_path / "metrics.csv"
    target.write_bytes(b"old whole file\n")
    seen = []

    def produce(tmp):
        assert tmp.parent == tmp_path and tmp.name.startswith(".metrics.csv.")
        assert tmp.suffix == ".csv"
        with tmp.open("wb") as file:
            file.write(b"new, half")
            file.flush()
            seen.append(target.read_bytes())  # a reader during the write
            file.write(b" and the rest\n")

    with target.open("rb") as held:  # a reader that opened the old file before
        assert write(target, produce) == target
        assert held.read() == b"old whole file\n"  # renamed over, not rewritten in place
    assert seen == [b"old whole file\n"]
    assert target.read_bytes() == b"new, half and the rest\n"
    assert listing(tmp_path) == ["metrics.csv"]


@pytest.mark.parametrize("error, reason", [
    (OSError(28, "No space left on device"), "No space left on device"),
    (ValueError("bad\nx"), "bad"),  # its first line
    (ValueError(), "ValueError"),  # no text: its type
])
def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path, error, reason):
    target = tmp_path / "a.png"
    target.write_bytes(b"old")

    def produce(tmp):
        tmp.write_bytes(b"half")
        raise error

    with pytest.raises(OutputError) as raised:
        write(target, produce)
    assert raised.value.__cause__ is error
    assert str(raised.value) == f"cannot write {str(target)!r}: {reason}"
    assert target.read_bytes() == b"old"
    assert listing(tmp_path) == ["a.png"]


def test_other_exceptions_propagate_after_cleanup(tmp_path):
    def produce(tmp):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write(tmp_path / "n.npz", produce)
    assert listing(tmp_path) == []


def test_new_file_honours_the_umask_and_parents_are_created(tmp_path, umask_027):
    target = tmp_path / "a" / "b" / "m.json"
    write(target, writer(b"{}"))
    assert target.read_bytes() == b"{}"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o750


def test_current_umask_reads_it_without_changing_it(umask_027):
    assert outputs.current_umask() == 0o027
    assert os.umask(0o027) == 0o027


def test_current_umask_does_not_set_the_umask_where_proc_tells_it(umask_027, monkeypatch):
    def umask(mask):
        raise AssertionError("the umask was set")

    monkeypatch.setattr(os, "umask", umask)
    assert outputs.current_umask() == 0o027


def test_current_umask_without_proc_sets_it_back_at_once(umask_027, monkeypatch):
    def no_proc(*args, **kwargs):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    set_to = []
    real_umask = os.umask

    def umask(mask):
        set_to.append(mask)
        return real_umask(mask)

    monkeypatch.setattr(outputs, "open", no_proc, raising=False)
    monkeypatch.setattr(os, "umask", umask)
    assert outputs.current_umask() == 0o027
    assert set_to == [0o077, 0o027]  # private for an instant, then as it was

def test_a_figure_is_written_in_the_format_of_its_suffix(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    target = tmp_path / "plot.pdf"
    write(target, Figure().savefig)
    assert target.read_bytes().startswith(b"%PDF")
    assert listing(tmp_path) == ["plot.pdf"]


# write: links, devices, pipes and what is refused


def test_symlink_stays_a_link_and_its_target_gets_the_content(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    real = tmp_path / "real" / "m.csv"
    real.write_bytes(b"old")
    link = tmp_path / "links" / "m.csv"
    link.symlink_to(real)
    write(link, writer(b"new"))
    assert link.is_symlink() and link.resolve() == real
    assert real.read_bytes() == b"new"
    assert listing(tmp_path) == ["links", "links/m.csv", "real", "real/m.csv"]


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "m.csv"
    link.symlink_to(tmp_path / "new" / "m.csv")
    write(link, writer(b"new"))
    assert link.is_symlink() and (tmp_path / "new" / "m.csv").read_bytes() == b"new"


def test_dev_null_is_written_through_and_stays_a_device():
    made = []

    def produce(tmp):
        made.append(tmp)
        tmp.write_bytes(b"x" * 100_000)

    write("/dev/null", produce)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not made[0].exists() and not made[0].parent.exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_dev_full_is_no_space_left_and_the_temporary_is_removed():
    made = []

    def produce(tmp):
        made.append(tmp)
        tmp.write_bytes(b"data")

    with pytest.raises(OutputError, match="^cannot write '/dev/full': No space left on device$"):
        write("/dev/full", produce)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not made[0].exists() and not made[0].parent.exists()


def test_fifo_without_reader_is_an_error_not_a_hang(tmp_path):
    fifo = tmp_path / "m.csv"
    os.mkfifo(fifo)
    with pytest.raises(OutputError) as raised:
        within(5, lambda: write(fifo, writer(b"data")))
    assert str(raised.value) == f"cannot write {str(fifo)!r}: no process is reading the pipe"
    assert raised.value.__cause__.errno == errno.ENXIO
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and listing(tmp_path) == ["m.csv"]


def test_fifo_with_a_slow_reader_receives_the_exact_bytes(tmp_path):
    fifo = tmp_path / "m.csv"
    os.mkfifo(fifo)
    content = os.urandom(1 << 20)  # larger than a pipe's buffer: the writer must block
    # A reader exists from now on, so write() finds one whatever the threads' timing.
    holder = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    received = []

    def read_all():
        with open(fifo, "rb") as pipe:  # waits for the writer
            time.sleep(0.1)  # a slow reader: the writer must wait for it, not give up
            received.append(pipe.read())

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    try:
        within(5, lambda: write(fifo, writer(content)))
        reader.join(5)
        assert not reader.is_alive()
    finally:
        if reader.is_alive():  # let a waiting reader go
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        os.close(holder)
    assert received == [content]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_directory_and_socket_are_refused_and_nothing_is_written(tmp_path):
    directory = tmp_path / "out.png"
    directory.mkdir()
    with pytest.raises(OutputError) as raised:
        write(directory, writer(b"x"))
    assert str(raised.value) == f"cannot write {str(directory)!r}: it is a directory"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.csv"))
        with pytest.raises(OutputError) as raised:
            write(tmp_path / "s.csv", writer(b"x"))
    assert str(raised.value) == f"cannot write {str(tmp_path / 's.csv')!r}: it is a socket"
    assert listing(tmp_path) == ["out.png", "s.csv"]


def block_device(tmp_path):
    path = tmp_path / "disk.npz"
    try:
        os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(7, 200))
    except OSError:
        pytest.skip("cannot make a block device node here")
    return path


def test_block_device_is_refused(tmp_path):
    device = block_device(tmp_path)
    with pytest.raises(OutputError) as raised:
        write(device, writer(b"x"))
    assert str(raised.value) == f"cannot write {str(device)!r}: it is a block device"
    assert stat.S_ISBLK(os.lstat(device).st_mode)


@NEEDS_NON_ROOT
def test_permission_denied_is_an_output_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="Permission denied"):
        write(locked / "m.csv", writer(b"x"))


# check


def assert_refused(outputs_, flag, *fragments):
    with pytest.raises(ValueError) as raised:
        check(outputs_)
    message = str(raised.value)
    assert message.startswith(f"argument {flag}: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


@pytest.fixture
def inside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_refuses_a_figure_suffix_matplotlib_cannot_write(inside):
    message = assert_refused({"--plot": (Path("out.txt"), "figure")}, "--plot", "'out.txt'",
                             "'.txt'", "png, pdf")
    assert all(name in message for name in FIGURE_FORMATS)
    assert_refused({"--plot": (Path("out"), "figure")}, "--plot", "no suffix")
    check({"--plot": (Path("OUT.PNG"), "figure")})


def test_check_refuses_a_gif_without_gif_suffix(inside):
    assert_refused({"--animate": (Path("x.png"), "gif")}, "--animate", "'x.png'", ".gif")
    check({"--animate": (Path("x.GIF"), "gif")})


def test_check_refuses_a_directory_socket_and_block_device(inside):
    Path("out.png").mkdir()
    assert_refused({"--plot": (Path("out.png"), "figure")}, "--plot", "directory")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("m.csv")
        assert_refused({"--metrics": (Path("m.csv"), "metrics")}, "--metrics", "socket")
    device = block_device(inside)
    assert_refused({"--save": (device, "checkpoint")}, "--save", "block device")


def test_check_refuses_the_same_file_twice(inside):
    Path("real.png").write_bytes(b"")
    Path("link.png").symlink_to("real.png")
    for first, second in [("a.png", "a.png"), ("./a.png", "a.png"), ("link.png", "real.png"),
                          (str(inside / "a.png"), "sub/../a.png")]:
        assert_refused({"--plot": (Path(first), "figure"), "--metrics": (Path(second), "metrics")},
                       "--metrics", "--plot", repr(str(Path(first))), repr(str(Path(second))))


def test_check_refuses_a_parent_that_is_not_a_directory(inside):
    Path("x").write_bytes(b"")
    assert_refused({"--save": (Path("x/n.npz"), "checkpoint")}, "--save", "'x' is not a directory")
    assert_refused({"--save": (Path("x/y/z/n.npz"), "checkpoint")}, "--save",
                   "'x' is not a directory")


@NEEDS_NON_ROOT
def test_check_refuses_a_parent_it_may_not_write_into(inside):
    Path("locked").mkdir(mode=0o500)
    assert_refused({"--metrics": (Path("locked/a/m.csv"), "metrics")}, "--metrics",
                   "permission denied", "'locked'")


def test_check_accepts_what_write_can_write_and_creates_nothing(inside):
    Path("old.png").write_bytes(b"old")
    os.mkfifo("pipe.csv")
    before = listing(inside)
    check({"--plot": (Path("old.png"), "figure"),
           "--plot config": (Path("old.config.json"), "metrics"),
           "--metrics": (Path("/dev/null"), "metrics"),
           "--animate": (Path("pipe.csv.gif"), "gif"),
           "--save": (Path("a/b/c/d/n.npz"), "checkpoint")})
    check({"--metrics": (Path("pipe.csv"), "metrics")})
    assert listing(inside) == before


def test_check_creates_nothing_when_it_refuses(inside):
    before = listing(inside)
    assert_refused({"--save": (Path("a/b/c/n.npz"), "checkpoint"),
                    "--plot": (Path("a/b/c/out.txt"), "figure")}, "--plot")
    assert listing(inside) == before


def test_check_finds_a_folder_where_nothing_can_be_created_whatever_the_permissions_say(
        inside, monkeypatch):
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: True)  # as root sees /proc
    assert_refused({"--save": (Path("/proc/x/y.npz"), "checkpoint")}, "--save",
                   "cannot write '/proc/x/y.npz': cannot create a folder in '/proc': ")
    assert_refused({"--metrics": (Path("/proc/m.csv"), "metrics")}, "--metrics",
                   "cannot write '/proc/m.csv': cannot create files in '/proc': ")


def test_check_probes_where_the_output_goes_and_leaves_nothing(inside, monkeypatch):
    made = []
    for name in ("mkdtemp", "mkstemp"):
        real = getattr(outputs.tempfile, name)

        def spy(*args, real=real, name=name, **kwargs):
            made.append((name, kwargs["dir"]))
            return real(*args, **kwargs)

        monkeypatch.setattr(outputs.tempfile, name, spy)
    Path("here").mkdir()
    check({"--save": (Path("here/n.npz"), "checkpoint"),
           "--metrics": (Path("here/a/b/m.csv"), "metrics")})
    # A file beside an output whose folder exists; a folder where the missing ones go.
    assert made == [("mkstemp", Path("here")), ("mkdtemp", Path("here"))]
    assert listing(inside) == ["here"]


def test_figure_formats_are_all_supported_by_matplotlib():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    assert [name for name in FIGURE_FORMATS if name not in supported] == []


def test_a_temporary_file_of_a_killed_process_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "n.npz"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphan = tmp_path / f".n.npz.{dead}.abc123.npz"
    orphan.write_bytes(b"half a checkpoint")
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                          stdin=subprocess.PIPE) as running:
        alive = tmp_path / f".n.npz.{running.pid}.def456.npz"  # a process still writing
        alive.write_bytes(b"in progress")
        try:
            outputs.write(target, lambda path: path.write_bytes(b"whole"))
            assert running.poll() is None  # asked whether it runs, not sent a signal
        finally:
            running.stdin.close()
    assert target.read_bytes() == b"whole"
    assert not orphan.exists() and alive.exists()


def test_a_temporary_file_of_another_users_process_is_kept(tmp_path, monkeypatch):
    theirs = tmp_path / ".n.npz.1.abc123.npz"
    theirs.write_bytes(b"in progress")

    def kill(pid, signal):  # what the system answers for another user's process
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "kill", kill)
    outputs.write(tmp_path / "n.npz", writer(b"whole"))
    assert theirs.exists()


def test_refusal_of_a_kind_of_file_with_no_name_of_its_own():
    assert outputs._refusal(stat.S_IFLNK | 0o777) == "it is not a regular file"


def test_a_device_without_a_driver_is_an_error_of_the_device_not_of_a_pipe(tmp_path):
    device = tmp_path / "nothing.csv"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(240, 7))  # a major number left unused
    except OSError:
        pytest.skip("cannot make a device node here")
    with pytest.raises(OutputError) as raised:
        write(device, writer(b"x"))
    assert str(raised.value) == f"cannot write {str(device)!r}: No such device or address"


def test_a_terminal_with_a_slow_reader_receives_every_byte():
    import tty

    try:
        terminal, device = os.openpty()
    except OSError:
        pytest.skip("no pseudo-terminal here")
    content = os.urandom(1 << 18)  # more than a terminal buffers: the writer must wait
    received = bytearray()

    def read_all():
        time.sleep(0.1)  # a slow reader
        while len(received) < len(content):
            received.extend(os.read(terminal, 1 << 16))

    try:
        tty.setraw(device)  # the bytes pass unchanged
        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        within(5, lambda: write(os.ttyname(device), writer(content)))
        reader.join(5)
    finally:
        os.close(device)
        os.close(terminal)
    assert bytes(received) == content


def test_the_error_of_produce_is_reported_whatever_it_did_to_its_directory():
    def produce(tmp):
        shutil.rmtree(tmp.parent)
        raise ValueError("gave up")

    with pytest.raises(OutputError) as raised:
        write("/dev/null", produce)
    assert str(raised.value) == "cannot write '/dev/null': gave up"


def test_check_messages_for_a_figure_without_suffix_and_a_gif_of_another_name(inside):
    formats = ", ".join(FIGURE_FORMATS)
    assert assert_refused({"--plot": (Path("out"), "figure")}, "--plot") == (
        f"argument --plot: cannot write 'out': unknown figure format (no suffix); use one of "
        f"{formats}")
    assert assert_refused({"--animate": (Path("x.png"), "gif")}, "--animate") == (
        "argument --animate: cannot write 'x.png': it must end in .gif")


def test_check_refuses_what_the_process_may_not_write(inside, monkeypatch):
    Path("old.csv").write_bytes(b"")
    os.mkfifo("pipe.csv")
    # What os.access answers to a user who may read and enter but not write.
    monkeypatch.setattr(os, "access", lambda path, mode: not mode & os.W_OK)
    assert assert_refused({"--metrics": (Path("pipe.csv"), "metrics")}, "--metrics") == (
        "argument --metrics: cannot write 'pipe.csv': permission denied")
    assert assert_refused({"--metrics": (Path("old.csv"), "metrics")}, "--metrics") == (
        "argument --metrics: cannot write 'old.csv': permission denied to create files in '.'")


def test_only_the_targets_own_temporary_files_are_removed(tmp_path):
    target = tmp_path / "n.npz"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    unrelated = [tmp_path / f"file{k}.npz" for k in range(20)]  # scanned before or after
    others = [tmp_path / f".m.npz.{dead}.abc123.npz",  # another target's, same suffix
              tmp_path / f".n.npz.{dead}.abc123.csv"]  # this name, another suffix
    orphan = tmp_path / f".n.npz.{dead}.abc123.npz"
    for path in (*unrelated, *others, orphan):
        path.write_bytes(b"x")
    outputs.write(target, lambda path: path.write_bytes(b"whole"))
    assert not orphan.exists()
    assert all(path.exists() for path in (*unrelated, *others))


def test_check_names_an_unknown_kind_of_output_and_the_kinds_it_knows(inside):
    with pytest.raises(ValueError) as error:
        outputs.check({"--log": (Path("x.log"), "log")})
    assert str(error.value) == ("unknown output kind 'log' for --log; choose from "
                                "('figure', 'gif', 'metrics', 'checkpoint')")


@pytest.mark.parametrize("error, shown", [
    (OSError(36, "File name too long"), "File name too long"),  # strerror, when there is one
    (OSError("no reason given by the system"), "no reason given by the system"),
])
def test_check_reports_a_failure_to_look_at_a_path_with_its_reason(inside, monkeypatch,
                                                                   error, shown):
    def failing(path, kind):
        raise error

    monkeypatch.setattr(outputs, "_problem", failing)
    assert assert_refused({"--metrics": (Path("m.csv"), "metrics")}, "--metrics") == (
        f"argument --metrics: cannot write 'm.csv': {shown}")


# Durability: each step of an atomic write (outputs._replace), and a test that fails when
# that step is skipped or moved.


@pytest.fixture
def steps(monkeypatch):
    """The file system calls of a write, in order: ("fsync", inode, is a folder, size),
    ("replace", source, destination)."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(handle):
        info = os.fstat(handle)
        events.append(("fsync", info.st_ino, stat.S_ISDIR(info.st_mode), info.st_size))
        return real_fsync(handle)

    def replace(source, destination):
        events.append(("replace", Path(source), Path(destination)))
        return real_replace(source, destination)

    monkeypatch.setattr(outputs.os, "fsync", fsync)
    monkeypatch.setattr(outputs.os, "replace", replace)
    return events


CONTENT = b"epoch,loss\n1,0.5\n" * 100


def test_durability_1_the_data_goes_to_a_temporary_file_beside_the_target(tmp_path):
    target = tmp_path / "m.csv"
    target.write_bytes(b"old\n")
    given = []

    def produce(path):
        given.append(path)
        path.write_bytes(CONTENT)
        assert target.read_bytes() == b"old\n"  # untouched until the rename

    write(target, produce)
    # Beside it (the same file system: the rename is atomic), never the target itself.
    assert given[0] != target and given[0].parent == target.parent
    assert target.read_bytes() == CONTENT


def test_durability_2_the_file_is_fsynced_whole_before_the_rename(tmp_path, steps):
    target = tmp_path / "m.csv"
    write(target, writer(CONTENT))
    inode = os.stat(target).st_ino  # a rename keeps the inode: the temporary file's
    files = [k for k, event in enumerate(steps) if event[0] == "fsync" and not event[2]]
    renames = [k for k, event in enumerate(steps) if event[0] == "replace"]
    assert len(files) == 1 and steps[files[0]][1] == inode
    # Flushed first: the bytes on disk are all the bytes produced, then the name follows.
    assert steps[files[0]][3] == len(CONTENT)
    assert files[0] < renames[0]


def test_durability_3_a_rename_publishes_the_file(tmp_path, steps):
    target = tmp_path / "m.csv"
    given = []
    write(target, lambda path: given.append(path) or path.write_bytes(CONTENT))
    assert [event for event in steps if event[0] == "replace"] == [
        ("replace", given[0], target)]
    assert not given[0].exists()  # moved, not copied


def test_durability_4_the_folder_is_fsynced_after_the_rename(tmp_path, steps):
    target = tmp_path / "m.csv"
    write(target, writer(CONTENT))
    folder = os.stat(tmp_path).st_ino
    rename = next(k for k, event in enumerate(steps) if event[0] == "replace")
    assert any(event[:3] == ("fsync", folder, True) for event in steps[rename + 1:])


def test_durability_4_a_folder_created_for_the_output_is_fsynced_in_its_parent(tmp_path,
                                                                                steps):
    target = tmp_path / "a" / "b" / "m.csv"
    write(target, writer(CONTENT))
    synced = {event[1] for event in steps if event[0] == "fsync" and event[2]}
    # The rename's folder, and the parents that record the new folders a and b.
    assert {os.stat(folder).st_ino for folder in (tmp_path / "a" / "b", tmp_path / "a",
                                                   tmp_path)} <= synced


def test_a_folder_that_cannot_be_synced_is_no_failure(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def fsync(handle):
        if stat.S_ISDIR(os.fstat(handle).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fsync(handle)

    monkeypatch.setattr(outputs.os, "fsync", fsync)
    assert write(tmp_path / "m.csv", writer(CONTENT)) == tmp_path / "m.csv"
