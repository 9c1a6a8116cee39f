"""Response bodies of the plugin's routes: the "TBAT" binary container and JSON answers/errors.

The container (docs/http-api.md) lets the browser wrap the data in a typed array without parsing
floats: magic, uint32 header length, a JSON header padded with spaces to a multiple of 4, raw data.
"""

import json
import math
import struct

import numpy as np
from werkzeug import wrappers

MAGIC = b"TBAT"
_LENGTH = struct.Struct("<I")
_DTYPES = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float32": np.dtype("<f4")}
BINARY_TYPE = "application/octet-stream"
JSON_TYPE = "application/json"


def encode_container(header, array):
    """(dict, ndarray) -> bytes. Adds `shape` and `dtype` to a copy of the header."""
    dtype_name = {"u1": "uint8", "u2": "uint16", "f4": "float32"}.get(np.dtype(array.dtype).str[1:])
    if dtype_name is None:
        raise TypeError(f"TBAT carries uint8, uint16 or float32 data, not {array.dtype}")
    data = np.ascontiguousarray(array, dtype=_DTYPES[dtype_name])
    header = dict(header, shape=list(data.shape), dtype=dtype_name)
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 4)
    return b"".join((MAGIC, _LENGTH.pack(len(text)), text, data.tobytes()))


def decode_container(body):
    """bytes -> (header dict, ndarray): the inverse of `encode_container` (tests, benchmark)."""
    if body[:4] != MAGIC or len(body) < 8:
        raise ValueError("not a TBAT container")
    (n,) = _LENGTH.unpack_from(body, 4)
    header = json.loads(body[8 : 8 + n].decode("utf-8"))
    data = np.frombuffer(body, dtype=_DTYPES[header["dtype"]], offset=8 + n)
    return header, data.reshape(header["shape"])


def _no_store(response):
    # Runs grow while TensorBoard runs: a cached index or stats answer would hide new steps.
    response.headers["Cache-Control"] = "no-cache, must-revalidate"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def binary_response(header, array):
    return _no_store(wrappers.Response(encode_container(header, array), status=200, content_type=BINARY_TYPE))


def _clean(value):
    """JSON has no NaN/inf: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def json_response(obj, status=200):
    body = json.dumps(_clean(obj), separators=(",", ":"), allow_nan=False)
    return _no_store(wrappers.Response(body, status=status, content_type=JSON_TYPE))


def error_response(status, message):
    """{"error": message}: the message says what the client should change."""
    return json_response({"error": message}, status=status)
