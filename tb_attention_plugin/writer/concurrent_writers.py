"""Other writers logging attention to a run directory right now (run_history.py warns about them).

An `.attention` event file of the directory counts as being written now when it is held open by
another live process of this host (seen in `/proc/<pid>/fd`; without `/proc`: a live pid and a change
in the last RECENT_WRITE_SECONDS), by another open writer of this process, or when another host's file
changed in the last RECENT_WRITE_SECONDS.
"""

import os
import re
import socket
import time
import weakref

# Another host's .attention file in the run directory modified this recently counts as being written
# now (on this host the writing process is looked up by its pid).
RECENT_WRITE_SECONDS = 30.0

# event_file.new_event_file_name: events.out.tfevents.<time>.<host>.<pid>.<n><suffix> (host may hold dots)
_EVENT_FILE_NAME = re.compile(r"^events\.out\.tfevents\.\d+\.(?P<host>.+)\.(?P<pid>\d+)\.\d{6}(?P<suffix>.*)$")
_FOREIGN_NAME = re.compile(r"^events\.out\.tfevents\.\d+\.(?P<tail>.+)$")  # <host>.<pid>.<n> for TensorBoard's
_OPEN_FILES = weakref.WeakSet()  # event files that writers of this process hold open


def file_opened(event_file):
    """A writer of this process holds `event_file` open: another writer of the directory is told."""
    _OPEN_FILES.add(event_file)


def file_closed(event_file):
    """The writer no longer holds `event_file` open (closed, or dropped after an I/O error)."""
    _OPEN_FILES.discard(event_file)


def concurrent_writers(log_dir, suffix):
    """-> one line per event file of `log_dir` that another writer is writing now (see above)."""
    try:
        entries = list(os.scandir(log_dir))
    except OSError:
        return []
    host, now, found = socket.gethostname(), time.time(), []
    mine = {os.path.realpath(f.path) for f in list(_OPEN_FILES)}
    for entry in sorted(entries, key=lambda e: e.name):
        match = _EVENT_FILE_NAME.match(entry.name)
        if match is None or match["suffix"] not in (".attention", suffix):
            continue
        try:
            age = now - entry.stat().st_mtime
        except OSError:
            continue
        file_host, pid = match["host"], int(match["pid"])
        if file_host == host and pid == os.getpid():
            if os.path.realpath(entry.path) in mine:
                found.append(f"{entry.name} (another AttentionSummaryWriter of this process, still open)")
        elif file_host == host:
            holds = _pid_holds_open(pid, entry.path)
            if holds or (holds is None and _pid_alive(pid) and age < RECENT_WRITE_SECONDS):
                found.append(
                    f"{entry.name} (process {pid} on this host, still writing it; last written {age:.0f} s ago)"
                )
        elif age < RECENT_WRITE_SECONDS:
            found.append(f"{entry.name} (host {file_host!r}, process {pid}; last written {age:.0f} s ago)")
    return found


def this_session_files(log_dir, names):
    """Which of the event files `names` of `log_dir` this process's live writers write: files it holds
    open (our writers', transformers' TensorBoardCallback's), and other writers' files named with this
    host and process id (TensorBoard's SummaryWriter opens its file only while it flushes); not the
    files of our writers of this process that were closed."""
    host, pid = socket.gethostname(), os.getpid()
    mine = {os.path.realpath(f.path) for f in list(_OPEN_FILES)}
    held = _held_open_here()
    found = set()
    for name in names:
        path = os.path.realpath(os.path.join(log_dir, name))
        foreign = _EVENT_FILE_NAME.match(name) is None and _FOREIGN_NAME.match(name)
        if path in mine or path in held or (foreign and foreign["tail"].startswith(f"{host}.{pid}.")):
            found.add(name)
    return found


def _held_open_here():
    """Real paths of the files this process holds open (empty without /proc)."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return set()
    held = set()
    for fd in fds:
        try:
            held.add(os.readlink(os.path.join("/proc/self/fd", fd)))
        except OSError:
            continue
    return held


def _pid_holds_open(pid, path):
    """True / False whether process `pid` of this host has `path` open; None when it cannot be told."""
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except FileNotFoundError:
        return False if os.path.isdir("/proc/self/fd") else None  # no such process (or no /proc)
    except OSError:
        return None  # another user's process
    target = os.path.realpath(path)
    for fd in fds:
        try:
            if os.path.realpath(os.path.join(fd_dir, fd)) == target:
                return True
        except OSError:
            continue
    return False


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True
