"""torch.utils.data.datapipes.iter: the iterable DataPipes dlpy has (``Shuffler``)."""

from dlpy.data.datapipes.iter.combinatorics import ShufflerIterDataPipe

Shuffler = ShufflerIterDataPipe  # torch's registered name

__all__ = ["Shuffler", "ShufflerIterDataPipe"]
