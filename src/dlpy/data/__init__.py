"""Datasets and batching: a DataLoader over arrays and the MNIST IDX reader/downloader."""

from dlpy.data.dataset import (
    BatchSampler,
    ConcatDataset,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)
from dlpy.data.loader import DataLoader, default_collate
from dlpy.data.mnist import default_data_dir, download_mnist, load_mnist, parse_idx, read_idx

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "RandomSampler",
           "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "default_collate", "default_data_dir", "download_mnist",
           "load_mnist", "parse_idx", "random_split", "read_idx"]
