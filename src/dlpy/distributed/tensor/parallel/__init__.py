"""torch.distributed.tensor.parallel: tensor parallelism with DTensor (Megatron-style).

    mesh = init_device_mesh("cpu", (2,), mesh_dim_names=("tp",))
    parallelize_module(mlp, mesh, {"fc1": ColwiseParallel(), "fc2": RowwiseParallel()})
    with loss_parallel():  # logits sharded on the classes: never gathered
        F.cross_entropy(logits, labels).backward()
"""

from dlpy.distributed.tensor.parallel.api import parallelize_module
from dlpy.distributed.tensor.parallel.loss import loss_parallel
from dlpy.distributed.tensor.parallel.style import (
    ColwiseParallel,
    ParallelStyle,
    PrepareModuleInput,
    PrepareModuleOutput,
    RowwiseParallel,
    SequenceParallel,
)

__all__ = ["ColwiseParallel", "ParallelStyle", "PrepareModuleInput", "PrepareModuleOutput",
           "RowwiseParallel", "SequenceParallel", "loss_parallel", "parallelize_module"]
