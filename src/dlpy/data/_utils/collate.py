"""torch.utils.data._utils.collate's names (``from torch.utils.data._utils.collate import
default_collate``, ``default_collate_fn_map``): dlpy.data.loader's."""

from dlpy.data.loader import (
    collate,
    collate_float_fn,
    collate_int_fn,
    collate_numpy_array_fn,
    collate_str_fn,
    collate_tensor_fn,
    default_collate,
    default_collate_fn_map,
    default_convert,
)

__all__ = ["collate", "collate_float_fn", "collate_int_fn", "collate_numpy_array_fn",
           "collate_str_fn", "collate_tensor_fn", "default_collate", "default_collate_fn_map",
           "default_convert"]
