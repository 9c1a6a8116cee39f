"""Drift's reference kept in the run directory, so that a writer resuming a run measures drift from the
first snapshot's float16 weights, as the writer that took it did.

`drift` is measured from each (probe, kind)'s first snapshot. A writer keeps that snapshot in float16
(drift within 1e-4 of float32's) in its scratch file; the stored maps (steps of 1/255) are far too
coarse for it: at 128 tokens a true drift of 0.011 reads 0.086 against them. So once the first snapshot
is written, its float16 heads are copied to `<run>/tb-attention-drift/<digest>-<step>.f16`, and a
resumed writer reads them back a head at a time.

Layout: one zstd frame (float16 [query, key], with its checksum) per head, layer after layer, then the
index (UTF-8 JSON: {"version": 1, "probe", "kind", "step", "tokens", "shape": [query, key], "layers":
[[[offset, size] per head] per layer]}) and the footer (the index's length, uint64 little-endian, then
MAGIC). It is written under a ".partial" name and renamed once complete; a first snapshot that starts
at a step removes what an earlier run left at that name. A reader checks the footer, the index (its
size bounded by the layers and heads it should list), that it names this probe, kind, step, tokens,
shape and number of layers, every offset and size, and that its first layer agrees with the stored
first snapshot (so a file of another run is never used); each frame's checksum as it is read. A file
that is missing or fails a check is not used: drift then comes from the stored first snapshot.
"""

import hashlib
import json
import os
import struct
import tempfile
import warnings

import numpy as np

from .scratch_file import ScratchFile, SpilledHeads, SpilledLayer

DIRECTORY = "tb-attention-drift"
MAGIC = b"TBADRIFT"
FOOTER = struct.Struct("<Q8s")
INDEX_BYTES_PER_HEAD = 48  # "[offset, size], " with two 20-digit numbers, at most
# the stored first snapshot (within 1/255) against its float16 copy (within 2^-11 of each weight)
AGREEMENT = 1 / 255 + 1e-3
_HALF = np.dtype(np.float16)


def path_of(log_dir, probe, kind, step):
    """The reference file of a (probe, kind) whose first snapshot is at `step`."""
    digest = hashlib.sha256(f"{probe}\0{kind}".encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return os.path.join(str(log_dir), DIRECTORY, f"{digest}-{step}.f16")


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def save_reference(scratch, path, probe, kind, step, tokens, layers):
    """Copy a first snapshot's float16 heads (per layer, each head's SpilledLayer in `scratch`) into
    the reference file at `path` (OSError when it cannot be made; nothing is left then)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".partial"
    try:
        with open(partial, "wb") as out:
            entries, offset = [], 0
            for heads in layers:
                entries.append([])
                for head in heads:
                    out.write(scratch.read(head.offset, head.size))
                    entries[-1].append([offset, head.size])
                    offset += head.size
            index = {
                "version": 1,
                "probe": probe,
                "kind": kind,
                "step": step,
                "tokens": list(tokens),
                "shape": list(layers[0][0].shape),
                "layers": entries,
            }
            data = json.dumps(index).encode("utf-8", "surrogatepass")
            out.write(data + FOOTER.pack(len(data), MAGIC))
        os.replace(partial, path)
    except BaseException:
        _remove(partial)
        raise


def read_reference(path, probe, kind, step, tokens, layer_shape, layers):
    """(layer -> SpilledHeads of float16 [1, heads, query, key], the open file to close) of the
    reference file at `path` for (probe, kind) first logged at `step` with `tokens`, `layers` layers
    of `layer_shape`; ValueError when it fails a check (the file is closed then)."""
    scratch = ScratchFile.existing(path)
    try:
        spilled = _checked_layers(scratch, probe, kind, step, tokens, layer_shape, layers)
    except Exception as e:  # noqa: BLE001 - any failure of a hostile or damaged file: not used
        scratch.close()
        raise ValueError(f"{type(e).__name__}: {e}") from None
    return (lambda layer: SpilledHeads(scratch, spilled[layer])), scratch


def _checked_layers(scratch, probe, kind, step, tokens, layer_shape, layers):
    """Per layer the SpilledLayer of each head, every check of the module doc but the agreement passed."""
    size = scratch.size()
    if size < FOOTER.size:
        raise ValueError("shorter than its footer")
    length, magic = FOOTER.unpack(scratch.read(size - FOOTER.size, FOOTER.size))
    heads, queries, keys = layer_shape
    bound = len(json.dumps(list(tokens))) + INDEX_BYTES_PER_HEAD * layers * heads + 4096
    if magic != MAGIC or length > min(bound, size - FOOTER.size):
        raise ValueError("no reference footer, or an index larger than its layers and heads need")
    data_end = size - FOOTER.size - length
    index = json.loads(scratch.read(data_end, length).decode("utf-8", "surrogatepass"))
    named = (index["version"], index["probe"], index["kind"], index["step"], index["tokens"], index["shape"])
    if named != (1, probe, kind, step, list(tokens), [queries, keys]) or len(index["layers"]) != layers:
        raise ValueError("it is the reference of another probe, step, shape or number of layers")
    out = []
    for entries in index["layers"]:
        if len(entries) != heads:
            raise ValueError(f"a layer of {len(entries)} heads, {heads} expected")
        spilled = [SpilledLayer((queries, keys), _HALF, int(offset), int(length)) for offset, length in entries]
        if any(s.offset < 0 or s.size < 0 or s.offset + s.size > data_end for s in spilled):
            raise ValueError("a head lies outside the file")
        out.append(spilled)
    return out


def _disagreement(reference, stored):
    """The largest difference between the float16 copy's first layer and the stored one, over the heads
    whose map was stored (0 when none was)."""
    worst = 0.0
    for head in range(stored.shape[0]):
        if not np.isnan(stored[head]).all():
            worst = max(worst, float(np.abs(reference[0, head].astype(np.float32) - stored[head]).max()))
    return worst


class DriftReferences:
    """Where a writer keeps each (probe, kind)'s first snapshot for drift (its scratch file, copied to
    the run directory once written when kept), and finds an earlier writer's when it resumes a run."""

    def __init__(self, log_dir):
        self.log_dir = str(log_dir)
        self.scratch = ScratchFile()  # every first snapshot's float16 heads, a head at a time
        self._read = []  # reference files read: closed with the writer
        self._told = set()  # (probe, kind) whose reference failed as it was read

    def starting(self, probe, kind, step):
        """A first snapshot of (probe, kind) starts at `step`: what an earlier run left for that step
        is not its reference (it would be used by a later resume if this one's copy were not made)."""
        try:
            _remove(path_of(self.log_dir, probe, kind, step))
        except OSError:
            pass

    def written(self, probe, kind, step, tokens, layers, keep):
        """The first snapshot is written (`layers`: per layer its heads' SpilledLayer in the scratch
        file): copied to the run directory when `keep`; a failure costs only the exact drift of a later
        resume, with a warning."""
        if not keep:
            return
        path = path_of(self.log_dir, probe, kind, step)
        try:
            save_reference(self.scratch, path, probe, kind, step, tokens, layers)
        except OSError as e:
            warnings.warn(
                f"tb-attention: drift's reference could not be kept in {path} ({e}); a resume of this run "
                f"would measure drift against the stored first snapshot",
                RuntimeWarning,
                stacklevel=2,
            )

    def earlier(self, past, probe, kind, step, tokens, layer_shape):
        """layer -> the first snapshot ([heads, query, key]) of an earlier writer of this run that this
        writer resumes (`past`: run_history's record of the (probe, kind), same tokens, layers of
        `layer_shape`): its float16 copy when kept and it checks out, else as stored; None when there
        is none."""
        if past is None or past.first_step is None or past.first_step >= step or past.tokens != tokens:
            return None
        stored = past.first(0) if past.first is not None else None
        if stored is not None and stored.shape != layer_shape:
            return None
        path = path_of(self.log_dir, probe, kind, past.first_step)
        layers = past.sizes.get(past.first_step, (0, 0))[0]
        if stored is not None and layers and os.path.exists(path):
            try:
                reference, opened = read_reference(path, probe, kind, past.first_step, tokens, layer_shape, layers)
                worst = _disagreement(reference(0), stored)
                if worst > AGREEMENT:
                    opened.close()
                    raise ValueError(f"its first layer differs from the stored first snapshot by {worst:.3g}")
                self._read.append(opened)
                return reference
            except (ValueError, OSError) as e:
                warnings.warn(
                    f"tb-attention: drift's reference {path} is not used ({e}); drift after this resume of probe "
                    f"{probe!r} ({kind}) is measured against the stored first snapshot, whose steps of 1/255 "
                    f"overstate small drifts",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return past.first if stored is not None else None

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

    def unwritable(self, probe, kind, error):
        """A first snapshot that could not be kept in the scratch file (its disk is full): the
        snapshot is written, drift of the (probe, kind) left out for the rest of the run, said once."""
        if (probe, kind) not in self._told:
            self._told.add((probe, kind))
            warnings.warn(
                f"tb-attention: drift's reference of probe {probe!r} ({kind}) could not be kept in a scratch "
                f"file in {tempfile.gettempdir()} ({type(error).__name__}: {error}): its snapshots are written, "
                f"drift is left out (NaN) for the rest of this run; set TMPDIR to a disk with room for it "
                f"(the size is logged before training)",
                RuntimeWarning,
                stacklevel=2,
            )

    def close(self):
        for kept in self._read + [self.scratch]:
            kept.close()
