"""torch.nn.DataParallel on a machine without GPUs: it calls the module (torch's does the same
when there is no CUDA device); ``module`` is the wrapped one, as torch's, so the state_dict
names start with ``module.``."""

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
        self.device_ids: list = []  # no GPUs: torch's is [] too
        self.output_device, self.dim = None, dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
