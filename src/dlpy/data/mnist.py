"""MNIST: a reader for IDX files (``.gz`` or raw) and a checked download into a cache folder.

The IDX format: two zero bytes, a type code (0x08 = unsigned byte), the number of axes, one
big-endian uint32 per axis, then the values. Every error names the file.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from dlpy.io import atomic_write_bytes
from dlpy.progress import progress as progress_bar

# The four files, with the SHA-256 of their decompressed IDX content (the canonical files; the
# checksum holds whatever the compression, so re-compressed copies verify too).
FILES = {
    "train_images": ("train-images-idx3-ubyte",
                     "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train_labels": ("train-labels-idx1-ubyte",
                     "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "test_images": ("t10k-images-idx3-ubyte",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "test_labels": ("t10k-labels-idx1-ubyte",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def default_data_dir() -> Path:
    """$DLPY_DATA/mnist, else ~/.cache/dlpy/mnist."""
    root = os.environ.get("DLPY_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "dlpy")
    return Path(root) / "mnist"


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: cannot read ({err})") from None


def parse_idx(raw: bytes, name: str | os.PathLike = "<bytes>") -> np.ndarray:
    """The array stored in IDX bytes; ``name`` is used in error messages."""
    if len(raw) < 4:
        raise ValueError(f"{name}: truncated IDX file: {len(raw)} bytes, the header needs 4")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise ValueError(
            f"{name}: not an IDX file: magic number 0x{int.from_bytes(raw[:4], 'big'):08x} "
            "(expected 0x0000TTNN with type TT in 08/09/0b/0c/0d/0e)"
        )
    dtype, ndim = np.dtype(_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header: {len(raw)} bytes, expected {header}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "too long"
        raise ValueError(
            f"{name}: {kind}: shape {shape} needs {expected} bytes, the file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw). ``magic`` (e.g. 0x803 for images) is checked if given."""
    path = Path(path)
    raw = _read_bytes(path)
    if magic is not None and len(raw) >= 4 and int.from_bytes(raw[:4], "big") != magic:
        raise ValueError(
            f"{path}: wrong magic number 0x{int.from_bytes(raw[:4], 'big'):08x}, expected "
            f"0x{magic:08x}"
        )
    return parse_idx(raw, path)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    return None


def _missing_message(folder: Path, missing: list[str], reason: str) -> str:
    names = ", ".join(f"{FILES[k][0]}.gz" for k in FILES)
    return (
        f"MNIST: {reason}. Put the four files ({names}; .gz or uncompressed) in {folder} "
        f"or pass --data-dir FOLDER. Missing: {', '.join(missing)}"
    )


def download_mnist(folder: str | os.PathLike, mirrors: list[str] | None = None,
                   progress: bool = True, timeout: float = 30.0) -> Path:
    """Download the missing files into ``folder``, trying each mirror, verifying SHA-256."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    missing = [(stem, sha256) for stem, sha256 in FILES.values() if _find(folder, stem) is None]
    for stem, sha256 in missing:
        for mirror in mirrors or MIRRORS:
            url = f"{mirror}{stem}.gz"
            try:
                _download(url, folder / f"{stem}.gz", sha256, progress, timeout)
                break
            except (OSError, ValueError) as err:  # urllib's URLError is an OSError
                errors.append(f"{url}: {err}")
        else:
            raise RuntimeError(
                _missing_message(folder, [f"{s}.gz" for s, _ in missing
                                          if _find(folder, s) is None],
                                 "download failed (offline?)")
                + "\n" + "\n".join(errors)
            )
    return folder


def _download(url: str, target: Path, sha256: str, progress: bool, timeout: float) -> None:
    """Fetch one file into memory (MNIST files are at most 10 MB), verify the SHA-256 of its
    decompressed IDX content, then write it atomically."""
    import urllib.request  # here: 30 ms of imports (http, email) that most users never need

    chunks = []
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with progress_bar(total=total, desc=f"downloading {target.name}", enabled=progress,
                          unit="B", unit_scale=True) as bar:
            while chunk := response.read(1 << 16):
                chunks.append(chunk)
                bar.update(len(chunk))
    data = b"".join(chunks)
    try:
        content = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError) as err:
        raise ValueError(f"the download is not a readable gzip file ({err})") from None
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise ValueError(f"checksum mismatch: SHA-256 {digest}, expected {sha256}")
    atomic_write_bytes(target, data)


def missing_files(folder: str | os.PathLike) -> list[str]:
    """The MNIST files (``NAME.gz``) not found in ``folder`` (either compressed or raw)."""
    return [f"{stem}.gz" for stem, _ in FILES.values() if _find(Path(folder), stem) is None]


def load_mnist(data_dir: str | os.PathLike | None = None, download: bool = True,
               verify: bool = False) -> dict[str, np.ndarray]:
    """The four MNIST arrays: train_images (60000, 28, 28) uint8, train_labels (60000,) uint8,
    test_images, test_labels. Missing files are downloaded into ``data_dir`` (default:
    ``default_data_dir()``) unless ``download=False``. ``verify`` checks SHA-256 of every file.
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    missing = missing_files(folder)
    if missing:
        if not download:
            raise FileNotFoundError(_missing_message(folder, missing, "files not found"))
        download_mnist(folder)
    arrays: dict[str, np.ndarray] = {}
    for key, (stem, sha256) in FILES.items():
        path = _find(folder, stem)
        raw = _read_bytes(path)
        if verify and hashlib.sha256(raw).hexdigest() != sha256:
            raise ValueError(f"{path}: checksum mismatch (not the canonical MNIST file)")
        magic = 0x803 if key.endswith("images") else 0x801
        if len(raw) >= 4 and int.from_bytes(raw[:4], "big") != magic:
            raise ValueError(
                f"{path}: wrong magic number 0x{int.from_bytes(raw[:4], 'big'):08x}, expected "
                f"0x{magic:08x} ({'images' if magic == 0x803 else 'labels'})"
            )
        arrays[key] = parse_idx(raw, path)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise ValueError(
                f"MNIST: {_find(folder, FILES[split + '_images'][0])} has {len(images)} images "
                f"but {_find(folder, FILES[split + '_labels'][0])} has {len(labels)} labels"
            )
        if labels.size and labels.max() > 9:
            raise ValueError(
                f"{_find(folder, FILES[split + '_labels'][0])}: labels must be 0-9, found "
                f"{int(labels.max())}"
            )
    return arrays
