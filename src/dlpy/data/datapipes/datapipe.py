"""torch.utils.data.datapipes.datapipe: ``IterDataPipe``, the base of iterable DataPipes."""

from dlpy.data.dataset import IterableDataset

__all__ = ["IterDataPipe"]


class IterDataPipe(IterableDataset):
    """An iterable-style DataPipe: an IterableDataset whose ``reset()`` runs before each new
    iteration (nothing by default)."""

    def reset(self) -> None:
        """Prepare a fresh iteration (a subclass clears its buffers, reseeds its generator)."""
