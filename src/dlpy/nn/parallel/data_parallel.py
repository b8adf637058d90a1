"""torch.nn.DataParallel on a machine without GPUs: it calls the module (torch's does the same
when there is no CUDA device); ``module`` is the wrapped one, as torch's, so the state_dict
names start with ``module.``. ``data_parallel``, its functional form, needs a device type, as
torch's: dlpy has none, so it raises torch's RuntimeError."""

from __future__ import annotations

from typing import Any

from dlpy.nn.module import Module


class DataParallel(Module):
    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: expected a Module, got {type(module).__name__}")
        self.module = module
        # no GPUs: torch's device_ids is [] too, and it sets neither output_device nor dim
        self.device_ids: list = []

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module: Module, inputs: Any, device_ids: Any = None, output_device: Any = None,
                  dim: int = 0, module_kwargs: Any = None):
    """torch's ``data_parallel(module, inputs, ...)``: module(*inputs) replicated over the
    GPUs; with none (dlpy's one device, the CPU), torch's RuntimeError."""
    raise RuntimeError("device type could not be determined (data_parallel: dlpy has no GPU "
                       "device; call the module, or wrap it in DataParallel)")
