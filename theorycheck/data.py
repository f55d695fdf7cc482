"""The data of the ``trained`` family: synthetic clusters, real digits, or a user's file.

Wang, Ullah, Mianjy, Arora (2022), Sec. 5, train their networks on MNIST 0 vs 1, downsampled to
d in {5^2, 6^2, ..., 28^2} and (Sec. 5.2) normalised so that ||x|| = 1. The simulations that train
networks in the lazy ball take one of three sources (``--data`` of ``theorycheck run``):

* ``clusters`` (the default): :func:`theorycheck.training.cluster_task`, two separated classes on
  the sphere, a fresh task for every network;
* ``digits``: the handwritten digits that ship with scikit-learn
  (:func:`sklearn.datasets.load_digits`, 8 x 8 images, 178 zeros and 182 ones), the digit 0 as
  y = -1 and the digit 1 as y = +1, resampled to the grid's d;
* a ``.npz`` file with arrays ``x`` (n, h, w) images or (n, p) feature vectors and ``y`` (n,)
  with exactly two distinct labels (the smaller one becomes -1): a user's own MNIST 0 vs 1, or
  any binary task.

Images are resampled to an s x s grid for d = s^2 (the paper's sizes; a d that is not a square
gets the h x w grid with h w = d and h the largest divisor of d not above sqrt(d)):
area averaging where a grid axis shrinks (each output pixel is the mean of the input area it
covers; antialiased), bilinear interpolation with half-pixel centres where it grows. A (n, p)
array with p = d is used as it is; with p a perfect square it is read as sqrt(p) x sqrt(p) images
(row-major, as MNIST's 784 pixels are); other p serve only d = p. Every input is then put on
the sphere of the simulations' convention, radius :func:`theorycheck.network.input_radius` of
the network's spec: 1 in the ``wang`` scaling the lazy-regime simulations use, the paper's
||x|| = 1 (``sqrt(d)`` in the ``bubeck`` scaling). Pixels are not centred (the paper does not).

Each network gets its own split, drawn from the block's generator: ``n_train`` training and
``n_test`` test inputs without replacement from the n examples. When n < n_train + n_test the
test set is the n - n_train examples left (digits: 360 examples, so at most 260 test inputs
beside 100 training ones).

Identity: the value a config stores in its ``data`` field (:func:`data_field`) is ``clusters``,
``digits``, or ``PATH@sha256:HASH`` (the file's absolute path and the first 16 hex digits of the
SHA-256 of its bytes, :func:`resolve_data`). It enters the config id, so blocks of different data
are never reused for each other, and a changed file gets new blocks; a worker that reads the
file checks its hash again (a file changed during a run is an error, never silently used). The
default, ``clusters``, is left out of the id (:data:`theorycheck.simulation.OMIT_DEFAULT_FROM_ID`),
so configs keep the ids and stored blocks they had before the field existed.

Bad input (a missing file, missing arrays, wrong shapes, one class, NaN, not an npz) raises a
:class:`theorycheck.errors.UserInputError` of one line naming the file (the CLI exits with 2).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import math
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from theorycheck.errors import UserInputError, check_int, check_real
from theorycheck.simulation import OMIT_DEFAULT_FROM_ID
from theorycheck.training import TeacherTask, cluster_task

__all__ = [
    "BUILTIN",
    "DEFAULT",
    "Examples",
    "check_data",
    "data_field",
    "describe_data",
    "grid_shape",
    "load_examples",
    "load_task",
    "resample",
    "resolve_data",
]

#: The default source: synthetic clusters (:func:`theorycheck.training.cluster_task`).
DEFAULT = "clusters"
#: Sources named by a word; anything else is a file path.
BUILTIN = ("clusters", "digits")
_HASH_SEP = "@sha256:"
_HASH_DIGITS = 16
_FILE_HELP = "--data FILE.npz needs arrays x, (n, h, w) images or (n, p) features, and y, (n,)"


def data_field(default: str = DEFAULT):
    """The ``data`` field of a simulation config: ``data: str = data_field()``.

    Its value is what :func:`resolve_data` returns; at the default it is left out of the config
    id (:data:`theorycheck.simulation.OMIT_DEFAULT_FROM_ID`)."""
    return dataclasses.field(default=default, metadata={OMIT_DEFAULT_FROM_ID: True})


@dataclass(frozen=True)
class Examples:
    """A fixed binary data set: ``x`` (n, h, w) images or (n, p) features, ``y`` (n,) in
    {-1, +1}; ``name`` says where they come from (for messages and notes)."""

    x: np.ndarray
    y: np.ndarray
    name: str

    def features(self, d: int) -> np.ndarray:
        """The n inputs in R^d (resampled as the module docstring says), each of norm 1."""
        return _features(self, check_int("d", d))


def resolve_data(data: str | os.PathLike | None) -> str:
    """The config value of ``--data``: ``clusters``, ``digits`` or ``PATH@sha256:HASH``.

    A file is read, validated (:func:`load_examples`) and hashed here, so a bad file is refused
    before anything runs. ``None`` gives the default. A value this function returned is
    returned unchanged (after checking that the file still has that hash)."""
    if data is None:
        return DEFAULT
    if not isinstance(data, str | os.PathLike):
        raise UserInputError(f"data must be clusters, digits or a .npz file; got {data!r}")
    value = os.fspath(data)
    if value in BUILTIN:
        return value
    if not value.strip():
        raise UserInputError("--data must be clusters, digits or a .npz file, got ''")
    path, expected = _split(value)
    if not os.path.isfile(path):
        raise UserInputError(f"--data {path}: no such file (give clusters, digits or a .npz "
                             "file with arrays x and y)")  # fmt: skip
    blob = _read(path)
    digest = hashlib.sha256(blob).hexdigest()[:_HASH_DIGITS]
    if expected is not None and expected != digest:
        raise UserInputError(f"data file {path} changed (SHA-256 {digest}, not {expected})")
    resolved = f"{os.path.abspath(path)}{_HASH_SEP}{digest}"
    _load_examples(resolved)  # validated now (once per content): one line before any block runs
    return resolved


def describe_data(data: str) -> str:
    """A few words for notes and messages: ``clusters``, ``digits 0 vs 1`` or the file's name
    with its hash."""
    if data == "digits":
        return "digits 0 vs 1 (scikit-learn)"
    if data in BUILTIN:
        return data
    path, digest = _split(data)
    return f"{os.path.basename(path)} (sha256 {digest})" if digest else os.path.basename(path)


def load_examples(data: str) -> Examples:
    """The examples of a fixed source (``digits`` or a file; not ``clusters``, whose tasks are
    drawn afresh). A file is checked against the hash in ``data`` (a path without one is
    resolved first, :func:`resolve_data`)."""
    return _load_examples(_resolved(data))


def _resolved(data: str) -> str:
    """``data`` itself if it names its content (a builtin, or a file with its hash), else
    :func:`resolve_data` of it: what the per-process caches are keyed by."""
    return data if data in BUILTIN or _HASH_SEP in data else resolve_data(data)


@functools.lru_cache(maxsize=8)
def _load_examples(data: str) -> Examples:
    """:func:`load_examples` of a builtin name or a resolved file, once per process: the value
    names the content (its hash), so the cache cannot serve another file's examples."""
    if data == "digits":
        return _digits()
    if data == DEFAULT:
        raise UserInputError("clusters are drawn per network: they have no fixed examples")
    path, expected = _split(data)
    if not os.path.isfile(path):
        raise UserInputError(f"data file {path}: no such file")
    blob = _read(path)
    if expected is not None:
        digest = hashlib.sha256(blob).hexdigest()[:_HASH_DIGITS]
        if digest != expected:
            raise UserInputError(
                f"data file {path} changed since the run started (SHA-256 {digest}, not "
                f"{expected}); run again to use the new content"
            )
    return _parse_npz(blob, path)


def check_data(data: str, d: int, min_examples: int = 2) -> None:
    """Raise (one line) unless ``data`` can give inputs in R^d and has at least ``min_examples``
    examples (a network's training set plus one test input)."""
    if data == DEFAULT:
        return
    data = _resolved(data)
    ex = load_examples(data)
    if len(ex.y) < min_examples:
        raise UserInputError(f"{describe_data(data)} has {len(ex.y)} examples; the trained "
                             f"family needs at least {min_examples}")  # fmt: skip
    _features_of(data, d)


def load_task(
    data: str,
    d: int,
    n_train: int,
    n_test: int,
    rng: np.random.Generator,
    radius: float = 1.0,
) -> TeacherTask:
    """One network's task: ``n_train`` training and up to ``n_test`` test inputs on the sphere of
    ``radius`` in R^d, labels in {-1, +1}, from the source ``data`` (a value of
    :func:`resolve_data`).

    ``clusters`` draws :func:`theorycheck.training.cluster_task`; a fixed source is split at
    random by ``rng`` (no replacement; the test set is what is left when the examples are too few
    for ``n_test``). The fixed sources have no teacher: ``teacher_a`` and ``teacher_V`` are empty.

    References: Wang, Ullah, Mianjy, Arora (2022), Sec. 5 (MNIST 0 vs 1, downsampled, Sec. 5.2
    normalised to ||x|| = 1); this module's docstring.
    """
    if data == DEFAULT:
        return cluster_task(d, n_train, n_test, rng, radius=radius)
    d = check_int("d", d)
    n_train = check_int("n_train", n_train)
    n_test = check_int("n_test", n_test, minimum=0)
    radius = check_real("radius", radius, low=0.0, low_open=True)
    data = _resolved(data)
    ex = load_examples(data)
    n = len(ex.y)
    if n < n_train + 1:
        raise UserInputError(f"{describe_data(data)} has {n} examples; a network trains on "
                             f"{n_train} and needs at least one test input")  # fmt: skip
    X = _features_of(data, d)
    pick = rng.permutation(n)[: n_train + min(n_test, n - n_train)]
    X, y = X[pick] * radius, ex.y[pick]
    none = np.empty(0)
    return TeacherTask(X[:n_train], y[:n_train], X[n_train:], y[n_train:], none, np.empty((0, d)))


def grid_shape(d: int) -> tuple[int, int]:
    """The (h, w) image grid of d pixels: (s, s) for d = s^2, else h the largest divisor of d
    not above sqrt(d) and w = d / h."""
    d = check_int("d", d)
    h = math.isqrt(d)
    while d % h:
        h -= 1
    return h, d // h


def resample(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Images (n, h, w) resampled to (n, *shape): per axis, area averaging where it shrinks
    (or keeps its size: the identity) and bilinear interpolation with half-pixel centres where it
    grows. Linear in the images; a constant image stays constant."""
    images = np.asarray(images, dtype=float)
    A = _axis_matrix(images.shape[1], shape[0])
    B = _axis_matrix(images.shape[2], shape[1])
    return ((images @ B.T).transpose(0, 2, 1) @ A.T).transpose(0, 2, 1)


def _axis_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of one axis (rows sum to 1)."""
    M = np.zeros((n_out, n_in))
    if n_out <= n_in:
        # Output pixel i covers [i s, (i + 1) s) of the input axis, s = n_in / n_out.
        s = n_in / n_out
        for i in range(n_out):
            lo, hi = i * s, (i + 1) * s
            for j in range(math.floor(lo), min(n_in, math.ceil(hi))):
                M[i, j] = (min(hi, j + 1) - max(lo, j)) / s
        return M
    for i in range(n_out):
        src = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1.0)
        j = min(math.floor(src), n_in - 2) if n_in > 1 else 0
        t = src - j
        M[i, j] += 1.0 - t
        if n_in > 1:
            M[i, j + 1] += t
    return M


@functools.lru_cache(maxsize=32)
def _features_of(data: str, d: int) -> np.ndarray:
    """:meth:`Examples.features` of a fixed source, computed once per process and d."""
    return load_examples(data).features(d)


def _features(ex: Examples, d: int) -> np.ndarray:
    x = ex.x
    if x.ndim == 2 and x.shape[1] == d:
        X = np.array(x, dtype=float)
    else:
        if x.ndim == 2:
            side = math.isqrt(x.shape[1])
            if side * side != x.shape[1]:
                raise UserInputError(
                    f"{ex.name}: x has {x.shape[1]} features, which serve only d = {x.shape[1]} "
                    f"(not a square number of pixels to resample); d = {d} asked: give images "
                    "x of shape (n, h, w)"
                )
            x = x.reshape(len(x), side, side)
        X = resample(x, grid_shape(d)).reshape(len(x), d)
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(~(norms > 0.0))
    if zero.size:
        raise UserInputError(f"{ex.name}: example {int(zero[0])} is zero at d = {d}, so it has "
                             "no direction to put on the sphere")  # fmt: skip
    X /= norms[:, None]
    X.setflags(write=False)
    return X


def _split(value: str) -> tuple[str, str | None]:
    """(path, hash or None) of a file value."""
    if _HASH_SEP in value:
        path, digest = value.rsplit(_HASH_SEP, 1)
        return path, digest
    return value, None


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise UserInputError(f"data file {path}: cannot read it ({exc.strerror})") from None


def _parse_npz(blob: bytes, path: str) -> Examples:
    """Validate and load the arrays x and y of an npz file's bytes."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            names = list(npz.files)
            missing = [k for k in ("x", "y") if k not in names]
            if missing:
                holds = ", ".join(names) or "no arrays"
                raise UserInputError(f"data file {path} has no array {' or '.join(missing)} "
                                     f"(it holds {holds}); {_FILE_HELP}")  # fmt: skip
            x, y = npz["x"], npz["y"]
    except UserInputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"data file {path} is not a readable .npz ({why}); "
                             f"{_FILE_HELP}") from None  # fmt: skip
    return _examples(x, y, path)


def _examples(x: np.ndarray, y: np.ndarray, name: str) -> Examples:
    """Check the arrays (shapes, numbers, finiteness, two classes); y mapped to {-1, +1}."""
    if x.dtype.kind not in "biuf" or x.ndim not in (2, 3) or 0 in x.shape:
        raise UserInputError(f"data file {name}: x has shape {x.shape} and dtype {x.dtype}; "
                             f"{_FILE_HELP}, numbers")  # fmt: skip
    if y.dtype.kind not in "biuf" or y.ndim != 1 or len(y) != len(x):
        raise UserInputError(f"data file {name}: y has shape {y.shape} and dtype {y.dtype}; "
                             f"it must hold one number per example of x ({len(x)},)")  # fmt: skip
    for label, arr in (("x", x), ("y", y)):
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            raise UserInputError(f"data file {name}: {label} has {bad} NaN or infinite "
                                 "value(s)")  # fmt: skip
    classes = np.unique(y)
    if len(classes) != 2:
        raise UserInputError(f"data file {name}: y has {len(classes)} distinct label(s); a "
                             "binary task needs exactly 2 (e.g. MNIST's 0 and 1 only)")  # fmt: skip
    labels = np.where(y == classes[1], 1.0, -1.0)
    x = np.array(x, dtype=float)
    x.setflags(write=False)
    labels.setflags(write=False)
    return Examples(x, labels, name)


def _digits() -> Examples:
    """scikit-learn's handwritten digits 0 and 1 (8 x 8 images, grey levels 0 to 16)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    keep = bunch.target <= 1
    x = np.array(bunch.images[keep], dtype=float)
    y = np.where(bunch.target[keep] == 1, 1.0, -1.0)
    x.setflags(write=False)
    y.setflags(write=False)
    return Examples(x, y, "digits 0 vs 1 (scikit-learn)")
