"""torch.distributed._composable: the old import path of FSDP2 (``_composable.fsdp``: the
names of dlpy.distributed.fsdp2, torch.distributed.fsdp's ``fully_shard`` and ``FSDPModule``)."""
