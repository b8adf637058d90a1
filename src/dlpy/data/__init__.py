"""Datasets and batching: a DataLoader over arrays (in worker processes if asked) and the MNIST
IDX reader/downloader."""

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
from dlpy.data.loader import DataLoader, IterableDataset, default_collate
from dlpy.data.mnist import default_data_dir, download_mnist, load_mnist, parse_idx, read_idx
from dlpy.data.workers import WorkerInfo, get_worker_info

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler",
           "TensorDataset", "WeightedRandomSampler", "WorkerInfo", "default_collate",
           "default_data_dir", "download_mnist", "get_worker_info", "load_mnist", "parse_idx",
           "random_split", "read_idx"]
