"""Images that stay on disk: memory-mapped arrays, HDF5 and zarr datasets.

The estimators train on a ``np.memmap`` (e.g. ``np.load(path, mmap_mode="r")`` of
the published DeepMerge ``.npy`` files) and predict on a ``np.memmap``, an
``h5py.Dataset``, a ``zarr.Array`` or a dask array without loading it: the data is
validated chunk by chunk, split by indices, and read batch by batch, converted to
float32 per batch (:class:`LazyImages`).

The rows of a file-backed ``np.memmap`` are read with ordinary file reads (one per
run of consecutive rows), not through the memory map. Pages of a map that a process
touches count in its resident memory (RSS) until they are unmapped, and kernels
that cache files in large folios map up to megabytes around each touched row, so a
random batch of 128 rows read through the map would add some 200 MB of RSS. File
reads go through the page cache without mapping anything: the RSS stays flat. For
maps without a file name or copy-on-write maps (``mode="c"``) the map is read and
its pages are dropped from the process every ``RELEASE_BYTES``
(``madvise(MADV_DONTNEED)``; the data stays in the page cache).
"""

from __future__ import annotations

import mmap

import numpy as np

from ._validation import (
    LARGE_VALUE,
    check_image_shape,
    check_images,
    warn_large_values,
)

__all__ = ["LazyImages", "check_input_images", "check_lazy_images", "is_lazy_array"]

#: Bytes read from a memory map between two releases of its pages.
RELEASE_BYTES = 64 * 2**20

#: Bytes per chunk of the validation pass.
CHUNK_BYTES = 16 * 2**20

_LAZY_MODULES = ("h5py", "zarr", "dask")


def is_lazy_array(X) -> bool:
    """Whether ``X`` is an on-disk array that should be read in chunks.

    True for ``np.memmap`` (and views of one), ``h5py`` datasets, ``zarr`` arrays
    and dask arrays; False for everything else (in-memory arrays, lists, frames).
    """
    if isinstance(X, LazyImages | np.memmap):
        return True
    if isinstance(X, np.ndarray):
        return False
    root = type(X).__module__.split(".")[0]
    return (
        root in _LAZY_MODULES
        and hasattr(X, "shape")
        and hasattr(X, "dtype")
        and hasattr(X, "__getitem__")
    )


def _memory_map(array) -> mmap.mmap | None:
    """Return the ``mmap`` under a ``np.memmap`` (or a view) if it may be released."""
    if not isinstance(array, np.memmap) or getattr(array, "mode", None) == "c":
        # a copy-on-write map holds private changes that dropping would lose
        return None
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base


def release_pages(array) -> None:
    """Drop the pages of a memory-mapped array from this process's resident memory.

    The file's data stays in the page cache (later reads are minor page faults);
    nothing is lost for shared maps. A no-op for other arrays and platforms.
    """
    mapped = _memory_map(array)
    if mapped is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    try:
        mapped.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # closed map, or not supported here
        pass


def _file_layout(array) -> tuple[str, int, int, int] | None:
    """Where the rows of a file-backed ``np.memmap`` lie in its file (see below).

    Returns ``(file name, file position of row 0, row stride, row bytes)``, or None
    when the array is not a memory map of a named file, is copy-on-write, or its
    rows are not each contiguous (then the map itself is read).
    """
    filename = getattr(array, "filename", None)
    if not isinstance(array, np.memmap) or not filename or array.mode == "c":
        return None
    root = array
    while isinstance(root.base, np.ndarray):
        root = root.base
    if not isinstance(root, np.memmap) or not isinstance(root.base, mmap.mmap):
        return None
    itemsize = array.dtype.itemsize
    sample_shape = array.shape[1:]
    contiguous = tuple(
        itemsize * int(np.prod(sample_shape[i + 1 :], dtype=np.int64))
        for i in range(len(sample_shape))
    )
    if array.ndim < 2 or array.strides[1:] != contiguous or array.strides[0] <= 0:
        return None
    row_bytes = itemsize * int(np.prod(sample_shape, dtype=np.int64))
    if array.shape[0] > 1 and array.strides[0] < row_bytes:
        return None
    start = array.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return str(filename), int(root.offset) + start, int(array.strides[0]), row_bytes


def _read_into(file, buffer: np.ndarray) -> None:
    """Fill ``buffer`` from the current position of an unbuffered file."""
    view = memoryview(buffer).cast("B")
    done = 0
    while done < len(view):
        count = file.readinto(view[done:])
        if not count:
            raise OSError(f"{file.name} ended before the rows of the array.")
        done += count


class LazyImages:
    """Rows of an on-disk array, read as float32 batches on demand.

    Supports ``len``, ``shape``, ``ndim``, ``dtype`` (float32, the dtype of what is
    read), and indexing along the first axis with a slice or an integer array,
    which returns an in-memory ``float32`` array. Reads are sorted and deduplicated
    (one sequential pass over the rows a batch needs, as HDF5 requires), then put
    back in the requested order.

    Parameters
    ----------
    source : np.memmap, h5py.Dataset, zarr.Array or dask array
        The data, with samples along the first axis.
    indices : ndarray of int or None, default=None
        The rows of ``source`` this view holds, in order; None for all rows.
    add_channel_axis : bool, default=False
        Insert a channel axis after the first: ``(n, h, w)`` single-band images
        are read as ``(n, 1, h, w)``.
    name : str or None, default=None
        Argument name; when given, every read checks that the values are finite
        and raises a ``ValueError`` naming it otherwise.
    """

    dtype = np.dtype(np.float32)

    def __init__(
        self,
        source,
        indices: np.ndarray | None = None,
        *,
        add_channel_axis: bool = False,
        name: str | None = None,
    ) -> None:
        self.source = source
        self.indices = None if indices is None else np.asarray(indices, dtype=np.intp)
        self.add_channel_axis = add_channel_axis
        self.name = name
        # bytes read since the map's pages were last released; shared with the
        # views made by subset(), which read the same file
        self._unreleased = [0]

    # -- array-like ---------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_samples, ...)`` as the rows are read."""
        n = self.source.shape[0] if self.indices is None else len(self.indices)
        sample = tuple(self.source.shape[1:])
        if self.add_channel_axis:
            sample = (1, *sample)
        return (n, *sample)

    @property
    def ndim(self) -> int:
        """Number of dimensions of :attr:`shape`."""
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        # np.asarray(view) reads everything: fine for small data and debugging
        return np.asarray(self[:], dtype=dtype)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            if self.indices is None and key.step in (None, 1):
                start, stop, _ = key.indices(len(self))
                return self._finish(self._read_slice(start, max(start, stop)))
            rows = self._rows()[key]
        elif isinstance(key, int | np.integer):
            return self[np.array([key])][0]
        else:
            rows = np.asarray(key)
            if rows.dtype == bool or rows.ndim != 1:
                raise IndexError(
                    "LazyImages takes an integer, a slice or a 1-D integer array of "
                    "row indices."
                )
            rows = self._rows()[rows]
        return self._finish(self._read_rows(rows))

    def subset(self, indices) -> LazyImages:
        """Return the view of rows ``indices`` of this view (nothing is read)."""
        view = LazyImages(
            self.source,
            self._rows()[np.asarray(indices, dtype=np.intp)],
            add_channel_axis=self.add_channel_axis,
            name=self.name,
        )
        view._unreleased = self._unreleased
        return view

    def release(self) -> None:
        """Drop the pages read so far from resident memory (memory maps only)."""
        release_pages(self.source)
        self._unreleased[0] = 0

    def chunks(self, n_bytes: int | None = None):
        """Yield ``(start, stop, block)`` over all rows, about ``n_bytes`` a block.

        ``n_bytes=None`` takes :data:`CHUNK_BYTES`.
        """
        n_bytes = CHUNK_BYTES if n_bytes is None else n_bytes
        row_bytes = 4 * int(np.prod(self.shape[1:], dtype=np.int64))
        step = max(1, n_bytes // max(row_bytes, 1))
        for start in range(0, len(self), step):
            stop = min(start + step, len(self))
            yield start, stop, self[start:stop]

    # -- reading ------------------------------------------------------------------
    def _rows(self) -> np.ndarray:
        if self.indices is None:
            return np.arange(self.source.shape[0])
        return self.indices

    def _read_slice(self, start: int, stop: int) -> np.ndarray:
        if stop > start and self._layout() is not None:
            return self._read_file(np.arange(start, stop))
        block = self.source[start:stop]
        if isinstance(self.source, np.memmap):
            # a slice of a map is a view of the file: copy it out as float32
            block = np.array(block, dtype=np.float32)
            self._account(block.nbytes)
        return block

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.empty((0, *self.source.shape[1:]), dtype=np.float32)
        unique, inverse = np.unique(rows, return_inverse=True)
        first, last = int(unique[0]), int(unique[-1])
        if self._layout() is not None:
            block = self._read_file(unique)
        elif last - first + 1 == len(unique):
            block = self._read_slice(first, last + 1)
        else:
            if hasattr(self.source, "oindex"):  # zarr: orthogonal selection
                block = self.source.oindex[unique]
            else:  # memmap, h5py (increasing indices), dask
                block = self.source[unique]
            self._account(np.asarray(block).nbytes)
        if len(unique) == len(rows) and np.array_equal(unique, rows):
            return block
        return np.asarray(block)[inverse.reshape(-1)]

    def _layout(self) -> tuple[str, int, int, int] | None:
        """``(file name, file position of row 0, row stride, row bytes)`` or None.

        Defined for a ``np.memmap`` (or a view of one) of a named file, not
        copy-on-write, whose rows are each contiguous; None otherwise.
        """
        if not hasattr(self, "_layout_cache"):
            self._layout_cache = _file_layout(self.source)
        return self._layout_cache

    def _read_file(self, rows: np.ndarray) -> np.ndarray:
        """Read sorted, distinct ``rows`` with file reads, one per consecutive run."""
        filename, position, stride, row_bytes = self._layout()
        out = np.empty((len(rows), *self.source.shape[1:]), dtype=self.source.dtype)
        raw = out.reshape(len(rows), -1).view(np.uint8)
        if stride == row_bytes:
            runs = np.split(
                np.arange(len(rows)), np.flatnonzero(np.diff(rows) != 1) + 1
            )
        else:
            runs = [np.array([i]) for i in range(len(rows))]
        with open(filename, "rb", buffering=0) as file:
            for run in runs:
                file.seek(position + int(rows[run[0]]) * stride)
                _read_into(file, raw[run[0] : run[-1] + 1])
        return out

    def _account(self, n_bytes: int) -> None:
        if not isinstance(self.source, np.memmap) or self._layout() is not None:
            return
        self._unreleased[0] += n_bytes
        if self._unreleased[0] >= RELEASE_BYTES:
            self.release()

    def _finish(self, block) -> np.ndarray:
        block = np.ascontiguousarray(np.asarray(block), dtype=np.float32)
        if self.add_channel_axis:
            block = block[:, np.newaxis]
        if self.name is not None and not np.isfinite(block).all():
            raise ValueError(
                f"Input {self.name} contains NaN or infinity (or values too large "
                "for float32); remove or replace them."
            )
        return block

    def __repr__(self) -> str:
        return (
            f"LazyImages({type(self.source).__module__}.{type(self.source).__name__}, "
            f"shape={self.shape})"
        )


def check_lazy_images(
    X, name: str = "X", *, check_finite: str = "now", large_value: float = np.inf
) -> LazyImages:
    """Validate an on-disk array without loading it; return a :class:`LazyImages`.

    Parameters
    ----------
    X : np.memmap, h5py.Dataset, zarr.Array, dask array or LazyImages
        2-D features, 3-D single-band images or 4-D channels-first images.
    name : str, default="X"
        Argument name used in error messages.
    check_finite : {"now", "on_read"}, default="now"
        ``"now"`` reads the data once, chunk by chunk, and raises on NaN or
        infinite values (before training starts); ``"on_read"`` checks every batch
        when it is read (for prediction, a single pass).
    large_value : float, default=inf
        With ``check_finite="now"``, warn when an absolute value exceeds this.

    Returns
    -------
    LazyImages
    """
    if isinstance(X, LazyImages):
        return X
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "biuf":
        raise ValueError(
            f"{name} has dtype {dtype}; images must be numbers (float, int or "
            "bool), converted to float32 batch by batch."
        )
    check_image_shape(X.shape, name)
    if X.shape[0] < 1:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum "
            f"of 1 is required: {name} is empty."
        )
    images = LazyImages(X, add_channel_axis=len(X.shape) == 3)
    if check_finite == "on_read":
        images.name = name
        return images
    largest = 0.0
    if dtype.kind == "f" or np.isfinite(large_value):
        for start, stop, block in images.chunks():
            if not np.isfinite(block).all():
                raise ValueError(
                    f"Input {name} contains NaN or infinity (or values too large "
                    f"for float32) in rows {start} to {stop - 1}."
                )
            if block.size:  # max and min: no temporary array
                largest = max(largest, float(block.max()), -float(block.min()))
        images.release()
    warn_large_values(name, largest, limit=large_value)
    return images


def check_input_images(X, name: str, *, prediction: bool = False):
    """Validate images; on-disk arrays stay on disk (see :mod:`skdamerge._outofcore`).

    In-memory input becomes a float32 array. A ``np.memmap``, ``h5py`` dataset,
    ``zarr`` array or dask array becomes a :class:`LazyImages` view, read batch by
    batch: for training its values are checked chunk by chunk first, for
    prediction each batch is checked as it is read (a single pass).
    """
    if is_lazy_array(X):
        return check_lazy_images(
            X,
            name,
            check_finite="on_read" if prediction else "now",
            large_value=LARGE_VALUE,
        )
    return check_images(X, name)
