"""torch.utils.data.datapipes (torch's deprecated DataPipes), the part libraries import:
``IterDataPipe`` (an IterableDataset) and ``iter.combinatorics.ShufflerIterDataPipe`` (a
buffer shuffle), so code that tests ``isinstance(dataset, ShufflerIterDataPipe)`` runs. The
rest of the DataPipe graph API (functional forms, graph settings) is not provided."""

from dlpy.data.datapipes import iter  # noqa: A004 - torch's name
from dlpy.data.datapipes.datapipe import IterDataPipe

__all__ = ["IterDataPipe", "iter"]
