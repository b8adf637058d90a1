"""Where the time goes, per op, forward and backward: ``torch.profiler`` for dlpy.

    from dlpy.profiler import profile, record_function
    with profile(record_shapes=True, profile_memory=True) as prof:
        with record_function("forward"):
            loss = model(x).sum()
        loss.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")      # chrome://tracing or ui.perfetto.dev

While a profile records, the engine's call sites run timed versions (``autograd_function
.swap_call_sites``), put back when it stops (an exception included): ``Op.__call__`` (every
op's forward, named ``op.describe()``), a ``Function``'s forward (named by its class, as
torch's, the ops it runs nested inside), the engine's calls of every op's backward
(``<Op>Backward``) and of its ``backward_graph`` under ``autograd.grad(create_graph=True)``;
each optimiser's ``step`` / ``zero_grad`` become ranges (``Optimizer.step#SGD.step``, as
torch's). Outside a profile nothing is swapped, so the engine's hot path is the same code.
Under ``utils.checkpoint`` the traced ``Op.__call__`` runs the timed one underneath. Times are
wall time (``time.perf_counter_ns``); an event's self time is its time less its children's (the
events that began and ended inside it on the same thread). Profiling is process-wide, as torch's
CPU profiler: every thread's ops are recorded, with its thread id.
"""

from __future__ import annotations

import functools
import gzip
import json
import numbers
import os
import socket
import sys
import threading
import time
import types
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from enum import Enum

import numpy as np

from dlpy.autograd_function import swap_call_sites
from dlpy.ops import ArgAssertionError
from dlpy.optim.optimizer import register_optimizer_step_post_hook
from dlpy.tensor import Op, Tensor

__all__ = [
    "EventList", "FunctionEvent", "FunctionEventAvg", "KinetoStepTracker", "ProfilerAction",
    "ProfilerActivity", "kineto_available", "profile", "record_function",
    "register_optimizer_step_post_hook", "schedule", "supported_activities",
    "tensorboard_trace_handler",
]

_now = time.perf_counter_ns  # the clock; a test may replace it with a fake one

_active: list[profile] = []  # profiles recording now, outermost first
_events: list[FunctionEvent] = []  # finished events, shared by the active profiles
_record_shapes = False  # what any active profile asks for
_profile_memory = False
_local = threading.local()  # per thread: .stack (the open events), .tid
_optimizer_steps: list[tuple[type, str, Callable]] = []  # (class, method, original) swapped
_swapped = None  # the timed call sites while a profile records (swap_call_sites)


class ProfilerActivity(Enum):
    """The activity groups torch names (its values, ``int()`` of one too); dlpy runs on numpy,
    so only the CPU is profiled (``supported_activities``), the others are left out as torch
    leaves out a device it lacks."""

    CPU = 0
    XPU = 1
    MTIA = 4
    CUDA = 2
    HPU = 3
    PrivateUse1 = 5

    def __int__(self) -> int:
        return self.value


def supported_activities() -> set[ProfilerActivity]:
    """The activities this build can profile: the CPU."""
    return {ProfilerActivity.CPU}


class ProfilerAction(Enum):
    """What a ``schedule`` says to do at a step, as torch's (DEVICE_STOPPED is torch's own,
    never returned by a schedule)."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3
    DEVICE_STOPPED = 4


class RecordFunctionArgError(TypeError, RuntimeError):
    """A record_function name or args that is not a str (torch: RuntimeError on entry)."""


class RecordFunctionStateError(IndexError, AssertionError):
    """record_function.__exit__ without __enter__ (torch: AssertionError)."""


FORWARD, BACKWARD, RANGE = "forward", "backward", "range"


class FunctionEvent:
    """One op's forward or backward, or one ``record_function`` range: ``name``, ``kind``
    ('forward', 'backward', 'range'), ``thread`` (the OS thread id), start and end in ns,
    ``input_shapes`` (with ``record_shapes``), the bytes of the arrays it produced
    (``self_cpu_memory_usage``) and those of its children too (``cpu_memory_usage``), with
    ``profile_memory``. Times in microseconds, as torch's."""

    __slots__ = ("name", "kind", "thread", "start_ns", "end_ns", "input_shapes",
                 "children_ns", "self_cpu_memory_usage", "cpu_memory_usage", "trace_name")

    def __init__(self, name: str, kind: str, input_shapes: list | None = None):
        self.trace_name = name  # the name in a Chrome trace (ProfilerStep#N keeps its N)
        if kind == RANGE and name.startswith("ProfilerStep#"):  # torch's events: one name
            name = "ProfilerStep*"
        self.name, self.kind, self.input_shapes = name, kind, input_shapes
        self.thread = _local.tid
        self.children_ns = 0
        self.self_cpu_memory_usage = self.cpu_memory_usage = 0
        self.start_ns = self.end_ns = 0

    count = 1  # as a row of a table

    @property
    def key(self) -> str:
        return self.name

    @property
    def cpu_time_total(self) -> float:
        return (self.end_ns - self.start_ns) / 1000

    cpu_time = cpu_time_total

    @property
    def self_cpu_time_total(self) -> float:
        return (self.end_ns - self.start_ns - self.children_ns) / 1000

    def __repr__(self) -> str:
        return (f"<FunctionEvent {self.name} {self.kind} thread={self.thread} "
                f"cpu_time_total={self.cpu_time_total:.3f}us "
                f"self_cpu_time_total={self.self_cpu_time_total:.3f}us>")


class FunctionEventAvg:
    """The events of one name (and input shapes, when grouped by them) added up: ``count``,
    ``cpu_time_total``, ``self_cpu_time_total``, ``cpu_time`` (the mean), memory (bytes)."""

    def __init__(self, key: str, kind: str, input_shapes: list | None):
        self.key, self.kind, self.input_shapes = key, kind, input_shapes
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0

    def add(self, event: FunctionEvent) -> None:
        self.count += 1
        self.cpu_time_total += event.cpu_time_total
        self.self_cpu_time_total += event.self_cpu_time_total
        self.cpu_memory_usage += event.cpu_memory_usage
        self.self_cpu_memory_usage += event.self_cpu_memory_usage

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total / self.count if self.count else 0.0

    def __repr__(self) -> str:
        return (f"<FunctionEventAvg {self.key} count={self.count} "
                f"cpu_time_total={self.cpu_time_total:.3f}us "
                f"self_cpu_time_total={self.self_cpu_time_total:.3f}us>")


_SORT_KEYS = ("cpu_time", "cpu_time_total", "self_cpu_time_total", "cpu_memory_usage",
              "self_cpu_memory_usage", "count")


def _averaged(events: Iterable, group_by_input_shape: bool, profile_memory: bool) -> EventList:
    """The events grouped by name (and input shapes): one ``FunctionEventAvg`` each, in order
    of first appearance."""
    rows: dict = {}
    for event in sorted(events, key=lambda e: e.start_ns):
        shapes = event.input_shapes if group_by_input_shape else None
        key = (event.name, str(shapes))
        row = rows.get(key)
        if row is None:
            row = rows[key] = FunctionEventAvg(event.name, event.kind, shapes)
        row.add(event)
    return EventList(rows.values(), group_by_input_shape, profile_memory)


class EventList(list):
    """Events (``prof.events()``) or their averages (``prof.key_averages()``), with
    ``table()``."""

    def __init__(self, events: Iterable = (), grouped_by_shape: bool = False,
                 profile_memory: bool = False):
        super().__init__(events)
        self.grouped_by_shape = grouped_by_shape
        self.profile_memory = profile_memory

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        """One ``FunctionEventAvg`` per name (and input shapes) of these events, in order of
        first appearance (as ``profile.key_averages``)."""
        return _averaged(self, group_by_input_shape, self.profile_memory)

    def table(self, sort_by: str | None = None, row_limit: int = 100,
              max_name_column_width: int = 55, max_src_column_width: int = 75,
              max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False, time_unit: str | None = None) -> str:
        """PyTorch's table: a row per entry, sorted by ``sort_by`` (largest first; None keeps
        the order of first appearance), at most ``row_limit`` rows, and the total self time
        of all entries. torch's layout keywords (source/shape column widths, ``header``,
        ``top_level_events_only``, ``time_unit``) are accepted; dlpy's rows have no source or
        shape columns and every recorded event is a top-level one."""
        if sort_by is not None and sort_by not in _SORT_KEYS:
            raise ValueError(f"table: sort_by must be None or one of {', '.join(_SORT_KEYS)}, "
                             f"got {sort_by!r}")
        if isinstance(row_limit, bool) or not isinstance(row_limit, int):
            raise TypeError(f"table: row_limit must be an int, got {row_limit!r}")
        rows = list(self)
        if sort_by is not None:
            rows.sort(key=lambda row: getattr(row, sort_by), reverse=True)
        if row_limit >= 0:
            rows = rows[:row_limit]
        return _table(self, rows, max_name_column_width)


def _format_time(us: float) -> str:
    if abs(us) >= 1e6:
        return f"{us / 1e6:.3f}s"
    if abs(us) >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_memory(nbytes: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(nbytes) >= size:
            return f"{nbytes / size:.2f} {unit}"
    return f"{nbytes} B"


def _table(entries: EventList, rows: list, max_name_width: int) -> str:
    total = sum(e.self_cpu_time_total for e in entries)
    whole = total or 1.0  # percentages of nothing are 0 %
    names = [_short(row.key, max_name_width) for row in rows]
    name_width = min(max([len(n) for n in names] + [4]) + 4, max_name_width)
    headers = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
    if entries.profile_memory:
        headers += ["CPU Mem", "Self CPU Mem"]
    headers.append("# of Calls")
    shapes = entries.grouped_by_shape
    shape_width = max([len(str(row.input_shapes)) for row in rows] + [12]) + 4
    widths = [name_width] + [12] * len(headers) + ([shape_width] if shapes else [])
    headers = ["Name", *headers] + (["Input Shapes"] if shapes else [])
    rule = "".join("-" * w + "  " for w in widths)

    def line(cells: list[str]) -> str:
        return "".join(f"{c:>{w}}  " for c, w in zip(cells, widths))

    out = [rule, line(headers), rule]
    for name, row in zip(names, rows):
        cells = [name, f"{row.self_cpu_time_total / whole * 100:.2f}%",
                 _format_time(row.self_cpu_time_total),
                 f"{row.cpu_time_total / whole * 100:.2f}%", _format_time(row.cpu_time_total),
                 _format_time(row.cpu_time)]
        if entries.profile_memory:
            cells += [_format_memory(row.cpu_memory_usage),
                      _format_memory(row.self_cpu_memory_usage)]
        cells.append(str(row.count))
        if shapes:
            cells.append(str(row.input_shapes))
        out.append(line(cells))
    out += [rule, f"Self CPU time total: {_format_time(total)}", ""]
    return "\n".join(out)


def _short(name: str, width: int) -> str:
    return name if len(name) <= width - 4 else name[:width - 7] + "..."


# ---------------------------------------------------------------------------- recording
def _stack() -> list:
    try:
        return _local.stack
    except AttributeError:  # the first event of this thread
        _local.stack = []
        _local.tid = threading.get_native_id()
        return _local.stack


def _close(event: FunctionEvent, stack: list, produced: int) -> None:
    """Finish ``event`` (its end time set): take it off its thread's stack, charge its time
    and memory to the event it ran inside, and keep it while a profile records."""
    if stack and stack[-1] is event:
        stack.pop()
    elif event in stack:  # ranges closed out of order (a generator): still take it off
        stack.remove(event)
    event.self_cpu_memory_usage = produced
    event.cpu_memory_usage += produced
    if stack:
        parent = stack[-1]
        parent.children_ns += event.end_ns - event.start_ns
        parent.cpu_memory_usage += event.cpu_memory_usage
    if _active:
        _events.append(event)


def _shapes(values) -> list:
    return [list(v.shape) if isinstance(v, Tensor) else [] for v in values]


def _nbytes(grads) -> int:
    total = 0
    for g in grads:
        if g is None:
            continue
        if isinstance(g, Tensor):
            g = g.data
        if isinstance(g, np.ndarray):
            total += g.nbytes
        else:  # a SliceGrad (values) or SparseGrad (indices, values)
            indices = getattr(g, "indices", None)
            total += g.values.nbytes + (indices.nbytes if indices is not None else 0)
    return total


def _backward_name(op: Op) -> str:
    return op.describe().split("(", 1)[0].split("[", 1)[0] + "Backward"


def _timed_op_call(plain: Callable) -> Callable:
    def timed_call(self, *inputs):
        """``Op.__call__`` while a profile records: the forward as one event."""
        stack = _stack()
        event = FunctionEvent(self.describe(), FORWARD,
                              _shapes(inputs) if _record_shapes else None)
        stack.append(event)
        produced = 0
        event.start_ns = _now()
        try:
            out = plain(self, *inputs)
            if _profile_memory:
                produced = out.data.nbytes
        finally:
            event.end_ns = _now()
            _close(event, stack, produced)
        return out

    return timed_call


def _timed_function_forward(plain: Callable) -> Callable:
    def timed_forward(cls, ctx, args, kwargs):
        """A Function's forward while a profile records: one event named by the class (as
        torch's), the ops it runs its children."""
        stack = _stack()
        event = FunctionEvent(cls.__name__, FORWARD, _shapes(args) if _record_shapes else None)
        stack.append(event)
        event.start_ns = _now()
        try:
            return plain(cls, ctx, args, kwargs)
        finally:
            event.end_ns = _now()
            _close(event, stack, 0)  # its ops' arrays count as its children's

    return timed_forward


def _timed_backward(plain: Callable) -> Callable:
    def timed_backward(op: Op, grad_output, *rest):
        """The engine's ``_checked_grads`` (op.backward) or ``_checked_graph_grads``
        (backward_graph under create_graph; the ops it records are its children) while a
        profile records: one event."""
        stack = _stack()
        event = FunctionEvent(_backward_name(op), BACKWARD,
                              [list(grad_output.shape)] if _record_shapes else None)
        stack.append(event)
        produced = 0
        event.start_ns = _now()
        try:
            grads = plain(op, grad_output, *rest)
            if _profile_memory:
                produced = _nbytes(grads)
        finally:
            event.end_ns = _now()
            _close(event, stack, produced)
        return grads

    return timed_backward


def _optimizer_range(method: Callable, name: str) -> Callable:
    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        if getattr(_local, "in_optimizer", False):  # a subclass's step calling super().step
            return method(self, *args, **kwargs)
        _local.in_optimizer = True
        try:
            with record_function(f"Optimizer.{name}#{type(self).__name__}.{name}"):
                return method(self, *args, **kwargs)
        finally:
            _local.in_optimizer = False

    timed._profiled = True
    return timed


def _swap_optimizers() -> None:
    """Wrap ``step`` and ``zero_grad`` of every optimiser class defined so far (none if
    dlpy.optim is not imported: then no optimiser exists yet) in a range."""
    module = sys.modules.get("dlpy.optim.optimizer")
    if module is None:
        return
    classes, todo = [], [module.Optimizer]
    while todo:
        cls = todo.pop()
        classes.append(cls)
        todo.extend(cls.__subclasses__())
    for cls in classes:
        for name in ("step", "zero_grad"):
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_profiled", False):
                _optimizer_steps.append((cls, name, method))
                setattr(cls, name, _optimizer_range(method, name))


def _install() -> None:
    global _swapped
    # order 0: inside utils.checkpoint's tracing (order 1), which hands the timed call the
    # tensors it traced
    _swapped = swap_call_sites(0, op_call=_timed_op_call,
                               function_forward=_timed_function_forward,
                               checked_grads=_timed_backward,
                               checked_graph_grads=_timed_backward)
    _swapped.__enter__()
    _swap_optimizers()


def _uninstall() -> None:
    global _swapped
    if _swapped is not None:
        _swapped.__exit__(None, None, None)
        _swapped = None
    while _optimizer_steps:
        cls, name, method = _optimizer_steps.pop()
        setattr(cls, name, method)


def _update_flags() -> None:
    global _record_shapes, _profile_memory
    _record_shapes = any(p.record_shapes for p in _active)
    _profile_memory = any(p.profile_memory for p in _active)


# ---------------------------------------------------------------------------- the API
class record_function:  # noqa: N801 - torch's name
    """A named range of your own ("data", "forward", "optimizer step"), as a context manager
    or a decorator; ranges nest, and the ops inside are their children. Records nothing
    outside a profile. ``name`` and ``args`` (a str or None, kept as given) are checked on
    entry, as torch's (bytes are read as UTF-8)."""

    def __init__(self, name: str, args: str | None = None):
        self.name, self.args = name, args
        self._open: list[FunctionEvent | None] = []  # a stack: the object may be re-entered

    def _checked_name(self) -> str:
        for what, value, optional in (("name", self.name, False), ("args", self.args, True)):
            if not (isinstance(value, (str, bytes)) or (optional and value is None)):
                kind = "Optional[str]" if optional else "str"
                raise RecordFunctionArgError(
                    f"record_function: expected a value of type '{kind}' for argument "
                    f"'{what}' but instead found type '{type(value).__name__}'")
        name = self.name
        return name.decode() if isinstance(name, bytes) else name

    def __enter__(self) -> record_function:
        name = self._checked_name()
        event = None
        if _active:
            stack = _stack()
            event = FunctionEvent(name, RANGE, [] if _record_shapes else None)
            stack.append(event)
            event.start_ns = _now()
        self._open.append(event)
        return self

    def __exit__(self, *exc) -> None:
        if not self._open:
            raise RecordFunctionStateError("Expected record to be set")
        event = self._open.pop()
        if event is not None:
            event.end_ns = _now()
            _close(event, _stack(), 0)

    def __call__(self, function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with record_function(self.name, self.args):
                return function(*args, **kwargs)

        return wrapper


def _check_number(name: str, value) -> None:
    if not isinstance(value, numbers.Real):  # torch compares each with 0: a TypeError
        raise TypeError(f"schedule: {name} must be a number, got {value!r}")


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0,
             skip_first_wait: int = 0) -> Callable[[int], ProfilerAction]:
    """torch.profiler.schedule: after ``skip_first`` steps, cycles of ``wait`` steps idle,
    ``warmup`` steps idle (dlpy's profiler needs no warm-up; kept for torch's counts, and
    torch's warning when there is none) and ``active`` steps recorded, the last of which saves
    (``on_trace_ready``); ``repeat`` cycles (0: until the profile ends); ``skip_first_wait``
    (non-zero) skips the first cycle's wait. Returns step -> ProfilerAction (a negative step:
    AssertionError, as torch's)."""
    counts = {"wait": wait, "warmup": warmup, "active": active, "repeat": repeat,
              "skip_first": skip_first}
    for name, value in counts.items():
        _check_number(name, value)
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ArgAssertionError(
            f"Invalid profiler schedule arguments. Got wait={wait} (need >= 0), warmup={warmup} "
            f"(need >= 0), active={active} (need > 0), repeat={repeat} (need >= 0), "
            f"skip_first={skip_first} (need >= 0).")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results",
                      stacklevel=2)
    cycle = wait + warmup + active

    def action(step: int) -> ProfilerAction:
        if step < 0:
            raise ArgAssertionError(f"Step must be non-negative. Got {step}.")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait:
            step += wait
        if repeat and step >= repeat * cycle:
            return ProfilerAction.NONE
        at = step % cycle
        if at < wait:
            return ProfilerAction.NONE
        if at < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if at < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return action


def _default_schedule(step: int) -> ProfilerAction:
    """Without a schedule: record every step."""
    return ProfilerAction.RECORD


_RECORDING = (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)


def _parse_activities(activities: Iterable | None, use_cuda: bool | None) -> set:
    """torch's checks: the groups named (``ProfilerActivity`` members, or the keys of a dict
    of them), none: AssertionError; one named twice: ValueError; anything else: TypeError.
    Groups this build lacks (all but the CPU) are left out when the profile starts."""
    if activities is not None:
        activities = list(activities)
        chosen = set()
        for item in activities:
            if isinstance(item, ProfilerActivity):
                chosen.add(item)
            elif isinstance(item, dict):
                chosen.update(item.keys())
    else:
        chosen = supported_activities()
    if use_cuda is not None:
        warnings.warn("`use_cuda` is deprecated, use `activities` argument instead",
                      FutureWarning, stacklevel=3)
        if use_cuda:
            chosen.add(ProfilerActivity.CUDA)
        else:
            chosen.discard(ProfilerActivity.CUDA)
    if not chosen:
        raise ArgAssertionError("No valid profiler activities found")
    if activities is not None:
        seen: set = set()
        for item in activities:
            if not isinstance(item, (ProfilerActivity, dict)):
                raise TypeError(f"Expected ProfilerActivity or dict, got {type(item)}")
            for key in (item,) if isinstance(item, ProfilerActivity) else item:
                if key in seen:
                    raise ValueError(f"Activity {key} specified more than once")
                seen.add(key)
    return chosen


class profile:  # noqa: N801 - torch's name
    """Record every op's forward and backward and every ``record_function`` range while the
    block runs (``start()`` / ``stop()`` by hand). ``record_shapes``: the input shapes of each
    op; ``profile_memory``: the bytes of the arrays each produced. With a ``schedule`` (called
    for step 0 on construction, as torch's), ``step()`` marks the end of a training step and
    only the scheduled steps are recorded (each inside a ``ProfilerStep#N`` range, an event
    named ``ProfilerStep*``); ``on_trace_ready(prof)`` is called when a recording ends as
    torch's schedule transitions say: after a RECORD_AND_SAVE step, or when the block ends
    while recording (a recording cut short by a schedule going from RECORD to NONE or WARMUP is
    dropped, with torch's warning). ``with_stack``, ``with_flops``, ``with_modules``,
    ``experimental_config``, ``execution_trace_observer``, ``acc_events``,
    ``custom_trace_id_callback`` and ``post_processing_timeout_s`` are accepted and kept
    (dlpy records none of that); ``use_cuda`` warns, as torch's. Profiles nest: each sees what
    ran while it recorded."""

    def __init__(self, *, activities: Iterable | None = None,
                 schedule: Callable[[int], ProfilerAction] | None = None,
                 on_trace_ready: Callable[[profile], object] | None = None,
                 record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_flops: bool = False, with_modules: bool = False,
                 experimental_config=None, execution_trace_observer=None,
                 acc_events: bool = False, use_cuda: bool | None = None,
                 custom_trace_id_callback: Callable[[], str] | None = None,
                 post_processing_timeout_s: float | None = None):
        self.activities = _parse_activities(activities, use_cuda)
        self.record_shapes, self.profile_memory = record_shapes, profile_memory
        self.with_stack, self.with_flops, self.with_modules = with_stack, with_flops, with_modules
        self.experimental_config = experimental_config
        self.execution_trace_observer = execution_trace_observer
        self.acc_events = acc_events
        self.custom_trace_id_callback = custom_trace_id_callback
        self.post_processing_timeout_s = post_processing_timeout_s
        self.record_steps = bool(schedule)  # as torch's `if schedule:`
        self.schedule = schedule if schedule else _default_schedule
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self.current_action = self._prev_action = self._scheduled(0)
        self._events = EventList()
        self._first = self._start_ns = 0
        self._recording = self._running = False
        self._step_range: record_function | None = None

    def _scheduled(self, step: int) -> ProfilerAction:
        action = self.schedule(step)
        if action == ProfilerAction.DEVICE_STOPPED:
            raise ValueError("ProfilerAction.DEVICE_STOPPED is set internally by the profiler "
                             "and must not be returned by a user-provided schedule")
        return action

    # -- recording, one stretch at a time
    def _begin(self) -> None:
        self._first, self._start_ns = len(_events), _now()
        _active.append(self)
        if len(_active) == 1:
            _install()
        _update_flags()
        self._recording = True

    def _end(self) -> None:
        events = [e for e in _events[self._first:] if e.start_ns >= self._start_ns]
        self._events = EventList(events, profile_memory=self.profile_memory)
        _active.remove(self)
        if not _active:
            _uninstall()
            _events.clear()
        _update_flags()
        self._recording = False

    def _trace_ready(self) -> None:
        if self.on_trace_ready:  # (as torch's: a non-callable one fails here)
            self.on_trace_ready(self)

    def _transit(self, before: ProfilerAction, after: ProfilerAction | None) -> None:
        """torch's action map from ``before`` to ``after`` (None: the profile stops)."""
        if before is ProfilerAction.RECORD_AND_SAVE:
            self._end()
            self._trace_ready()
            if after in _RECORDING:
                self._begin()
        elif before is ProfilerAction.RECORD:
            if after in _RECORDING:
                return
            if after is not None:
                warnings.warn(f"Incorrect schedule: RECORD followed by {after.name}",
                              stacklevel=3)
            self._end()
            if after is None:
                self._trace_ready()
        elif after in _RECORDING:
            self._begin()
        elif before is ProfilerAction.WARMUP and after in (ProfilerAction.NONE, None):
            if after is not None:
                warnings.warn("Incorrect schedule: WARMUP followed by NONE", stacklevel=3)
            self._begin()  # torch starts and stops a trace: an empty one
            self._end()

    def _enter_step_range(self) -> None:
        if self.record_steps:
            self._step_range = record_function(f"ProfilerStep#{self.step_num}")
            self._step_range.__enter__()

    def _exit_step_range(self) -> None:
        if self._step_range is not None:
            self._step_range.__exit__(None, None, None)
            self._step_range = None

    def start(self) -> None:
        if self._running:
            raise RuntimeError("profile.start: this profile is already running")
        self._running = True
        self._transit(ProfilerAction.NONE, self.current_action)
        self._enter_step_range()

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self._exit_step_range()
        self._transit(self.current_action, None)
        self.current_action = self._prev_action

    def step(self) -> None:
        """The end of a training step: the schedule's action for the next one, and the
        transition to it (start or stop recording, ``on_trace_ready`` after a saving step)."""
        self._exit_step_range()
        before = self.current_action
        action = self._scheduled(self.step_num + 1)
        self.step_num += 1
        self.current_action = self._prev_action = action
        if self._running:
            self._transit(before, action)
            self._enter_step_range()

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- results
    def events(self) -> EventList:
        """Every event of the last recording, in the order they finished."""
        return self._events

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        """One ``FunctionEventAvg`` per name (and input shapes), in order of first
        appearance."""
        if group_by_input_shape and not self.record_shapes:
            raise ValueError("key_averages: group_by_input_shape needs "
                             "profile(record_shapes=True)")
        return _averaged(self._events, group_by_input_shape, self.profile_memory)

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """Write the events as Chrome's trace format (JSON: open it in chrome://tracing or
        ui.perfetto.dev), atomically. Times in microseconds from the profile's start."""
        from dlpy.io import atomic_write_bytes

        pid = os.getpid()
        trace = []
        for e in sorted(self._events, key=lambda e: (e.start_ns, -e.end_ns)):
            entry = {"name": e.trace_name, "ph": "X",
                     "cat": "user_annotation" if e.kind == RANGE else "cpu_op",
                     "ts": (e.start_ns - self._start_ns) / 1000,
                     "dur": (e.end_ns - e.start_ns) / 1000, "pid": pid, "tid": e.thread,
                     "args": {"kind": e.kind}}
            if e.input_shapes is not None:
                entry["args"]["Input Dims"] = e.input_shapes
            if self.profile_memory:
                entry["args"]["Memory"] = e.self_cpu_memory_usage
            trace.append(entry)
        document = {"schemaVersion": 1, "deviceProperties": [], "traceEvents": trace,
                    "traceName": os.fspath(path), "displayTimeUnit": "ms"}
        data = json.dumps(document).encode()
        if os.fspath(path).endswith(".gz"):  # (torch's: a path ending .gz is gzipped)
            data = gzip.compress(data)
        atomic_write_bytes(path, data)


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None,
                              use_gzip: bool = False, use_python_export: bool = False
                              ) -> Callable[[profile], None]:
    """torch.profiler.tensorboard_trace_handler: an ``on_trace_ready`` that writes each trace
    to ``dir_name`` (created if needed) as ``<worker>.<time in ns>.pt.trace.json`` (``.gz``
    with ``use_gzip``) by ``export_chrome_trace``; the worker defaults to
    ``<host name>_<pid>``: what TensorBoard's profiler plugin reads."""

    def handler_fn(prof: profile) -> None:
        nonlocal worker_name
        if not os.path.isdir(dir_name):
            try:
                os.makedirs(dir_name, exist_ok=True)
            except Exception as error:
                raise RuntimeError("Can't create directory: " + dir_name) from error
        if not worker_name:
            worker_name = f"{socket.gethostname()}_{os.getpid()}"
        file_name = f"{worker_name}.{time.time_ns()}.pt.trace.json"  # (ns: no name clash)
        if use_gzip:
            file_name += ".gz"
        prof.export_chrome_trace(os.path.join(dir_name, file_name))

    return handler_fn


class KinetoStepTracker:
    """torch.profiler.KinetoStepTracker: the global step count, the most steps any requester
    (an optimiser, the profiler) has counted; class-level state, as torch's."""

    _current_step = 0
    _step_dict: dict[str, int] = defaultdict(int)

    @classmethod
    def init_step_count(cls, requester: str) -> None:
        """Start counting for ``requester`` at the current step."""
        cls._step_dict[requester] = cls._current_step

    @classmethod
    def erase_step_count(cls, requester: str) -> bool:
        """Stop counting for ``requester``; whether it was counted."""
        return cls._step_dict.pop(requester, None) is not None

    @classmethod
    def increment_step(cls, requester: str) -> int:
        """One more step of ``requester`` (counted from now if it was not); the global step,
        with torch's warning when it jumps by more than one."""
        if requester not in cls._step_dict:
            cls.init_step_count(requester)
        cls._step_dict[requester] += 1
        new_step = max(cls._step_dict.values())
        if new_step > cls._current_step:
            if new_step - cls._current_step > 1:
                warnings.warn(f"Profiler step count has increased more than 1 - current_step = "
                              f"{cls._current_step} step dict =  {cls._step_dict}",
                              stacklevel=2)
            cls._current_step = new_step
        return cls._current_step

    @classmethod
    def current_step(cls) -> int:
        """The latest step of any requester."""
        return cls._current_step


def kineto_available() -> bool:
    """torch.profiler.kineto_available: True (dlpy's ``profile`` records what torch's
    Kineto-based one does on the CPU)."""
    return True


# ---------------------------------------------------------------- the execution trace
class ExecutionTraceObserver:
    """torch.profiler.ExecutionTraceObserver: a record of the ops (and ``record_function``
    ranges) that run between ``start()`` and ``stop()``, as a graph of nodes, written as JSON
    (Chakra's execution-trace schema) to the file given to ``register_callback`` when the
    observer is unregistered (``unregister_callback``, ``cleanup``, or its deletion); a
    ``.gz`` path is written compressed. The document holds ``schema``, ``pid``, ``time``,
    ``start_ts``, ``nodes`` and ``finish_ts``; each node ``id``, ``name``, ``ctrl_deps`` (its
    parent's id), ``inputs`` and ``outputs`` (``values``, ``shapes``, ``types``, ``strides``;
    dlpy fills the input shapes) and ``attrs`` (``rf_id``, ``tid``, ...). Node 1 is the
    process (written last), each recording thread has a node (its ops' root). Recording uses
    the profiler's hooks (a private ``profile(record_shapes=True)`` while running)."""

    SCHEMA = "1.1.1-chakra.0.0.4"
    _PROCESS, _THREAD = ("[pytorch|profiler|execution_trace|process]",
                         "[pytorch|profiler|execution_trace|thread]")

    def __init__(self) -> None:
        self._registered = False
        self._execution_trace_running = False
        self.extra_resources_collection = False
        self.resources_dir: str = ""
        self.output_file_path: str = ""
        self.output_file_path_observer: str = ""
        self._events: list[FunctionEvent] = []
        self._profile: profile | None = None
        self._start_ms = 0

    def __del__(self) -> None:
        self.unregister_callback()

    @staticmethod
    def build_execution_trace_obs_from_env() -> ExecutionTraceObserver | None:
        """An observer registered on a temporary ``.et.json`` file if the environment sets
        ENABLE_PYTORCH_EXECUTION_TRACE=1 (and collecting extra resources with
        ENABLE_PYTORCH_EXECUTION_TRACE_EXTRAS=1), else None."""
        if os.environ.get("ENABLE_PYTORCH_EXECUTION_TRACE", "0") != "1":
            return None
        import tempfile

        with tempfile.NamedTemporaryFile("w+t", suffix=".et.json", delete=False) as fp:
            filename = fp.name
        et = ExecutionTraceObserver().register_callback(filename)
        et.set_extra_resource_collection(
            os.environ.get("ENABLE_PYTORCH_EXECUTION_TRACE_EXTRAS", "0") == "1")
        return et

    def set_extra_resource_collection(self, val) -> None:
        """Collect the extra resources (a ``<trace>_resources`` folder beside the trace)."""
        self.extra_resources_collection = val
        if self.extra_resources_collection:
            self.get_resources_dir(can_create=True)

    def register_callback(self, output_file_path: str) -> ExecutionTraceObserver:
        """Register the observer, to write to ``output_file_path`` (created now; a path that
        cannot be written leaves it unregistered, with a warning). Registering again keeps the
        first path. Returns the observer."""
        if not self._registered:
            self.output_file_path = output_file_path
            if output_file_path.endswith(".gz"):
                import tempfile

                with tempfile.NamedTemporaryFile("w+b", suffix=".json", delete=False) as fp:
                    output_file_path = fp.name
            self.output_file_path_observer = output_file_path
            try:
                with open(output_file_path, "w"):
                    pass
            except OSError as error:
                warnings.warn(f"Failed to open output file: {output_file_path} ({error})",
                              stacklevel=2)
                return self
            self._registered = True
            self._events, self._start_ms = [], time.monotonic_ns() // 1_000_000
        return self

    def get_resources_dir(self, can_create=False) -> str | None:
        """The resources folder (with extra resource collection; None otherwise)."""
        if not self.extra_resources_collection:
            return None
        if not self.resources_dir:
            path = ExecutionTraceObserver.get_resources_dir_for_et_path(
                self.output_file_path, create_dir=can_create)
            if not path:
                return None
            self.resources_dir = path
        return self.resources_dir

    @staticmethod
    def get_resources_dir_for_et_path(trace_path, create_dir: bool = False) -> str | None:
        """``<folder>/<trace name without extension>_resources`` for ``trace_path`` if it
        exists (or is created, with ``create_dir``), else None."""
        work_dir, file_name = os.path.split(trace_path)
        resource_dir = os.path.join(work_dir, os.path.splitext(file_name)[0] + "_resources")
        if not os.path.exists(resource_dir):
            if not create_dir:
                return None
            try:
                os.mkdir(resource_dir)
            except OSError:
                warnings.warn(f"Execution trace exception when creating {resource_dir}",
                              stacklevel=2)
                return None
        return resource_dir

    def unregister_callback(self) -> None:
        """Stop, write the trace and unregister (nothing if not registered)."""
        if not getattr(self, "_registered", False):
            return
        self.stop()
        document = self._document()
        text = json.dumps(document)
        if self.output_file_path.endswith("gz"):
            with gzip.open(self.output_file_path, "wt") as out:
                out.write(text)
            if self.output_file_path_observer != self.output_file_path:
                os.remove(self.output_file_path_observer)
        else:
            with open(self.output_file_path_observer, "w") as out:
                out.write(text)
        self._registered = False

    @property
    def is_registered(self):
        """Whether the observer is registered."""
        return self._registered

    def is_running(self):
        """Whether the observer records now."""
        return self._execution_trace_running

    def start(self) -> None:
        """Start recording (if registered and not running)."""
        if self._registered and not self._execution_trace_running:
            self._profile = profile(record_shapes=True)
            self._profile.start()
            self._execution_trace_running = True

    def stop(self) -> None:
        """Stop recording; what was recorded stays for the trace."""
        if self._execution_trace_running:
            self._profile.stop()
            self._events.extend(self._profile.events())
            self._profile = None
            self._execution_trace_running = False

    def cleanup(self) -> None:
        """unregister_callback: finalize the output."""
        self.unregister_callback()

    def get_output_file_path(self) -> str | None:
        """The output path, or None before ``register_callback``."""
        return self.output_file_path or None

    def _document(self) -> dict:
        """The trace: the events as nodes, each under the innermost event of its thread that
        encloses it (else its thread's node), ids in order of starting; finished first
        first, the process node last."""
        events = sorted(self._events, key=lambda e: (e.start_ns, -e.end_ns))
        ids, parents, open_by_thread = {}, {}, {}
        threads: dict[int, int] = {}
        next_id = 2
        for event in events:
            if event.thread not in threads:
                threads[event.thread] = next_id
                next_id += 1
            stack = open_by_thread.setdefault(event.thread, [])
            while stack and stack[-1].end_ns <= event.start_ns:
                stack.pop()
            ids[id(event)] = next_id
            next_id += 1
            parents[id(event)] = ids[id(stack[-1])] if stack else threads[event.thread]
            stack.append(event)

        def node(node_id, name, parent, shapes, tid):
            attrs = [{"name": "rf_id", "type": "uint64", "value": node_id},
                     {"name": "tid", "type": "uint64", "value": tid},
                     {"name": "op_schema", "type": "string", "value": ""}]
            return {"id": node_id, "name": name, "ctrl_deps": parent,
                    "inputs": {"values": [], "shapes": shapes, "types": [], "strides": []},
                    "outputs": {"values": [], "shapes": [], "types": [], "strides": []},
                    "attrs": attrs}

        nodes = [node(number, self._THREAD, 1, [], tid) for tid, number in threads.items()]
        for event in sorted(events, key=lambda e: e.end_ns):
            nodes.append(node(ids[id(event)], event.trace_name, parents[id(event)],
                              event.input_shapes or [], event.thread))
        nodes.append(node(1, self._PROCESS, 1, [], 0))
        now = time.localtime()
        return {"schema": self.SCHEMA, "pid": os.getpid(),
                "time": time.strftime("%Y-%m-%d %H:%M:%S", now), "start_ts": self._start_ms,
                "nodes": nodes, "finish_ts": time.monotonic_ns() // 1_000_000}


__all__ += ["ExecutionTraceObserver"]


# torch.profiler.profiler: the module profile, schedule and the trace handler come from
profiler = types.ModuleType(f"{__name__}.profiler", "torch.profiler.profiler: profile, "
                            "schedule, tensorboard_trace_handler, ProfilerAction...")
profiler.__dict__.update({name: globals()[name] for name in (
    "ExecutionTraceObserver", "ProfilerAction", "ProfilerActivity", "profile",
    "record_function", "schedule", "supported_activities", "tensorboard_trace_handler",
    "kineto_available")})
sys.modules[profiler.__name__] = profiler  # (import torch.profiler.profiler)
