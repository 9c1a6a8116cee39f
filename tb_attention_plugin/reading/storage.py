"""Where event files live: a local directory, or a URL that TensorBoard's own filesystem layer reads.

The plugin reads its records by offset (event_scan.py), so all it needs of a filesystem is: the event
files of a directory, a file's size, and `size` bytes at an offset. Local paths use the OS directly;
URLs (`s3://` with boto3, any fsspec protocol such as `gs://` with gcsfs installed) go through
`tensorboard.compat.tensorflow_stub.io.gfile`, the layer the Python loader uses, so whatever that
loader can read, the plugin can read too. `storage_for` answers None for a URL nothing here can read:
the plugin then falls back to reading through TensorBoard's data provider (server/data.py).
"""

import glob
import os
import posixpath

EVENT_FILE_MARK = "tfevents"


def is_url(path):
    return isinstance(path, str) and "://" in path


class LocalStorage:
    """A local directory tree."""

    def join(self, root, name):
        return os.path.join(root, name)

    def is_dir(self, path):
        return os.path.isdir(path)

    def event_files(self, run_dir):
        """Event files of one run directory (not its sub-directories), oldest name first."""
        return sorted(
            p for p in glob.glob(os.path.join(glob.escape(run_dir), f"*{EVENT_FILE_MARK}*")) if os.path.isfile(p)
        )

    def size(self, path):
        """-> (size, identity): identity changes when the file is replaced by another one."""
        st = os.stat(path)
        return st.st_size, (st.st_dev, st.st_ino)

    def open(self, path):
        """A reader of `size` bytes at an offset (`read_at`), kept open while a file is scanned."""
        return _LocalReader(path)

    def inside(self, root, path):
        """Whether `path` lies in `root` (symbolic links resolved): a run name never leaves the logdir."""
        root, path = os.path.realpath(root), os.path.realpath(path)
        return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class GfileStorage:
    """A URL read through TensorBoard's filesystem layer (s3 via boto3, fsspec protocols)."""

    def __init__(self, filesystem):
        self._fs = filesystem

    def join(self, root, name):
        return root.rstrip("/") + "/" + name if name not in ("", ".") else root.rstrip("/")

    def is_dir(self, path):
        try:
            return bool(self._fs.isdir(path))
        except Exception:  # noqa: BLE001 - any filesystem error means "not readable here"
            return False

    def event_files(self, run_dir):
        # S3's compat glob only takes a trailing '*' and lists nested keys too: keep direct children.
        # fsspec may spell the names it returns differently ("memory:///a/b" for "memory://a/b").
        names = self._fs.glob(run_dir.rstrip("/") + "/*")
        parent = _bare(run_dir)
        return sorted(
            n for n in names if posixpath.dirname(_bare(n)) == parent and EVENT_FILE_MARK in posixpath.basename(n)
        )

    def size(self, path):
        return self._fs.stat(path).length, None

    def inside(self, root, path):
        return path == root.rstrip("/") or path.startswith(root.rstrip("/") + "/")

    def open(self, path):
        return _RemoteReader(self._fs, path)


class _LocalReader:
    def __init__(self, path):
        self._file = open(path, "rb")

    def read_at(self, offset, size):
        self._file.seek(offset)
        return self._file.read(size)

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _RemoteReader:
    def __init__(self, filesystem, path):
        self._fs, self._path = filesystem, path

    def read_at(self, offset, size):
        if size <= 0:
            return b""
        # The two continuation spellings of the compat layer (S3: byte offset, fsspec: opaque offset);
        # S3's range end is inclusive, so at most `size` bytes are kept.
        token = {"byte_offset": offset, "opaque_offset": offset}
        data, _ = self._fs.read(self._path, True, size, token)
        return bytes(data[:size])

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _bare(url):
    """A URL without its protocol and outer slashes: "s3://b/logs/" -> "b/logs"."""
    return url.split("://", 1)[-1].strip("/")


def storage_for(logdir):
    """The storage of a log directory, or None when neither the OS nor TensorBoard's filesystem layer
    can read it (e.g. `gs://` without gcsfs or TensorFlow, or no log directory at all)."""
    if not logdir or not isinstance(logdir, str):
        return None
    if not is_url(logdir):
        return LocalStorage()
    try:
        from tensorboard.compat.tensorflow_stub.io import gfile

        return GfileStorage(gfile.get_filesystem(logdir))
    except Exception:  # noqa: BLE001 - unknown protocol, missing boto3/fsspec implementation
        return None
