"""assetbuild IO managers for NumPy arrays: ``npy`` (one ndarray) and ``npz`` (a dict of ndarrays).

This package is the model for third-party assetbuild plugins. All it takes:

1. IO manager classes with ``name``, ``version``, ``dump(value) -> bytes`` and
   ``load(bytes) -> value`` (the ``assetbuild.io.IOManager`` protocol);
2. a module-level ``register_io_managers`` marked ``@assetbuild.hookimpl`` that returns instances;
3. an entry point in the group ``assetbuild`` naming this module (see ``pyproject.toml``).

assetbuild loads every installed plugin on every run, so importing this module must stay cheap:
NumPy (about 100 ms to import) and zipfile are imported inside ``dump``/``load``, never at
module level.

Bytes are deterministic, because the digest of ``dump``'s bytes is the asset's data version and
early cutoff needs equal values to give equal bytes:

- the ``.npy`` bytes are NumPy's own format (``numpy.lib.format.write_array``, what ``np.save``
  writes): magic and format version (1.0; 2.0 for headers over 64 KiB; 3.0 for non-Latin-1 field
  names), the repr of a header dict with sorted keys (descr, fortran_order, shape), spaces (room
  to grow the first axis, then up to a 64-byte boundary) and a newline, then the raw data. Only
  the dtype and shape decide the header; it holds no timestamp, path or host. (NumPy 1.24 added
  the growth spaces; should a later NumPy change the header again, values re-dump to new bytes
  and downstream assets re-run once, never wrongly.)
- the layout is normalised first: Fortran-ordered or strided arrays are written in C order (NumPy
  would write a Fortran array with ``fortran_order: True``, other bytes for an equal array);
- padding bytes inside structured dtypes (``align=True``, explicit offsets) are zeroed: NumPy
  leaves them uninitialised, so two equal record arrays can otherwise differ in those bytes;
- the dtype is kept exactly (byte order, width, field offsets): it is part of the value, so
  ``int32`` and ``int64`` arrays of the same numbers are different bytes, and so are ``0.0`` and
  ``-0.0`` or two NaNs with different payloads (they are different bits);
- ``npz`` writes its zip itself rather than calling ``np.savez``, whose entries follow the
  dict's insertion order (equal dicts, different bytes), whose zip headers record the OS that
  wrote them (0 on Windows, 3 elsewhere), and which pickles object arrays unless told not to.
  Here: entries in sorted key order, each one exactly the ``npy`` bytes, stored uncompressed
  (deflate output depends on the zlib build), with an explicit 1980-01-01 timestamp, fixed
  permissions and a fixed "made on Unix" field.

Nothing is ever pickled: object arrays (and other dtypes that hold Python objects, such as
NumPy 2's ``StringDType``) are refused with a ``TypeError``, and loading passes
``allow_pickle=False``, so loading bytes can never run code.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import assetbuild

__version__ = "0.1.0"

# Every zip entry's timestamp: the earliest a zip can carry. (zipfile gives entries opened by name
# this same default; ZipInfo.from_file and writestr(str, ...) would use the clock instead.)
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


class NpyIOManager:
    """One ``numpy.ndarray`` as a ``.npy`` file, without pickle; equal arrays give equal bytes.

    ``numpy.load(path)`` reads a ``path=`` output directly.
    """

    name = "npy"
    version = "1"  # bump whenever dump would write other bytes for the same array

    def dump(self, value: Any) -> bytes:
        return _dump_array(value, "io='npy'")

    def load(self, data: bytes) -> Any:
        return _load_array(data)


class NpzIOManager:
    """A mapping of str -> ``numpy.ndarray`` as an ``.npz`` file, loaded back as a dict.

    Each array is stored exactly as ``npy`` stores it, as ``<key>.npy`` in an uncompressed zip
    with fixed timestamps, so ``numpy.load(path)`` reads a ``path=`` output directly.
    """

    name = "npz"
    version = "1"

    def dump(self, value: Any) -> bytes:
        import zipfile

        if not isinstance(value, Mapping):
            raise TypeError("io='npz' needs a dict of str -> numpy.ndarray, "
                            f"got {_type_name(value)}")
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"io='npz' needs str keys, got the key {key!r} "
                                f"({_type_name(key)})")
            if "\x00" in key or "\\" in key:
                # zipfile cuts a name at NUL and on Windows turns "\" into "/": no round trip.
                raise ValueError(f"io='npz' cannot store the key {key!r}: "
                                 "keys must not contain NUL or backslash characters")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key in sorted(value):
                info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_DATE_TIME)
                info.compress_type = zipfile.ZIP_STORED  # deflate output depends on the zlib build
                info.create_system = 3  # ZipInfo says 0 on Windows and 3 elsewhere; always 3
                info.external_attr = 0o644 << 16
                zf.writestr(info, _dump_array(value[key], f"io='npz' (key {key!r})"))
        return buf.getvalue()

    def load(self, data: bytes) -> Any:
        import zipfile

        out: dict[str, Any] = {}
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"not an assetbuild npz: unexpected member {info.filename!r}")
                out[info.filename[:-len(".npy")]] = _load_array(zf.read(info))
        return out


def _type_name(value: Any) -> str:
    t = type(value)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _dump_array(value: Any, what: str) -> bytes:
    """The deterministic ``.npy`` bytes of ``value``; ``what`` names the caller in errors."""
    import numpy as np
    from numpy.lib import format as npy_format

    if isinstance(value, np.memmap):
        value = value.view(np.ndarray)  # a memory-mapped array is an ordinary array for us
    if type(value) is not np.ndarray:
        if isinstance(value, np.ndarray):
            raise TypeError(f"{what} stores plain numpy.ndarray values, got the subclass "
                            f"{_type_name(value)}, which would load back as a plain array without "
                            "its extra state (a mask, for instance); convert it with "
                            "numpy.asarray(...) or use io='pickle'")
        if isinstance(value, np.generic):
            raise TypeError(f"{what} needs a numpy.ndarray, got the NumPy scalar "
                            f"{_type_name(value)}; return numpy.asarray(value) for a 0-d array")
        raise TypeError(f"{what} needs a numpy.ndarray, got {_type_name(value)}")
    if value.dtype.hasobject:
        raise TypeError(f"{what} cannot store an array of dtype {value.dtype!r}: it holds Python "
                        "objects, which only pickle can store (and loading a pickle runs code); "
                        "convert it to a fixed-width dtype (e.g. .astype('U') for strings) "
                        "or use io='pickle'")
    arr = _zero_padding(np, value if value.flags.c_contiguous else value.copy(order="C"))
    # The oldest format version that can hold the header, as np.save picks it, but without its
    # UserWarning for 2.0 (headers over 64 KiB) and 3.0 (non-Latin-1 field names).
    for version in ((1, 0), (2, 0), (3, 0)):
        buf = io.BytesIO()
        try:
            npy_format.write_array(buf, arr, version=version, allow_pickle=False)
            return buf.getvalue()
        except ValueError as e:  # header too long or not Latin-1 for this version; pickled dtype
            error = e
    raise TypeError(f"{what} cannot store an array of dtype {arr.dtype!r}: {error}") from error


def _load_array(data: bytes) -> Any:
    from numpy.lib import format as npy_format

    # The header limit guards ast.literal_eval against hostile files; these bytes were written by
    # dump (and checked against their digest), and a record dtype with many fields needs more.
    return npy_format.read_array(io.BytesIO(data), allow_pickle=False,
                                 max_header_size=max(10_000, len(data)))


def _zero_padding(np: Any, arr: Any) -> Any:
    """``arr`` (C-contiguous) with every byte that belongs to no field of its dtype set to zero."""
    if arr.dtype.fields is None:
        return arr
    mask = _field_bytes(np, arr.dtype)
    if mask.all():
        return arr
    raw = np.frombuffer(bytearray(arr.tobytes()), dtype=np.uint8).reshape(-1, arr.dtype.itemsize)
    raw[:, ~mask] = 0
    return np.frombuffer(raw.data, dtype=arr.dtype).reshape(arr.shape)


def _field_bytes(np: Any, dtype: Any) -> Any:
    """A bool per byte of one ``dtype`` item: True where a field (at any depth) stores data."""
    mask = np.zeros(dtype.itemsize, dtype=bool)

    def mark(dt: Any, offset: int) -> None:
        if dt.fields is not None:
            for name in dt.names:
                sub, sub_offset = dt.fields[name][:2]
                mark(sub, offset + sub_offset)
        elif dt.subdtype is not None and dt.subdtype[0].fields is not None:
            base, shape = dt.subdtype  # an array of records: each element has its own padding
            for i in range(int(np.prod(shape))):
                mark(base, offset + i * base.itemsize)
        else:
            mask[offset:offset + dt.itemsize] = True

    mark(dtype, 0)
    return mask


@assetbuild.hookimpl
def register_io_managers() -> list[Any]:
    return [NpyIOManager(), NpzIOManager()]
