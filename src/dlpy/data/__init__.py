"""Datasets and batching: a DataLoader over arrays (in worker processes if asked) and the MNIST
IDX reader/downloader. ``DistributedSampler`` is dlpy.distributed's, imported on first use."""

from dlpy.data.dataset import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)
from dlpy.data.loader import DataLoader, default_collate, default_convert
from dlpy.data.mnist import default_data_dir, download_mnist, load_mnist, parse_idx, read_idx
from dlpy.data.workers import WorkerInfo, get_worker_info

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
           "DistributedSampler", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert",
           "default_data_dir", "download_mnist", "get_worker_info", "load_mnist", "parse_idx",
           "random_split", "read_idx"]


def __getattr__(name: str):
    # PEP 562: torch.utils.data.DistributedSampler's place, without importing dlpy.distributed
    # (MPI discovery, DDP) for every user of dlpy.data
    if name == "DistributedSampler":
        from dlpy.distributed.sampler import DistributedSampler

        return DistributedSampler
    if name in ("distributed", "sampler", "dataloader", "_utils", "datapipes"):
        # torch.utils.data.distributed.DistributedSampler, torch.utils.data.sampler.Sampler,
        # torch.utils.data.dataloader.DataLoader, torch.utils.data._utils.collate.default_collate:
        # submodules torch imports with the package
        import importlib

        return importlib.import_module(f"dlpy.data.{name}")
    raise AttributeError(f"module 'dlpy.data' has no attribute {name!r}")
