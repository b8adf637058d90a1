"""torch.distributed.checkpoint's names: sharded, resharding, atomic checkpoints.

    from dlpy.distributed import checkpoint as dcp
    from dlpy.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
    model_sd, optim_sd = get_state_dict(model, opt)        # FSDP/ZeRO state stays sharded
    dcp.save({"model": model_sd, "optim": optim_sd, "step": step}, checkpoint_id="ckpt/100")
    ...                                                    # later, on any number of ranks
    model_sd, optim_sd = get_state_dict(model, opt)        # the shapes to fill
    state = {"model": model_sd, "optim": optim_sd, "step": 0}
    dcp.load(state, checkpoint_id="ckpt/100")
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])

The directory is torch's format (``.metadata`` and ``__{rank}_{i}.distcp``): torch's
``dcp.load`` reads what dlpy wrote and the other way round. ``async_save`` writes in a
thread after copying the arrays; ``DefaultSavePlanner`` / ``DefaultLoadPlanner`` (and
subclasses) plan what is written and read, as torch's.
"""

from dlpy.distributed.checkpoint.api import async_save, flatten_state_dict, load, save
from dlpy.distributed.checkpoint.filesystem import FileSystemReader, FileSystemWriter
from dlpy.distributed.checkpoint.metadata import (
    BytesStorageMetadata,
    ChunkStorageMetadata,
    Metadata,
    MetadataIndex,
    TensorStorageMetadata,
)
from dlpy.distributed.checkpoint.planner import (
    DefaultLoadPlanner,
    DefaultSavePlanner,
    LoadPlan,
    LoadPlanner,
    ReadItem,
    SavePlan,
    SavePlanner,
    WriteItem,
)

__all__ = ["BytesStorageMetadata", "ChunkStorageMetadata", "DefaultLoadPlanner",
           "DefaultSavePlanner", "FileSystemReader", "FileSystemWriter", "LoadPlan",
           "LoadPlanner", "Metadata", "MetadataIndex", "ReadItem", "SavePlan", "SavePlanner",
           "TensorStorageMetadata", "WriteItem", "async_save", "flatten_state_dict", "load",
           "save"]
