"""torch.autograd.profiler for dlpy (``dlpy.autograd.profiler``): the autograd profiler's
older interface over dlpy's profiler (``dlpy.profiler``, which records the events).

    import dlpy.autograd.profiler as profiler
    with profiler.profile(record_shapes=True) as prof:
        with profiler.record_function("forward"):
            loss = model(x).sum()
    print(prof.key_averages().table(sort_by="self_cpu_time_total"))
    names = [e.name for e in prof.function_events]

``record_function``, ``EventList``, ``FunctionEvent`` and ``FunctionEventAvg`` are
``dlpy.profiler``'s (in torch, ``torch.profiler.record_function`` is this module's too).
``profile`` is torch's legacy class: ``enabled=False`` records nothing (``with`` gives None,
as torch's), the events are ``function_events`` after the block (an empty EventList before),
with ``key_averages``, ``table``, ``total_average``, ``self_cpu_time_total`` and
``export_chrome_trace``. dlpy's events are named by dlpy's ops, not ``aten::`` ones.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable

from dlpy import profiler as _profiler
from dlpy.profiler import EventList, FunctionEvent, FunctionEventAvg, record_function

__all__ = ["DeviceType", "EventList", "FunctionEvent", "FunctionEventAvg", "ProfilerState",
           "emit_itt", "emit_nvtx", "profile", "record_function"]


class DeviceType(enum.IntEnum):
    """torch.autograd.DeviceType (c10's device types as the profiler names them): torch's
    members and values. dlpy's events are all on the CPU."""

    CPU = 0
    CUDA = 1
    MKLDNN = 2
    OPENGL = 3
    OPENCL = 4
    IDEEP = 5
    HIP = 6
    FPGA = 7
    MAIA = 8
    XLA = 9
    Vulkan = 10
    Metal = 11
    XPU = 12
    MPS = 13
    MTIA = 19
    Meta = 14
    HPU = 15
    VE = 16
    Lazy = 17
    IPU = 18
    PrivateUse1 = 20


class ProfilerState(enum.IntEnum):
    """torch.autograd.ProfilerState: the profiler's modes, torch's members and values (dlpy's
    profiler records CPU events only, whatever the mode)."""

    Disabled = 0
    CPU = 1
    CUDA = 2
    NVTX = 3
    ITT = 4
    PRIVATEUSE1 = 5
    KINETO = 6
    KINETO_GPU_FALLBACK = 7
    KINETO_PRIVATEUSE1_FALLBACK = 8
    KINETO_PRIVATEUSE1 = 9


class _NotReentrantError(RuntimeError):
    """A profile entered again while it records: torch's RuntimeError."""


class profile:  # noqa: N801 - torch's name
    """torch.autograd.profiler.profile: records the ops (forward and backward) and the
    ``record_function`` ranges run inside the block when ``enabled``; the options are kept
    as attributes (``record_shapes`` and ``profile_memory`` act, the others record nothing
    more in dlpy, which has no CUDA, stacks, flops or modules to attribute)."""

    def __init__(self, enabled: bool = True, *, use_cuda: bool = False,
                 use_device: str | None = None, record_shapes: bool = False,
                 with_flops: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_modules: bool = False, use_kineto: bool = False,
                 use_cpu: bool = True, experimental_config=None, acc_events: bool = False,
                 custom_trace_id_callback: Callable[[], str] | None = None):
        self.enabled, self.use_cuda, self.use_device = enabled, use_cuda, use_device
        self.record_shapes, self.with_flops = record_shapes, with_flops
        self.profile_memory, self.with_stack, self.with_modules = (profile_memory, with_stack,
                                                                   with_modules)
        self.use_cpu, self.experimental_config = use_cpu, experimental_config
        self.acc_events, self.custom_trace_id_callback = acc_events, custom_trace_id_callback
        self.entered = False
        self.function_events = EventList()
        self._recorder: _profiler.profile | None = None

    def __enter__(self) -> profile | None:
        if not self.enabled:
            return None
        if self.entered:
            raise _NotReentrantError("Profiler context manager is not reentrant")
        self.entered = True
        self._recorder = _profiler.profile(record_shapes=self.record_shapes,
                                           profile_memory=self.profile_memory)
        self._recorder.start()
        return self

    def __exit__(self, *exc) -> bool:
        if not self.enabled or self._recorder is None:
            return False
        recorder, self._recorder = self._recorder, None
        recorder.stop()
        self._last, self.entered = recorder, False
        self.function_events = EventList(sorted(recorder.events(), key=lambda e: e.start_ns),
                                         profile_memory=self.profile_memory)
        return False

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0,
                     group_by_overload_name: bool = False) -> EventList:
        """One ``FunctionEventAvg`` per name (and input shapes) of ``function_events``."""
        return self.function_events.key_averages(group_by_input_shape)

    def table(self, sort_by: str | None = None, row_limit: int = 100,
              max_src_column_width: int = 75, max_name_column_width: int = 55,
              max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False) -> str:
        """``function_events``' table (``EventList.table``)."""
        return self.function_events.table(sort_by=sort_by, row_limit=row_limit,
                                          max_name_column_width=max_name_column_width)

    def total_average(self) -> FunctionEventAvg:
        """Every event added into one ``FunctionEventAvg`` keyed "Total"."""
        total = FunctionEventAvg("Total", "total", None)
        for event in self.function_events:
            total.add(event)
        return total

    @property
    def self_cpu_time_total(self) -> float:
        """The events' self times added up, in microseconds."""
        return sum(event.self_cpu_time_total for event in self.function_events)

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """The last recording in Chrome's trace format (``dlpy.profiler.profile``'s)."""
        if self._last is None:
            raise RuntimeError("export_chrome_trace: the profile has not recorded yet")
        self._last.export_chrome_trace(path)

    _last: _profiler.profile | None = None  # the recorder of the last block


class _NoOpRange:
    """emit_nvtx / emit_itt: torch's annotations for NVIDIA's and Intel's tools; dlpy has
    neither, so the block runs unannotated."""

    def __init__(self, enabled: bool = True, record_shapes: bool = False):
        self.enabled, self.record_shapes = enabled, record_shapes

    def __enter__(self):
        return None

    def __exit__(self, *exc) -> bool:
        return False


class emit_nvtx(_NoOpRange):  # noqa: N801 - torch's name
    __doc__ = _NoOpRange.__doc__


class emit_itt(_NoOpRange):  # noqa: N801 - torch's name
    __doc__ = _NoOpRange.__doc__
