"""TensorBoard's restart marker (SessionLog START), written only where it must hide something, in a file
of its own that sorts after the earlier sessions' files and before this session's.

Readers read a run directory's event files in name order, and a START hides what they read before it
at steps >= its step: TensorBoard's EventAccumulator (and what is built on it) at every START, its
plugin loader and read_run from the run's second START on. So a marker at step 0 of a fresh run would
make EventAccumulator drop the scalars of a user's own SummaryWriter whose file sorts before ours, and
a marker inside our own file would hide this session's records in every file that sorts before it.

The marker is therefore written only when files of earlier sessions (files that no live writer of this
process holds open) hold records at steps >= the restart step, and into a file named right after the
last of them: it hides their abandoned continuation and nothing of this session. It holds two STARTs
at the step, so that the loaders that skip a run's first START still see a restart.
"""

from tensorboard.compat.proto import event_pb2

from ..format.event_file import EventFileWriter

_TAILS = (".restart", "-restart", "!restart")  # the first that sorts before this session's first file


def marker_name(files, current, step):
    """-> (name or None, earlier files that stay visible): the marker's file name, after every earlier
    file that sorts before this session's first file (`current`: the names of this session's files;
    `files`: every event file name of the directory). An earlier file named after a file of this session
    cannot be hidden without hiding this session's records; None when no name fits between."""
    first_current = min(current, default=None)
    earlier = sorted(n for n in files if n not in current)
    before = [n for n in earlier if first_current is None or n < first_current]
    after = [n for n in earlier if n not in before]
    if not before:
        return None, after
    for tail in _TAILS:
        name = f"{before[-1]}{tail}-{step}"
        if (first_current is None or name < first_current) and name not in files:
            return name, after
    return None, earlier


def write_marker(log_dir, name, step, wall_time):
    """The marker file: a file version, then two STARTs at `step`. Raises OSError."""
    f = EventFileWriter(log_dir, name=name)
    try:
        for _ in range(2):
            start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            f.write(event_pb2.Event(step=step, wall_time=wall_time, session_log=start))
    finally:
        f.close()
