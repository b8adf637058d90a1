"""torch.utils.data._utils.collate's names (``from torch.utils.data._utils.collate import
default_collate``, ``default_collate_fn_map``): dlpy.data.loader's, and the module's two
constants libraries import (``np_str_obj_array_pattern``: the numpy dtype codes of strings and
objects, which collate refuses to stack)."""

import re

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

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, "
    "dicts or lists; found {}"
)

__all__ = ["collate", "collate_float_fn", "collate_int_fn", "collate_numpy_array_fn",
           "collate_str_fn", "collate_tensor_fn", "default_collate", "default_collate_fn_map",
           "default_convert",
           "default_collate_err_msg_format", "np_str_obj_array_pattern"]
