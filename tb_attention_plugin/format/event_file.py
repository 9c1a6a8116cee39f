"""TFRecord event files, written and read with a C crc32c.

TensorBoard's own writer checksums every record in pure Python (~0.18 s per MiB); attention snapshots
are megabytes, so this module frames records itself with the `crc32c` extension. The reader is
tolerant: a truncated tail (a record half-written when training died) or a record with a bad checksum
is skipped, never fatal.
"""

import glob
import itertools
import logging
import os
import socket
import struct
import time

from tensorboard.compat.proto import event_pb2

from crc32c import crc32c as _crc32c


def _crc32c_chunks(chunks):
    value = 0
    for chunk in chunks:
        value = _crc32c(chunk, value)
    return value


logger = logging.getLogger(__name__)

_MASK_DELTA = 0xA282EAD8
_counter = itertools.count()


def _mask(crc):
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data):
    return _mask(_crc32c(data))


def masked_crc32c_chunks(chunks):
    """The masked crc32c of the concatenation of `chunks`, without concatenating them."""
    return _mask(_crc32c_chunks(chunks))


def frame_record(data):
    """One TFRecord: length, masked crc of length, data, masked crc of data."""
    header = struct.pack("<Q", len(data))
    return b"".join((header, struct.pack("<I", masked_crc32c(header)), data, struct.pack("<I", masked_crc32c(data))))


def new_event_file_name(log_dir, suffix=""):
    """A name TensorBoard recognises and that never collides with another writer's file."""
    # The counter is zero-padded so that a process's files of the same second sort in creation order
    # (readers let the file read last win).
    return os.path.join(
        log_dir,
        "events.out.tfevents.%010d.%s.%d.%06d%s"
        % (int(time.time()), socket.gethostname(), os.getpid(), next(_counter), suffix),
    )


class EventFileWriter:
    """Appends Event protos to one new event file; `write` buffers, `flush` reaches the disk.

    Errors are not handled here: the summary writer decides what a failed write means.
    """

    def __init__(self, log_dir, suffix="", *, name=None):
        """A new file: `new_event_file_name(log_dir, suffix)`, or `name` in log_dir (which must not exist)."""
        os.makedirs(log_dir, exist_ok=True)
        self.path = new_event_file_name(log_dir, suffix) if name is None else os.path.join(log_dir, name)
        self._file = open(self.path, "ab" if name is None else "xb")
        try:
            self.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
            self.flush()
        except OSError:
            # e.g. a full disk: leave no empty file (nor an open handle) behind for each retry
            self._discard()
            raise

    def _discard(self):
        try:
            self._file.close()
        except OSError:
            pass
        try:
            os.remove(self.path)
        except OSError:
            pass

    def write(self, event):
        self._file.write(frame_record(event.SerializeToString()))

    def flush(self):
        self._file.flush()

    def close(self):
        if not self._file.closed:
            try:
                self._file.flush()
            finally:
                self._file.close()


def iter_records(path):
    """Yield the payload of every intact record of a TFRecord file, in order."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        logger.warning("tb-attention: cannot read %s: %s", path, e)
        return
    pos, end = 0, len(data)
    while pos + 12 <= end:
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if length_crc != masked_crc32c(header):
            logger.warning("tb-attention: corrupted record header in %s at byte %d; rest of file skipped", path, pos)
            return
        start, stop = pos + 12, pos + 12 + length
        if stop + 4 > end:
            return  # a record still being written (or cut off): not an error
        payload = data[start:stop]
        (payload_crc,) = struct.unpack("<I", data[stop : stop + 4])
        if payload_crc == masked_crc32c(payload):
            yield payload
        else:
            logger.warning("tb-attention: record with a bad checksum in %s at byte %d skipped", path, pos)
        pos = stop + 4


def iter_events(path):
    """Yield the parseable Event protos of one file."""
    for payload in iter_records(path):
        event = event_pb2.Event()
        try:
            event.ParseFromString(payload)
        except Exception:  # a record whose payload is not an Event: skip it, keep the rest
            logger.warning("tb-attention: unparseable event in %s skipped", path)
            continue
        yield event


def event_files(run_dir):
    """Event files of one run directory, oldest name first (write order across resumes)."""
    return sorted(glob.glob(os.path.join(glob.escape(run_dir), "*tfevents*")))
