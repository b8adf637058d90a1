"""torch.distributed._composable.fsdp: FSDP2's old import path (``from
torch.distributed._composable.fsdp import FSDPModule, fully_shard``); dlpy.distributed.fsdp2's
names."""

from dlpy.distributed.fsdp2 import (
    CPUOffloadPolicy,
    FSDPModule,
    MixedPrecisionPolicy,
    OffloadPolicy,
    UnshardHandle,
    fully_shard,
)

__all__ = ["CPUOffloadPolicy", "FSDPModule", "MixedPrecisionPolicy", "OffloadPolicy",
           "UnshardHandle", "fully_shard"]
