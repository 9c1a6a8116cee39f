"""Arrays wherever they live: numpy on the host, or the model's own tensors on its CUDA GPU.

A long probe's layer of an LLM is gigabytes of float32; on a CUDA GPU it is measured where it is (the
statistics, relations, sketch and quantized maps are computed there, on the caller's thread: its CUDA
stream) and only what is stored crosses to the host. One implementation serves both through the
array API standard (array-api-compat wraps numpy and torch in it); nothing here imports torch: a
tensor brings its own namespace."""

import warnings

import array_api_compat
import numpy as np


def namespace(*arrays):
    """The array API namespace of the arrays (numpy's through array-api-compat: numpy before 2.0 has
    not all of the standard's functions)."""
    return array_api_compat.array_namespace(*(a for a in arrays if a is not None))


def is_host(a):
    """Whether `a` is a numpy array (the writer's host route)."""
    return isinstance(a, np.ndarray)


def is_foreign(a):
    """Whether `a` is an array of another library (a torch tensor), measured in its own namespace."""
    return not isinstance(a, (np.ndarray, np.generic)) and array_api_compat.is_array_api_obj(a)


def on_accelerator(a):
    """Whether `a` is a CUDA tensor (of torch, or another array API library): measured where it lives.
    Other devices are not: MPS has no float64 (the running sums of quantize and the statistics' sums
    need it), and XLA would recompile for each block's shape."""
    return is_foreign(a) and str(array_api_compat.device(a)).startswith("cuda")


def device(a):
    return None if isinstance(a, np.ndarray) else array_api_compat.device(a)


def to_host(a, dtype=None):
    """A numpy copy (or view, for numpy and CPU tensors) of `a`, in `dtype` when given (converted
    before it leaves its device: a float16 copy crosses in half a float32's bytes)."""
    if not isinstance(a, np.ndarray):
        if dtype is not None:
            xp = array_api_compat.array_namespace(a)
            a = xp.astype(a, getattr(xp, np.dtype(dtype).name), copy=False)
        a = np.asarray(array_api_compat.to_device(a, "cpu"))
    return a if dtype is None else a.astype(dtype, copy=False)


def like(x, values, dtype=None):
    """`values` (numpy, or a scalar) as an array of `x`'s namespace on `x`'s device."""
    if isinstance(x, np.ndarray):
        return np.asarray(values, dtype=dtype)
    xp = array_api_compat.array_namespace(x)
    with warnings.catch_warnings():  # torch warns of read-only numpy memory (a spilled head): it only reads it
        warnings.simplefilter("ignore", UserWarning)
        return xp.asarray(np.asarray(values, dtype=dtype), device=array_api_compat.device(x))


def float32(x):
    """`x` as float32 in its own namespace (no copy when it is float32 already)."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float32, copy=False)
    xp = array_api_compat.array_namespace(x)
    return x if x.dtype == xp.float32 else xp.astype(x, xp.float32)
