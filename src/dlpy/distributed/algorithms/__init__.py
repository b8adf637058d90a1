"""torch.distributed.algorithms' names: ``Join``, ``Joinable`` and ``JoinHook`` (the generic
join context manager for uneven inputs, in ``dlpy.distributed.algorithms.join``)."""

from dlpy.distributed.algorithms.join import Join, Joinable, JoinHook

__all__ = ["Join", "JoinHook", "Joinable"]
