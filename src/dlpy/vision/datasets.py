"""torchvision.datasets that read local files: DatasetFolder / ImageFolder (a folder per
class), FakeData, MNIST / FashionMNIST / KMNIST (IDX files, through dlpy.data.mnist's reader) and
CIFAR10 / CIFAR100 (the "python" pickle batches). Nothing is downloaded: ``download=True`` is
an error that says where to put the files.

An item is ``(image, target)`` after ``transform`` / ``target_transform``. MNIST, CIFAR and
FakeData images are numpy uint8 arrays ((H, W) or (H, W, 3), the layout ToTensor takes) where
torchvision gives PIL images; ImageFolder gives what its loader returns (a PIL RGB image for
PNG/JPEG/..., which needs pillow; an array for ``.npy`` files, which does not)."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlpy.data.dataset import Dataset
from dlpy.data.mnist import _find, read_idx
from dlpy.tensor import Tensor

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
                  ".npy")


def _no_download(name: str, folder: Path, files: str) -> ValueError:
    return ValueError(f"{name}: download=True is not supported (dlpy reads local files only); "
                      f"put {files} in {folder}")


class VisionDataset(Dataset):
    """root, transform and target_transform, and the item protocol."""

    def __init__(self, root, transform: Callable | None = None,
                 target_transform: Callable | None = None):
        self.root = Path(os.path.expanduser(str(root)))
        self.transform, self.target_transform = transform, target_transform

    def _item(self, image, target) -> tuple[Any, Any]:
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, {len(self)} items)"


# ---------------------------------------------------------------------------------------------
# folders

def has_file_allowed_extension(filename: str, extensions) -> bool:
    return filename.lower().endswith(tuple(e.lower() for e in extensions))


def is_image_file(filename: str) -> bool:
    return has_file_allowed_extension(filename, IMG_EXTENSIONS)


def find_classes(directory) -> tuple[list[str], dict[str, int]]:
    """The sorted sub-folder names and their indices."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"find_classes: {directory} is not a folder")
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"find_classes: no class folder found in {directory}")
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(directory, class_to_idx: dict[str, int], extensions=None,
                 is_valid_file: Callable[[str], bool] | None = None,
                 allow_empty: bool = False) -> list[tuple[str, int]]:
    """(path, class index) of every accepted file under each class folder, walked in sorted
    order (symbolic links followed, as torchvision)."""
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("make_dataset: pass exactly one of extensions and is_valid_file")
    if is_valid_file is None:
        def is_valid_file(path: str) -> bool:
            return has_file_allowed_extension(path, extensions)
    directory, samples, empty = Path(directory), [], []
    for name in sorted(class_to_idx):
        before = len(samples)
        for root, _, files in sorted(os.walk(directory / name, followlinks=True)):
            for file in sorted(files):
                path = os.path.join(root, file)
                if is_valid_file(path):
                    samples.append((path, class_to_idx[name]))
        if len(samples) == before:
            empty.append(name)
    if empty and not allow_empty:
        what = f"extensions {', '.join(extensions)}" if extensions else "is_valid_file"
        raise FileNotFoundError(f"make_dataset: no valid file ({what}) in the class folders "
                                f"{empty} of {directory}; pass allow_empty=True to allow it")
    return samples


def pil_loader(path: str):
    """The file as a PIL RGB image (needs pillow)."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"{path}: reading this image needs pillow (pip install pillow); "
                          f".npy images load without it") from None
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def default_loader(path: str):
    """``.npy`` files with numpy, every other image with pillow (pil_loader)."""
    if str(path).lower().endswith(".npy"):
        return np.load(path, allow_pickle=False)
    return pil_loader(path)


class DatasetFolder(VisionDataset):
    """root/class_x/xxx.ext -> (loader(path), index of class_x); classes are the sorted
    sub-folder names."""

    def __init__(self, root, loader: Callable[[str], Any], extensions=None,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 is_valid_file: Callable[[str], bool] | None = None, allow_empty: bool = False):
        super().__init__(root, transform, target_transform)
        self.classes, self.class_to_idx = self.find_classes(self.root)
        self.samples = self.make_dataset(self.root, self.class_to_idx, extensions,
                                         is_valid_file, allow_empty)
        self.loader, self.extensions = loader, extensions
        self.imgs = self.samples
        self.targets = [target for _, target in self.samples]

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None,
                     allow_empty: bool = False):
        return make_dataset(directory, class_to_idx, extensions, is_valid_file, allow_empty)

    def find_classes(self, directory):
        return find_classes(directory)

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        return self._item(self.loader(path), target)

    def __len__(self) -> int:
        return len(self.samples)


class ImageFolder(DatasetFolder):
    """DatasetFolder of images (IMG_EXTENSIONS) read by ``default_loader``."""

    def __init__(self, root, transform: Callable | None = None,
                 target_transform: Callable | None = None,
                 loader: Callable[[str], Any] = default_loader,
                 is_valid_file: Callable[[str], bool] | None = None, allow_empty: bool = False):
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None,
                         transform, target_transform, is_valid_file, allow_empty)


# ---------------------------------------------------------------------------------------------
# generated

class FakeData(VisionDataset):
    """``size`` random images: item i is drawn from np.random.default_rng(i + random_offset)
    (a uint8 (H, W, C) image of ``image_size`` (C, H, W), then the class), so it is the same
    on every read."""

    def __init__(self, size: int = 1000, image_size=(3, 224, 224), num_classes: int = 10,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 random_offset: int = 0):
        super().__init__("", transform, target_transform)
        if size < 0 or num_classes < 1 or len(image_size) != 3:
            raise ValueError(f"FakeData: expected size >= 0, num_classes >= 1 and image_size "
                             f"(C, H, W), got {size}, {num_classes}, {image_size}")
        self.size, self.image_size = int(size), tuple(int(s) for s in image_size)
        self.num_classes, self.random_offset = int(num_classes), int(random_offset)

    def __getitem__(self, index: int):
        if not -self.size <= index < self.size:
            raise IndexError(f"FakeData: index {index} out of range for {self.size} items")
        rng = np.random.default_rng(index % self.size + self.random_offset)
        channels, height, width = self.image_size
        image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
        image = image[..., 0] if channels == 1 else image
        return self._item(image, int(rng.integers(self.num_classes)))

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"FakeData(size={self.size}, image_size={self.image_size})"


# ---------------------------------------------------------------------------------------------
# MNIST

class MNIST(VisionDataset):
    """The IDX files (``.gz`` or raw) in root/MNIST/raw (or root/MNIST, or root): items are
    ((28, 28) uint8 image, int label); ``data`` (N, 28, 28) uint8 and ``targets`` (N,) int64
    are Tensors, as torchvision's."""

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]
    files = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

    def __init__(self, root, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False):
        super().__init__(root, transform, target_transform)
        self.train = train
        images_stem, labels_stem = self.files[bool(train)]
        name = type(self).__name__
        folders = [self.root / name / "raw", self.root / name, self.root]
        if download:
            raise _no_download(name, folders[0], f"{images_stem}(.gz) and {labels_stem}(.gz)")
        for folder in folders:
            images, labels = _find(folder, images_stem), _find(folder, labels_stem)
            if images is not None and labels is not None:
                break
        else:
            raise FileNotFoundError(f"{name}: {images_stem}(.gz) and {labels_stem}(.gz) not "
                                    f"found in {folders[0]} (nor {folders[1]}, {folders[2]})")
        self.data = Tensor(read_idx(images, magic=0x803))
        self.targets = Tensor(read_idx(labels, magic=0x801).astype(np.int64))
        if len(self.data) != len(self.targets):
            raise ValueError(f"{name}: {images} has {len(self.data)} images but {labels} has "
                             f"{len(self.targets)} labels")

    @property
    def raw_folder(self) -> str:
        return str(self.root / type(self).__name__ / "raw")

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.classes)}

    def __getitem__(self, index: int):
        return self._item(self.data.data[index], int(self.targets.data[index]))

    def __len__(self) -> int:
        return len(self.data)


class FashionMNIST(MNIST):
    """MNIST's format in root/FashionMNIST/raw: Zalando's clothing images."""

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class KMNIST(MNIST):
    """MNIST's format in root/KMNIST/raw: Kuzushiji-MNIST, ten cursive Japanese characters."""

    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


# ---------------------------------------------------------------------------------------------
# CIFAR

class CIFAR10(VisionDataset):
    """The python pickle batches in root/cifar-10-batches-py: items are ((32, 32, 3) uint8
    image, int label); ``classes`` from batches.meta."""

    base_folder = "cifar-10-batches-py"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                  "data_batch_5"]
    test_list = ["test_batch"]
    meta = ("batches.meta", "label_names")
    labels_key = "labels"

    def __init__(self, root, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False):
        super().__init__(root, transform, target_transform)
        self.train = train
        folder = self.root / self.base_folder
        names = self.train_list if train else self.test_list
        name = type(self).__name__
        if download:
            raise _no_download(name, folder, f"the extracted batches ({', '.join(names)}, "
                                             f"{self.meta[0]})")
        data, targets = [], []
        for file in names:
            entry = self._unpickle(folder / file)
            if "data" not in entry or self.labels_key not in entry:
                raise ValueError(f"{folder / file}: expected 'data' and {self.labels_key!r} "
                                 f"entries, found {sorted(entry)}")
            data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            targets.extend(int(t) for t in entry[self.labels_key])
        self.data = np.ascontiguousarray(np.concatenate(data).transpose(0, 2, 3, 1))
        self.targets = targets
        if len(self.data) != len(targets):
            raise ValueError(f"{name}: {len(self.data)} images but {len(targets)} labels in "
                             f"{folder}")
        meta = self._unpickle(folder / self.meta[0])
        self.classes = list(meta[self.meta[1]])
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    @staticmethod
    def _unpickle(path: Path) -> dict:
        if not path.exists():
            raise FileNotFoundError(f"{path} not found (extract the dataset's python version "
                                    f"archive there)")
        try:
            with open(path, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
        except (pickle.UnpicklingError, EOFError, ValueError) as err:
            raise ValueError(f"{path}: not a CIFAR pickle batch ({err})") from None
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: expected a pickled dict, got {type(entry).__name__}")
        return entry

    def __getitem__(self, index: int):
        return self._item(self.data[index], self.targets[index])

    def __len__(self) -> int:
        return len(self.data)


class CIFAR100(CIFAR10):
    """CIFAR10's format in root/cifar-100-python (train, test, meta), fine labels."""

    base_folder = "cifar-100-python"
    train_list = ["train"]
    test_list = ["test"]
    meta = ("meta", "fine_label_names")
    labels_key = "fine_labels"


__all__ = ["CIFAR10", "CIFAR100", "DatasetFolder", "FakeData", "FashionMNIST",
           "IMG_EXTENSIONS", "ImageFolder", "KMNIST", "MNIST", "VisionDataset", "default_loader",
           "find_classes", "has_file_allowed_extension", "is_image_file", "make_dataset",
           "pil_loader"]
