"""Datasets and batching: a DataLoader over arrays and the MNIST IDX reader/downloader."""

from dlpy.data.loader import DataLoader
from dlpy.data.mnist import default_data_dir, download_mnist, load_mnist, parse_idx, read_idx

__all__ = ["DataLoader", "default_data_dir", "download_mnist", "load_mnist", "parse_idx",
           "read_idx"]
