"""``torch.accelerator``: the current accelerator, which dlpy (numpy on the CPU) never has; and
the device-generic ``torch.Stream`` / ``torch.Event`` as a CPU-only torch has them."""

from __future__ import annotations

from dlpy.cuda import NO_CUDA

__all__ = ["current_accelerator", "current_device_index", "device_count", "is_available",
           "set_device_index", "synchronize"]


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False):
    """None: dlpy has no accelerator (torch's answer on a CPU-only machine)."""
    return None


def device_count() -> int:
    return 0


def current_device_index() -> int:
    raise RuntimeError(f"torch.accelerator.current_device_index: {NO_CUDA} (nor any "
                       "accelerator)")


def set_device_index(device) -> None:
    raise RuntimeError(f"torch.accelerator.set_device_index: {NO_CUDA} (nor any accelerator)")


def synchronize(device=None) -> None:
    """No-op."""


# ---------------------------------------------------------------------------- torch.Stream
# c10's DeviceType numbers, which Stream and Event report as ``device_type``
_DEVICE_TYPE_CODES = {"cpu": 0, "cuda": 1, "mkldnn": 2, "opengl": 3, "opencl": 4, "ideep": 5,
                      "hip": 6, "fpga": 7, "maia": 8, "xla": 9, "vulkan": 10, "xpu": 12,
                      "mps": 13, "meta": 14, "hpu": 15, "ve": 16, "lazy": 17, "ipu": 18,
                      "mtia": 19, "privateuseone": 20}
_NO_EVENTS = "cpu backend doesn't support events."


def _stream_device(device, name: str):
    """The device of a Stream or Event: the CPU when None (no accelerator), the CPU or meta
    device named; torch's RuntimeError for an accelerator (none is linked) or an index."""
    from dlpy.device import device as _device

    if device is None:
        return _device("cpu")
    if isinstance(device, int) and not isinstance(device, bool):
        raise RuntimeError(f"{name}: Cannot access accelerator device when none is available.")
    where = _device(device)
    if where.type not in ("cpu", "meta"):
        raise RuntimeError(f"{name}: PyTorch is not linked with support for {where.type} "
                           f"devices")
    return where


class Stream:
    """torch.Stream, the device-generic stream, as a CPU-only torch has it: the CPU's (or the
    meta device's) one stream, id 0, on which work is always done (``query()`` True,
    ``synchronize()`` and ``wait_event()`` return at once); ``record_event`` and
    ``wait_stream`` raise RuntimeError (the CPU backend has no events). Made from a device
    (``Stream()``, ``Stream("cpu")``) or from ``stream_id``, ``device_index``, ``device_type``
    (c10's DeviceType number: 0 is the CPU)."""

    def __init__(self, device=None, *, priority: int = 0, stream_id: int | None = None,
                 device_index: int | None = None, device_type: int | None = None):
        from dlpy.device import device as _device

        if stream_id is not None or device_index is not None or device_type is not None:
            if None in (stream_id, device_index, device_type):
                raise TypeError("Stream(): stream_id, device_index and device_type are given "
                                "together")
            names = {code: kind for kind, code in _DEVICE_TYPE_CODES.items()}
            if device_type not in (0, 14):
                kind = names.get(device_type, str(device_type))
                raise RuntimeError(f"Stream: PyTorch is not linked with support for {kind} "
                                   f"devices")
            self._type, self._index, self.stream_id = names[device_type], device_index, stream_id
        else:
            where = _stream_device(device, "Stream")
            self._type, self.stream_id = where.type, 0
            self._index = -1 if where.index is None else where.index
        self._device = _device(self._type) if self._index < 0 else _device(self._type,
                                                                            self._index)

    @property
    def device(self):
        return self._device

    @property
    def device_type(self) -> int:
        return _DEVICE_TYPE_CODES[self._type]

    @property
    def device_index(self) -> int:
        return self._index

    def query(self) -> bool:
        """True: the CPU's work is done when an op returns."""
        return True

    def synchronize(self) -> None:
        """Nothing to wait for."""

    def wait_event(self, event) -> None:
        """Nothing to wait for."""

    def wait_stream(self, stream) -> None:
        raise RuntimeError(_NO_EVENTS)

    def record_event(self, event=None):
        raise RuntimeError(_NO_EVENTS)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Stream):
            return NotImplemented
        return (self.stream_id, self._index, self._type) == (other.stream_id, other._index,
                                                             other._type)

    def __hash__(self) -> int:
        return hash((self.stream_id, self._index, self._type))

    def __repr__(self) -> str:
        return (f"torch.Stream device_type={self._type}, device_index={self._index}, "
                f"stream_id={self.stream_id}")


class Event:
    """torch.Event, the device-generic event, as a CPU-only torch has it: ``query()`` True,
    ``synchronize()`` and ``wait()`` return at once, ``record()`` raises RuntimeError (the CPU
    backend has no events), so ``elapsed_time`` raises ValueError (the events were made without
    ``enable_timing=True``, or never recorded)."""

    def __init__(self, device=None, *, enable_timing: bool = False, blocking: bool = False,
                 interprocess: bool = False):
        from dlpy.device import device as _device

        where = _stream_device(device, "Event")
        self._type = where.type
        self._index = -1 if where.index is None else where.index
        self._device = _device(self._type) if self._index < 0 else where
        self.event_flag = int(bool(enable_timing))
        self.event_id = 0

    @property
    def device(self):
        return self._device

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        """Nothing to wait for."""

    def wait(self, stream=None) -> None:
        """Nothing to wait for."""

    def record(self, stream=None) -> None:
        raise RuntimeError(_NO_EVENTS)

    def elapsed_time(self, end_event) -> float:
        if not isinstance(end_event, Event):
            raise TypeError(f"elapsed_time(): argument 'end_event' must be Event, not "
                            f"{type(end_event).__name__}")
        if not (self.event_flag and end_event.event_flag):
            raise ValueError("Both events must be created with argument 'enable_timing=True'.")
        raise ValueError("Both events must be recorded before calculating elapsed time.")

    def __repr__(self) -> str:
        return (f"torch.Event device_type={self._type}, device_index={self._index}, "
                f"event_flag={self.event_flag}, event_id={self.event_id}")
