"""One event file scanned into references to its records, without reading the large payloads.

A snapshot record is megabytes, and a 70B-sized run holds thousands of them. The TFRecord framing
gives each record's length, so a scan reads a record's 12-byte header and the first bytes of its
Event (wall time, step, the summary value's tag) and jumps to the next record. What it keeps per
value is a `ValueRef`: where the record is, which value of its summary, and our plugin's metadata
when the value carries it. A scan continues where the previous one stopped (`FileScan.update`), so
a live run costs only its new bytes.

Checksums: small records (scalars, session markers) are read whole and checked at once; a large
record is checked when it is read (`read_value`), or at scan time when it carries metadata (the
metadata is served by the index, so it must be intact). A record whose checksum fails is never
served. A record header whose own checksum fails ends the scan of that file (its lengths can no
longer be trusted), as TensorBoard's readers do; a record cut off at the end is read once complete.

The fast path reads the protobuf wire format for one shape only (Event{wall_time, step, summary{
value{tag, tensor, metadata}}}), which is what summary writers produce for tensor summaries;
anything else is parsed by protobuf itself (or skipped with a warning when too large to parse).
"""

import logging
import struct
from typing import NamedTuple, Optional

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2, summary_pb2

from ..format.metadata import FormatError, MAX_METADATA_BYTES, PLUGIN_NAME, TAG_PREFIXES
from ..format.event_file import masked_crc32c, masked_crc32c_chunks

logger = logging.getLogger(__name__)

SMALL_RECORD = 64 << 10  # records up to this size are read whole and checked at scan time
WINDOW = 16 << 10  # bytes read at once around a record's start
CHECK_CHUNK = 4 << 20  # a large record's checksum is computed over chunks of this size
MAX_PARSED_RECORD = 256 << 20  # an unusual large record is parsed whole up to this size, else skipped
MAX_TAG_BYTES = 64 << 10
_PREFIXES = TAG_PREFIXES


class ValueRef(NamedTuple):
    """One Summary.Value of an event file as the scan saw it."""

    tag: str
    step: int
    wall_time: float
    offset: int  # the record's first byte (its length header) in the file
    length: int  # the payload's length
    index: int  # which value of the event's summary
    content: Optional[bytes]  # our plugin's metadata content, when this value carries it
    simple_value: Optional[float]  # a scalar's value
    checked: bool  # the record's checksum was verified at scan time


class SessionStart(NamedTuple):
    """A SessionLog START: a (re)start of training at `step`."""

    step: int


class ScanError(Exception):
    """A record the fast path cannot describe: parse it whole instead."""


class _Window:
    """Bytes of a file around the scan position, read WINDOW at a time."""

    def __init__(self, reader, size):
        self._reader, self.size = reader, size
        self._start, self._buf = 0, b""

    def get(self, pos, n):
        if self._start <= pos and pos + n <= self._start + len(self._buf):
            i = pos - self._start
            return self._buf[i : i + n]
        if n > WINDOW:
            return self._reader.read_at(pos, n)
        self._start, self._buf = pos, self._reader.read_at(pos, min(WINDOW, self.size - pos))
        return self._buf[:n]


def _varint(window, pos, end):
    data = window.get(pos, min(10, end - pos))
    value = shift = 0
    for i, byte in enumerate(data):
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + i + 1
        shift += 7
    raise ScanError("bad varint")


def _fields(window, start, end):
    """(field number, wire type, value) of a message in [start, end): value is the integer of a
    varint, the (start, end) of a length-delimited field, the start of a fixed32/fixed64."""
    pos = start
    while pos < end:
        key, pos = _varint(window, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(window, pos, end)
        elif wire == 2:
            n, pos = _varint(window, pos, end)
            value, pos = (pos, pos + n), pos + n
        elif wire in (1, 5):
            value, pos = pos, pos + (8 if wire == 1 else 4)
        else:
            raise ScanError(f"wire type {wire}")
        if pos > end:
            raise ScanError("field runs past its message")
        yield number, wire, value


def _once(fields, allowed):
    """{field number: value} of a message whose fields are all in `allowed`, each at most once."""
    seen = {}
    for number, wire, value in fields:
        if allowed.get(number) != wire or number in seen:
            raise ScanError(f"field {number}")
        seen[number] = value
    return seen


_EVENT = {1: 1, 2: 0, 5: 2}  # wall_time (fixed64), step (varint), summary
_VALUE = {1: 2, 7: 2, 8: 2, 9: 2}  # tag, node_name, tensor, metadata


def _walk(window, start, end):
    """(wall_time, step, [(tag, metadata bytes or None)]) of a large record, or ScanError."""
    event = _once(_fields(window, start, end), _EVENT)
    if 5 not in event:
        raise ScanError("no summary")
    wall_time = struct.unpack("<d", window.get(event[1], 8))[0] if 1 in event else 0.0
    step = event.get(2, 0)
    step = step - (1 << 64) if step >= 1 << 63 else step
    values = []
    for number, wire, (v_start, v_end) in _fields(window, *event[5]):
        if (number, wire) != (1, 2):
            raise ScanError(f"summary field {number}")
        value = _once(_fields(window, v_start, v_end), _VALUE)
        if 1 not in value or 8 not in value:
            raise ScanError("value without tag or tensor")
        t_start, t_end = value[1]
        if t_end - t_start > MAX_TAG_BYTES:
            raise ScanError("tag too long")
        tag = window.get(t_start, t_end - t_start).decode("utf-8")
        metadata = None
        if 9 in value:
            m_start, m_end = value[9]
            if m_end - m_start > MAX_METADATA_BYTES + MAX_TAG_BYTES:
                raise ScanError("metadata too large")
            metadata = window.get(m_start, m_end - m_start)
        values.append((tag, metadata))
    return wall_time, step, values


def _ours(tag, metadata):
    """(keep, content): whether a value can be ours, and our metadata content when it carries it."""
    if metadata is not None and metadata.plugin_data.plugin_name:
        if metadata.plugin_data.plugin_name != PLUGIN_NAME:
            return False, None
        return tag.startswith(_PREFIXES), metadata.plugin_data.content
    return tag.startswith(_PREFIXES), None


def _items_of_event(event, offset, length, scalars):
    """The items of an Event parsed by protobuf (a checked record); `scalars`: keep simple values."""
    if event.HasField("summary"):
        items = []
        for i, value in enumerate(event.summary.value):
            common = (value.tag, event.step, event.wall_time, offset, length, i)
            if value.HasField("simple_value"):
                if scalars:
                    items.append(ValueRef(*common, None, value.simple_value, True))
                continue
            keep, content = _ours(value.tag, value.metadata if value.HasField("metadata") else None)
            if keep:
                items.append(ValueRef(*common, content, None, True))
        return items
    if event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
        return [SessionStart(event.step)]
    return []


def _items_of_walk(walked, offset, length):
    wall_time, step, values = walked
    items = []
    for i, (tag, raw) in enumerate(values):
        metadata = None if raw is None else summary_pb2.SummaryMetadata.FromString(raw)
        keep, content = _ours(tag, metadata)
        if keep:
            items.append(ValueRef(tag, step, wall_time, offset, length, i, content, None, False))
    return items


def _payload_checks(reader, start, length, expected):
    """Whether a large payload's checksum matches, read CHECK_CHUNK at a time."""
    chunks = (reader.read_at(start + at, min(CHECK_CHUNK, length - at)) for at in range(0, length, CHECK_CHUNK))
    return masked_crc32c_chunks(chunks) == expected


class FileScan:
    """What has been scanned of one event file: `items` (ValueRef / SessionStart) in file order;
    scalars=False leaves out scalar values (the plugin takes scalars from TensorBoard: a run's loss at
    every step would otherwise cost index memory)."""

    def __init__(self, storage, path, scalars=True):
        self.storage, self.path, self.scalars = storage, path, scalars
        self.items = []
        self.end = 0  # the scan continues here
        self.generation = 0  # bumped when the file was replaced or shrank: earlier refs are void
        self._identity = None
        self._stopped = False  # a record header failed its checksum: nothing after it is read

    def update(self):
        """Scan what was appended since the last call. -> whether `items` changed."""
        try:
            size, identity = self.storage.size(self.path)
        except OSError as e:
            logger.warning("tb-attention: cannot read %s: %s", self.path, e)
            return False
        changed = False
        if size < self.end or (self._identity is not None and identity != self._identity):
            self.items, self.end, self._stopped, changed = [], 0, False, True
            self.generation += 1
        self._identity = identity
        if self._stopped or size - self.end < 12:
            return changed
        before = len(self.items)
        try:
            with self.storage.open(self.path) as reader:
                self._scan(reader, size)
        except OSError as e:
            logger.warning("tb-attention: cannot read %s: %s", self.path, e)
        return changed or len(self.items) != before

    def _scan(self, reader, size):
        window = _Window(reader, size)
        pos = self.end
        while pos + 12 <= size:
            header = window.get(pos, 12)
            (length,) = struct.unpack("<Q", header[:8])
            if struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
                logger.warning(
                    "tb-attention: corrupted record header in %s at byte %d; rest of file skipped", self.path, pos
                )
                self._stopped = True
                break
            if pos + 16 + length > size:
                break  # being written (or cut off): read once complete
            self.items.extend(self._record(reader, window, pos, length))
            pos += 16 + length
        self.end = pos

    def _record(self, reader, window, pos, length):
        start = pos + 12
        (crc,) = struct.unpack("<I", window.get(start + length, 4))
        if length > SMALL_RECORD:
            try:
                items = _items_of_walk(_walk(window, start, start + length), pos, length)
            # a damaged metadata string: UnicodeDecodeError from protobuf's pure-Python parser, DecodeError
            # from its C (upb) one
            except (ScanError, DecodeError, UnicodeDecodeError, ValueError, struct.error):
                items = None  # not the usual shape: parsed whole below
            if items is not None:
                if any(item.content is not None for item in items):
                    if not _payload_checks(reader, start, length, crc):
                        return self._bad(pos)
                    items = [item._replace(checked=True) for item in items]
                return items
            if length > MAX_PARSED_RECORD:
                logger.warning("tb-attention: record of %d bytes in %s at byte %d skipped", length, self.path, pos)
                return []
        payload = window.get(start, length)
        if masked_crc32c(payload) != crc:
            return self._bad(pos)
        try:
            event = event_pb2.Event.FromString(payload)
        except Exception:  # noqa: BLE001 - a record that is not an Event: skip it, keep the rest
            logger.warning("tb-attention: unparseable event in %s at byte %d skipped", self.path, pos)
            return []
        return _items_of_event(event, pos, length, self.scalars)

    def _bad(self, pos):
        logger.warning("tb-attention: record with a bad checksum in %s at byte %d skipped", self.path, pos)
        return []


def read_value(reader, ref):
    """The Summary.Value a ValueRef points to, from a whole record whose checksums are verified.
    Raises FormatError when the record is damaged or no longer the one scanned."""
    data = reader.read_at(ref.offset, 16 + ref.length)
    if len(data) != 16 + ref.length:
        raise FormatError("the record is cut short (the file changed since it was listed)")
    header, payload = data[:12], data[12:-4]
    (length,) = struct.unpack("<Q", header[:8])
    if length != ref.length or struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
        raise FormatError("the record's header changed since it was listed")
    if masked_crc32c(payload) != struct.unpack("<I", data[-4:])[0]:
        raise FormatError("the record's checksum does not match its data (a damaged record)")
    try:
        event = event_pb2.Event.FromString(payload)
        value = event.summary.value[ref.index]
    except Exception:  # noqa: BLE001 - checksummed but not what was scanned
        raise FormatError("the record is not the event that was listed") from None
    if value.tag != ref.tag or event.step != ref.step:
        raise FormatError("the record is not the event that was listed")
    return value
