"""Finding and reading Fashion-MNIST (chapter 08), the one way every chapter does it.

The data set is looked for, in order, in

1. the folder passed as ``data_dir``;
2. the folder named by ``$FASHION_MNIST_DIR``;
3. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
4. torchvision's own download, into ``$COURSE_DATA_HOME`` (default
   ``~/.cache/linear-nn-course``) — the path a reader on Colab or a laptop takes.

A folder qualifies when it holds the four official IDX files, gzipped or not
(``train-images-idx3-ubyte[.gz]`` and so on).
"""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from course.config import DEBIAN_DIR
_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def data_home() -> Path:
    """The folder where downloads and unpacked copies are kept."""
    default = Path.home() / ".cache" / "linear-nn-course"
    return Path(os.environ.get("COURSE_DATA_HOME", default))


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _complete(folder: Path) -> bool:
    return all(_idx_file(folder, stem) for stem in _FILES.values())


def fashion_mnist_dir(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return a folder holding the four Fashion-MNIST IDX files.

    Args:
        data_dir: a folder to use before any other (it must hold the files).
        download: whether torchvision may download the data set as a last resort.

    Returns:
        The first folder, in the order of the module docstring, that holds all four files.

    Raises:
        FileNotFoundError: naming every place that was looked in.
    """
    candidates = [Path(p) for p in (data_dir, os.environ.get("FASHION_MNIST_DIR")) if p]
    candidates += [DEBIAN_DIR, data_home() / "FashionMNIST" / "raw"]
    for folder in candidates:
        if _complete(folder):
            return folder
    if download:
        return _download_with_torchvision()
    raise FileNotFoundError(
        "Fashion-MNIST not found; looked in " + ", ".join(map(str, candidates))
        + ". Install Debian's dataset-fashion-mnist, set $FASHION_MNIST_DIR, "
        "or allow the download.")


def _download_with_torchvision() -> Path:
    import torchvision

    torchvision.datasets.FashionMNIST(root=str(data_home()), train=True, download=True)
    torchvision.datasets.FashionMNIST(root=str(data_home()), train=False, download=True)
    return data_home() / "FashionMNIST" / "raw"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a NumPy array of its stored type (uint8)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist_uint8(train: bool = True, data_dir=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as tensors: images ``(n, 28, 28)`` uint8 and labels ``(n,)`` int64.

    One copy of the images in memory, a quarter the size of float32.
    """
    folder = fashion_mnist_dir(data_dir)
    split = "train" if train else "test"
    images = read_idx(_idx_file(folder, _FILES[split, "images"]))
    labels = read_idx(_idx_file(folder, _FILES[split, "labels"]))
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def load_fashion_mnist(train: bool = True, data_dir=None, flatten: bool = False,
                       limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as float32 in [0, 1], ``(n, 1, 28, 28)`` or ``(n, 784)`` if ``flatten``.

    Args:
        train: the 60,000-image training split, or the 10,000-image test split.
        data_dir: a folder to look in first (see :func:`fashion_mnist_dir`).
        flatten: return ``(n, 784)`` rows instead of ``(n, 1, 28, 28)`` images.
        limit: keep only the first ``limit`` examples (fast mode).
    """
    images, labels = load_fashion_mnist_uint8(train, data_dir)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    X = images.to(torch.float32).div_(255)
    return (X.reshape(len(X), -1) if flatten else X.unsqueeze(1)), labels


def torchvision_root(data_dir=None) -> Path:
    """A root folder that ``torchvision.datasets.FashionMNIST(root, download=False)`` accepts.

    torchvision looks for the unpacked files in ``root/FashionMNIST/raw``; when the data
    came from elsewhere (Debian's gzipped copies, say) they are unpacked there once.
    """
    folder = fashion_mnist_dir(data_dir)
    raw = data_home() / "FashionMNIST" / "raw"
    if folder.resolve() == raw.resolve() and all((raw / s).is_file() for s in _FILES.values()):
        return data_home()
    raw.mkdir(parents=True, exist_ok=True)
    for stem in _FILES.values():
        if not (raw / stem).is_file():
            src = _idx_file(folder, stem)
            opener = gzip.open if src.suffix == ".gz" else open
            tmp = raw / (stem + ".part")
            with opener(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            tmp.replace(raw / stem)
    return data_home()

