"""Datasets and batching: a DataLoader over arrays and the MNIST IDX reader/downloader."""

from dlpy.data.dataset import Dataset, RandomSampler, Sampler, SequentialSampler, TensorDataset
from dlpy.data.loader import DataLoader, default_collate
from dlpy.data.mnist import default_data_dir, download_mnist, load_mnist, parse_idx, read_idx

__all__ = ["DataLoader", "Dataset", "RandomSampler", "Sampler", "SequentialSampler",
           "TensorDataset", "default_collate", "default_data_dir", "download_mnist", "load_mnist",
           "parse_idx", "read_idx"]
