"""Drift's reference kept in the run directory, so that a writer resuming a run measures drift from the
first snapshot's float16 weights, as the writer that took it did.

`drift` is measured from each (probe, kind)'s first snapshot. A writer keeps that snapshot in float16
(drift within 1e-4 of float32's); the stored maps (steps of 1/255) are far too coarse for it: at 128
tokens a true drift of 0.008 reads 0.09 against them. So the first snapshot's float16 heads also go to
`<run>/tb-attention-drift/<digest>-<step>.f16`, and a resumed writer reads them back a head at a time.

Layout: one zstd frame (float16 [query, key], with its checksum) per head, layer after layer, then the
index (UTF-8 JSON: {"version": 1, "probe", "kind", "step", "tokens", "shape": [query, key], "layers":
[[[offset, size] per head] per layer]}) and the footer (the index's length, uint64 little-endian, then
MAGIC). The file is written under a ".partial" name and renamed once complete. A reader checks the
footer, the index (its size bounded), that it names this probe, kind, step, tokens and shape, and every
offset and size; each frame's checksum as it is read. A file that is missing or fails a check is not
used: drift then comes from the stored first snapshot (a warning says so).
"""

import hashlib
import json
import os
import struct
import warnings

import numpy as np

from .scratch_file import ScratchFile, SpilledHeads, SpilledLayer

DIRECTORY = "tb-attention-drift"
MAGIC = b"TBADRIFT"
FOOTER = struct.Struct("<Q8s")
MAX_INDEX_BYTES = 64 << 20
_HALF = np.dtype(np.float16)


def path_of(log_dir, probe, kind, step):
    """The reference file of a (probe, kind) whose first snapshot is at `step`."""
    digest = hashlib.sha256(f"{probe}\0{kind}".encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return os.path.join(str(log_dir), DIRECTORY, f"{digest}-{step}.f16")


class ReferenceFile(ScratchFile):
    """A first snapshot's float16 heads, put a layer at a time as they are encoded (`put_heads`), made
    into the run's reference file by `finish` once the snapshot is written."""

    def __init__(self, log_dir, probe, kind, step):
        self.final = path_of(log_dir, probe, kind, step)
        self.probe, self.kind, self.step = probe, kind, step
        self.finished = False
        self._error = None  # why the named file could not be made (the heads went to a temporary one)
        super().__init__(self.final + ".partial")

    def _open(self):
        try:
            os.makedirs(os.path.dirname(self.final), exist_ok=True)
            return super()._open()
        except OSError as e:  # this writer's drift stays exact; only a later resume's is lost (`finish`)
            self._error, self._path = e, None
            return super()._open()

    def finish(self, tokens, layers):
        """`layers`: per layer, its heads' SpilledLayer (put_heads) -> the complete file, renamed;
        OSError when it could not be made."""
        if self._error is not None:
            raise self._error
        index = {
            "version": 1,
            "probe": self.probe,
            "kind": self.kind,
            "step": self.step,
            "tokens": list(tokens),
            "shape": list(layers[0][0].shape),
            "layers": [[[head.offset, head.size] for head in heads] for heads in layers],
        }
        data = json.dumps(index).encode("utf-8", "surrogatepass")
        with self._lock:
            os.pwrite(self._file.fileno(), data + FOOTER.pack(len(data), MAGIC), self._end)
            self._file.flush()
            os.replace(self.final + ".partial", self.final)
            self.finished = True

    def close(self):
        """Closes the file; an unfinished one (a first snapshot never written) is removed."""
        opened = self._file is not None and self._error is None
        super().close()
        if opened and not self.finished:
            try:
                os.unlink(self.final + ".partial")
            except OSError:
                pass


def read_reference(log_dir, probe, kind, step, tokens, layer_shape):
    """(layer -> SpilledHeads of float16 [1, heads, query, key], the open file to close) from the
    run's reference file of (probe, kind) first logged at `step` with `tokens` and layers of
    `layer_shape`; None when there is none, or (with a warning) when it fails a check."""
    path = path_of(log_dir, probe, kind, step)
    if not os.path.exists(path):
        return None
    scratch = ScratchFile.existing(path)
    try:
        layers = _checked_layers(scratch, probe, kind, step, tokens, layer_shape)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        scratch.close()
        warnings.warn(
            f"tb-attention: drift's reference {path} is not used ({type(e).__name__}: {e}); drift after this "
            f"resume of probe {probe!r} ({kind}) is measured against the stored first snapshot, whose steps of "
            f"1/255 overstate small drifts",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return (lambda layer: SpilledHeads(scratch, layers[layer])), scratch


def _checked_layers(scratch, probe, kind, step, tokens, layer_shape):
    """Per layer the SpilledLayer of each head, every check of the module doc passed; else ValueError."""
    size = scratch.size()
    if size < FOOTER.size:
        raise ValueError("shorter than its footer")
    length, magic = FOOTER.unpack(scratch.read(size - FOOTER.size, FOOTER.size))
    if magic != MAGIC or length > min(MAX_INDEX_BYTES, size - FOOTER.size):
        raise ValueError("no reference footer")
    data_end = size - FOOTER.size - length
    index = json.loads(scratch.read(data_end, length).decode("utf-8", "surrogatepass"))
    heads, queries, keys = layer_shape
    named = (index["version"], index["probe"], index["kind"], index["step"], index["tokens"], index["shape"])
    if named != (1, probe, kind, step, list(tokens), [queries, keys]):
        raise ValueError("it is the reference of another probe, step or shape")
    layers = []
    for entries in index["layers"]:
        if len(entries) != heads:
            raise ValueError(f"a layer of {len(entries)} heads, {heads} expected")
        spilled = [SpilledLayer((queries, keys), _HALF, int(offset), int(length)) for offset, length in entries]
        if any(s.offset < 0 or s.size < 0 or s.offset + s.size > data_end for s in spilled):
            raise ValueError("a head lies outside the file")
        layers.append(spilled)
    return layers


class DriftReferences:
    """Where a writer keeps each (probe, kind)'s first snapshot for drift (in the run directory, or in
    an unnamed temporary file), and finds an earlier writer's when it resumes a run."""

    def __init__(self, log_dir):
        self.log_dir = str(log_dir)
        self._scratch = ScratchFile()
        self._files = []  # ReferenceFile being written, or files read: closed with the writer
        self._told = set()  # (probe, kind) whose reference failed as it was read

    def store(self, probe, kind, step, keep):
        """Where a first snapshot's float16 heads go as its layers are encoded (put_heads): the run
        directory when `keep`."""
        if not keep:
            return self._scratch
        store = ReferenceFile(self.log_dir, probe, kind, step)
        self._files.append(store)
        return store

    def written(self, store, tokens, layers):
        """The first snapshot of `store` is written: its reference file is completed (a failure costs
        only the exact drift of a later resume, with a warning)."""
        if store is self._scratch:
            return
        try:
            store.finish(tokens, layers)
        except OSError as e:
            warnings.warn(
                f"tb-attention: drift's reference could not be kept in {store.final} ({e}); a resume of this run "
                f"would measure drift against the stored first snapshot",
                RuntimeWarning,
                stacklevel=2,
            )

    def earlier(self, past, probe, kind, step, tokens, layer_shape):
        """layer -> the first snapshot ([heads, query, key]) of an earlier writer of this run that this
        writer resumes (`past`: run_history's record of the (probe, kind), same tokens, layers of
        `layer_shape`): its float16 copy when kept, else as stored; None when there is none."""
        if past is None or past.first_step is None or past.first_step >= step or past.tokens != tokens:
            return None
        found = read_reference(self.log_dir, probe, kind, past.first_step, tokens, layer_shape)
        if found is not None:
            self._files.append(found[1])
            return found[0]
        if past.first is not None and past.first(0).shape == layer_shape:
            return past.first
        return None

    def unreadable(self, probe, kind, error):
        """A reference that fails as it is read (a frame's checksum): drift is left out, said once."""
        if (probe, kind) not in self._told:
            self._told.add((probe, kind))
            warnings.warn(
                f"tb-attention: drift's reference of probe {probe!r} ({kind}) could not be read "
                f"({type(error).__name__}: {error}): drift is left out (NaN) where it cannot be read",
                RuntimeWarning,
                stacklevel=2,
            )

    def close(self):
        for kept in self._files + [self._scratch]:
            kept.close()
