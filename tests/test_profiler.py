"""dlpy.profiler: the ops' forward and backward events of a known graph, self and total times of
nested ranges (on a fake clock, so every time is exact), shapes, memory, the table, the Chrome
trace, the swapped functions put back (after an exception too), nothing recorded outside the
block, and composition with utils.checkpoint, create_graph, nested profiles, threads,
optimisers and schedules."""

import importlib
import json
import threading

import numpy as np
import pytest

import dlpy
from dlpy import Tensor, nn, optim, profiler
from dlpy.autograd import grad
from dlpy.profiler import ProfilerAction, ProfilerActivity, profile, record_function, schedule
from dlpy.tensor import Op
from dlpy.utils.checkpoint import checkpoint

engine = importlib.import_module("dlpy.tensor")
traced = importlib.import_module("dlpy.autograd_function")
PLAIN_CALL, PLAIN_GRADS, PLAIN_GRAPH_GRADS = (Op.__call__, engine._checked_grads,
                                              engine._checked_graph_grads)
PLAIN_STEP, PLAIN_ZERO_GRAD = optim.Optimizer.step, optim.Optimizer.zero_grad


class FakeClock:
    """Stands in for time.perf_counter_ns: time moves only when a test (or a Tick) says."""

    def __init__(self):
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def advance(self, us: int) -> None:
        self.ns += us * 1000


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(profiler, "_now", fake)
    return fake


class Tick(Op):
    """y = 2 x, taking ``forward_us`` on the fake clock forward and ``backward_us`` backward."""

    def __init__(self, clock: FakeClock, forward_us: int, backward_us: int = 0,
                 label: str = "Tick"):
        self.clock, self.forward_us, self.backward_us, self.label = (clock, forward_us,
                                                                    backward_us, label)

    def forward(self, x):
        self.clock.advance(self.forward_us)
        return 2.0 * x

    def backward(self, grad_output):
        self.clock.advance(self.backward_us)
        return (2.0 * grad_output,)

    def describe(self) -> str:
        return self.label


def assert_unswapped():
    assert Op.__call__ is PLAIN_CALL
    assert traced._function_forward is traced.PLAIN_CALL_SITES["function_forward"]
    assert traced._layers == []
    assert engine._checked_grads is PLAIN_GRADS
    assert engine._checked_graph_grads is PLAIN_GRAPH_GRADS
    assert optim.Optimizer.step is PLAIN_STEP
    assert optim.Optimizer.zero_grad is PLAIN_ZERO_GRAD
    assert profiler._active == [] and profiler._events == []


def rows(prof, **kwargs) -> dict:
    return {row.key: row for row in prof.key_averages(**kwargs)}


def small_graph():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 2)), requires_grad=True)
    return x, w


def test_forward_and_backward_events_of_a_known_graph():
    x, w = small_graph()
    with profile() as prof:
        loss = (x @ w).relu().sum() + (x @ w).sum()
        loss.backward()
    counts = {key: row.count for key, row in rows(prof).items()}
    assert counts == {"MatMul": 2, "ReLU": 1, "Sum": 2, "Add": 1, "AddBackward": 1,
                      "SumBackward": 2, "ReLUBackward": 1, "MatMulBackward": 2}
    kinds = {e.name: e.kind for e in prof.events()}
    assert kinds["MatMul"] == "forward" and kinds["MatMulBackward"] == "backward"
    assert {e.thread for e in prof.events()} == {threading.get_native_id()}
    assert_unswapped()


def test_nested_ranges_self_and_total_time(clock):
    x = Tensor(np.ones(3), requires_grad=True)
    with profile() as prof:
        with record_function("outer"):
            clock.advance(10)
            with record_function("inner"):
                clock.advance(30)
                y = Tick(clock, 5, 7)(x)
            clock.advance(5)
        clock.advance(100)  # outside every range: nobody's time
        y.sum().backward()
    r = rows(prof)
    assert (r["outer"].cpu_time_total, r["outer"].self_cpu_time_total) == (50.0, 15.0)
    assert (r["inner"].cpu_time_total, r["inner"].self_cpu_time_total) == (35.0, 30.0)
    assert (r["Tick"].cpu_time_total, r["Tick"].self_cpu_time_total) == (5.0, 5.0)
    assert r["TickBackward"].cpu_time_total == 7.0
    assert r["SumBackward"].cpu_time_total == 0.0
    # the sum of self times is the time spent inside top-level events: 50 + 7
    assert sum(row.self_cpu_time_total for row in r.values()) == 57.0
    assert "Self CPU time total: 57.000us" in prof.key_averages().table()


def test_record_function_as_decorator_and_outside_a_profile(clock):
    @record_function("data")
    def load():
        clock.advance(4)
        return 1

    assert load() == 1  # outside a profile: nothing to record, and no error
    with profile() as prof:
        load()
        load()
    assert rows(prof)["data"].count == 2 and rows(prof)["data"].cpu_time_total == 8.0
    assert load.__name__ == "load"
    bad = record_function(3)  # checked on entry, as torch's (a RuntimeError there)
    with pytest.raises(TypeError, match="type 'str' for argument 'name' .* type 'int'"), bad:
        pass
    with pytest.raises(AssertionError, match="Expected record to be set"):
        record_function("data").__exit__(None, None, None)


def test_input_shapes():
    x, w = small_graph()
    with profile(record_shapes=True) as prof:
        (x @ w).sum().backward()
        (x[:2] @ w).sum()
    shapes = {(e.name, str(e.input_shapes)) for e in prof.events()}
    assert ("MatMul", "[[3, 4], [4, 2]]") in shapes
    assert ("MatMul", "[[2, 4], [4, 2]]") in shapes
    assert ("MatMulBackward", "[[3, 2]]") in shapes  # the gradient it got
    grouped = [row for row in prof.key_averages(group_by_input_shape=True)
               if row.key == "MatMul"]
    assert [(row.count, row.input_shapes) for row in grouped] == [(1, [[3, 4], [4, 2]]),
                                                                  (1, [[2, 4], [4, 2]])]
    assert "Input Shapes" in prof.key_averages(group_by_input_shape=True).table()
    assert rows(prof)["MatMul"].count == 2
    with profile() as prof:
        (x @ w).sum()
    assert all(e.input_shapes is None for e in prof.events())
    with pytest.raises(ValueError, match="group_by_input_shape needs .*record_shapes=True"):
        prof.key_averages(group_by_input_shape=True)


def test_memory_bytes_produced():
    x, w = small_graph()  # float64
    with profile(profile_memory=True) as prof:
        with record_function("step"):
            (x @ w).sum().backward()
    r = rows(prof)
    assert r["MatMul"].self_cpu_memory_usage == 3 * 2 * 8
    assert r["Sum"].self_cpu_memory_usage == 8
    assert r["MatMulBackward"].self_cpu_memory_usage == (3 * 4 + 4 * 2) * 8  # both gradients
    assert r["SumBackward"].self_cpu_memory_usage == 3 * 2 * 8
    assert r["step"].self_cpu_memory_usage == 0
    assert r["step"].cpu_memory_usage == 48 + 8 + 160 + 48
    assert "Self CPU Mem" in prof.key_averages().table()
    with profile() as prof:
        (x @ w).sum()
    assert all(e.cpu_memory_usage == 0 for e in prof.events())
    assert "CPU Mem" not in prof.key_averages().table()


def table_rows(table: str) -> list[list[str]]:
    lines = table.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("---")]
    assert len(rules) == 3
    return [line.split() for line in lines[rules[1] + 1:rules[2]]]


def test_table_sorting_and_row_limit(clock):
    x = Tensor(np.ones(2), requires_grad=True)
    with profile() as prof:
        for label, us in [("A", 1), ("B", 5), ("C", 3), ("C", 3), ("C", 3)]:
            Tick(clock, us, label=label)(x)
    averages = prof.key_averages()
    table = averages.table(sort_by="self_cpu_time_total")
    header = table.splitlines()[1].split()
    assert header[:3] == ["Name", "Self", "CPU"] and header[-3:] == ["#", "of", "Calls"]
    assert [r[0] for r in table_rows(table)] == ["C", "B", "A"]
    assert table_rows(table)[0] == ["C", "60.00%", "9.000us", "60.00%", "9.000us", "3.000us",
                                    "3"]
    assert table.splitlines()[-1] == "Self CPU time total: 15.000us"
    assert [r[0] for r in table_rows(averages.table(sort_by="cpu_time"))] == ["B", "C", "A"]
    assert [r[0] for r in table_rows(averages.table(sort_by="count"))][0] == "C"
    assert [r[0] for r in table_rows(averages.table())] == ["A", "B", "C"]  # first seen
    limited = averages.table(sort_by="cpu_time_total", row_limit=2)
    assert [r[0] for r in table_rows(limited)] == ["C", "B"]
    assert limited.splitlines()[-1] == "Self CPU time total: 15.000us"  # all rows, not 2
    widths = {len(line) for line in table.splitlines()[:-1]}
    assert len(widths) == 1  # aligned columns
    assert len(table_rows(prof.events().table(sort_by="count"))) == 5  # one row an event
    with pytest.raises(ValueError, match="sort_by must be None or one of .* got 'time'"):
        averages.table(sort_by="time")


def test_chrome_trace(tmp_path, clock):
    x = Tensor(np.ones(2), requires_grad=True)
    clock.advance(1000)
    with profile(record_shapes=True) as prof:
        clock.advance(2)
        with record_function("forward"):
            y = Tick(clock, 3, 4)(x)
        y.sum().backward()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    for event in events:
        assert {"name", "ph", "ts", "dur", "pid", "tid"} <= set(event)
        assert event["ph"] == "X"
        assert event["tid"] == threading.get_native_id()
    by_name = {e["name"]: e for e in events}
    assert (by_name["forward"]["ts"], by_name["forward"]["dur"]) == (2.0, 3.0)
    assert (by_name["Tick"]["ts"], by_name["Tick"]["dur"]) == (2.0, 3.0)
    assert by_name["TickBackward"]["dur"] == 4.0
    assert by_name["forward"]["cat"] == "user_annotation"
    assert by_name["Tick"]["cat"] == "cpu_op"
    assert by_name["Tick"]["args"]["Input Dims"] == [[2]]
    assert [p.name for p in tmp_path.iterdir()] == ["trace.json"]  # no temporary left


def test_swapped_functions_put_back_after_an_exception():
    x, w = small_graph()
    with pytest.raises(RuntimeError, match="boom"):
        with profile() as prof:
            with record_function("forward"):
                (x @ w).sum()
                raise RuntimeError("boom")
    assert_unswapped()
    assert {e.name for e in prof.events()} == {"forward", "MatMul", "Sum"}
    # an op that raises inside a profile leaves no open event behind
    with profile() as prof:
        with pytest.raises(ValueError, match="matmul"):
            x @ x
        with record_function("after"):
            x.sum()
    assert profiler._stack() == []
    assert rows(prof)["after"].count == 1
    assert_unswapped()


def test_nothing_recorded_outside_the_block():
    x, w = small_graph()
    (x @ w).sum().backward()
    with profile() as prof:
        x.relu()
    x.exp().sum().backward()
    with record_function("late"):
        x.relu()
    assert [e.name for e in prof.events()] == ["ReLU"]
    assert profiler._events == []


def test_nested_profiles():
    x, w = small_graph()
    with profile() as outer:
        x.exp()
        with profile(record_shapes=True) as inner:
            x.relu()
        assert Op.__call__ is not PLAIN_CALL  # the outer one still records
        x.abs()
    assert_unswapped()
    assert [e.name for e in inner.events()] == ["ReLU"]
    assert [e.name for e in outer.events()] == ["Exp", "ReLU", "Abs"]


def test_threads_recorded_with_their_id():
    x, w = small_graph()
    seen = []

    def work():
        seen.append(threading.get_native_id())
        with record_function("worker"):
            (x @ w).sum()

    with profile() as prof:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        x.relu()
    threads = {e.name: e.thread for e in prof.events()}
    assert threads["worker"] == threads["MatMul"] == seen[0]
    assert threads["ReLU"] == threading.get_native_id() != seen[0]


def test_composes_with_checkpoint(clock):
    x = Tensor(np.ones(3), requires_grad=True)

    def block(h):
        return Tick(clock, 10, 1, label="Inner")(Tick(clock, 20, 2, label="Outer")(h))

    with profile() as prof:
        y = checkpoint(block, x, use_reentrant=True)  # (one op, recomputed in its backward)
        assert Op.__call__ is not PLAIN_CALL  # the checkpoint's tracing ended: timed again
        y.sum().backward()
    assert_unswapped()
    r = rows(prof)
    # forward once, then recomputed inside the checkpoint's backward
    assert r["Outer"].count == 2 and r["Inner"].count == 2
    assert r["InnerBackward"].count == 1 and r["OuterBackward"].count == 1
    assert r["CheckpointBackward"].cpu_time_total == 10 + 20 + 1 + 2
    assert r["CheckpointBackward"].self_cpu_time_total == 0.0
    np.testing.assert_array_equal(x.grad, np.full(3, 4.0))

    # a profile inside a checkpointed function: the tracing is there before and after it
    def profiled_block(h):
        with profile() as inside:
            out = Tick(clock, 5, label="Deep")(h)
        assert [e.name for e in inside.events()] == ["Deep"]
        return out

    x.grad = None
    checkpoint(profiled_block, x, use_reentrant=True).sum().backward()
    assert_unswapped()
    np.testing.assert_array_equal(x.grad, np.full(3, 2.0))


class Twice(dlpy.autograd.Function):
    """y = 4 x through two Ticks in forward (a Function built from ops)."""

    clock: FakeClock

    @staticmethod
    def forward(ctx, x, label):
        return Tick(Twice.clock, 10, label="Inner")(Tick(Twice.clock, 20, label="Outer")(x))

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * 4.0, None


def test_autograd_function_forward_is_one_event_with_its_ops_nested(clock):
    Twice.clock = clock
    x = Tensor(np.ones(3), requires_grad=True)
    with profile(record_shapes=True) as prof:
        Twice.apply(x, "a").sum().backward()
        with dlpy.no_grad():
            Twice.apply(x, "b")
    assert_unswapped()
    r = rows(prof)
    assert r["Twice"].count == 2 and r["Twice"].cpu_time_total == 2 * (10 + 20)
    assert r["Twice"].self_cpu_time_total == 0.0  # all in its ops
    assert r["Inner"].count == r["Outer"].count == 2 and r["TwiceBackward"].count == 1
    first = [e for e in prof.events() if e.name == "Twice"][0]
    assert first.kind == "forward" and first.input_shapes == [[3], []]
    inside = [e.name for e in sorted(prof.events(), key=lambda e: e.start_ns)
              if first.start_ns <= e.start_ns < first.end_ns and e is not first]
    assert inside == ["Outer", "Inner"]
    np.testing.assert_array_equal(x.grad, np.full(3, 4.0))
    # inside a checkpoint the Function is recomputed in backward: two events again
    x.grad = None
    with profile() as prof:
        checkpoint(lambda h: Twice.apply(h, "c"), x, use_reentrant=True).sum().backward()
    assert rows(prof)["Twice"].count == 2
    np.testing.assert_array_equal(x.grad, np.full(3, 4.0))


def test_profile_and_tracing_compose_in_any_order(clock):
    seen = []

    def tracer(raw, inputs):
        seen.append(len(inputs))
        return inputs

    x = Tensor(np.ones(2))
    prof = profile()
    with traced.tracing(tracer):  # the profile starts inside the tracing, stops after it
        prof.start()
        Tick(clock, 1, label="Both")(x)
    Tick(clock, 1, label="Timed")(x)
    prof.stop()
    assert_unswapped()
    assert [e.name for e in prof.events()] == ["Both", "Timed"] and seen == [1]
    prof.start()  # the tracing starts inside the profile, outlives it
    with traced.tracing(tracer):
        prof.stop()
        assert Op.__call__ is not PLAIN_CALL  # traced still, no longer timed
        Tick(clock, 1, label="Traced")(x)
    assert_unswapped()
    assert prof.events() == [] and seen == [1, 1]


def test_composes_with_create_graph():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with profile() as prof:
        (g,) = grad((x * x * x).sum(), [x], create_graph=True)
        (gg,) = grad(g.sum(), [x])
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    np.testing.assert_allclose(gg.data, 6 * x.data)
    r = rows(prof)
    # the create_graph pass goes through the 2 Muls; the second through the 4 Muls their
    # backward_graph recorded and the first Mul (x * x), which they read
    assert r["MulBackward"].count == 2 + 5
    # the graph pass's backward_graph records ops: they are its children
    events = prof.events()
    mul_backward = [e for e in events if e.name == "MulBackward"][0]
    inside = [e for e in events if e.kind == "forward" and e.thread == mul_backward.thread
              and mul_backward.start_ns <= e.start_ns and e.end_ns <= mul_backward.end_ns]
    assert [e.name for e in inside] == ["Mul", "Mul"]
    assert mul_backward.self_cpu_time_total < mul_backward.cpu_time_total
    assert_unswapped()


def test_optimizer_steps_are_ranges():
    rng = np.random.default_rng(0)
    model = nn.Linear(4, 2, rng=rng)
    opt = optim.Adam(model.parameters(), lr=0.1)
    x = Tensor(rng.standard_normal((5, 4)).astype(np.float32))
    with profile() as prof:
        model(x).sum().backward()
        opt.step()
        opt.zero_grad()
    r = rows(prof)
    assert r["Optimizer.step#Adam.step"].count == 1
    assert r["Optimizer.zero_grad#Adam.zero_grad"].count == 1
    assert_unswapped()
    assert model.weight.grad is None


def test_schedule_actions_as_torch():
    actions = schedule(wait=1, warmup=1, active=2, repeat=1)
    A = ProfilerAction
    assert [actions(s) for s in range(6)] == [A.NONE, A.WARMUP, A.RECORD, A.RECORD_AND_SAVE,
                                              A.NONE, A.NONE]
    with pytest.warns(UserWarning, match="won't be using warmup"):  # as torch's
        forever = schedule(wait=0, warmup=0, active=1, skip_first=1)
    assert [forever(s) for s in range(3)] == [A.NONE, A.RECORD_AND_SAVE, A.RECORD_AND_SAVE]
    with pytest.raises(ValueError, match=r"active=0 \(need > 0\)"):  # an AssertionError too
        schedule(wait=1, warmup=1, active=0)
    with pytest.raises(TypeError, match="schedule: wait must be a number, got '1'"):
        schedule(wait="1", warmup=1, active=1)
    with pytest.raises(AssertionError, match="Step must be non-negative"):
        actions(-1)


def test_schedule_records_the_active_steps(clock):
    x = Tensor(np.ones(2), requires_grad=True)
    traces = []

    def ready(prof):
        traces.append(sorted(row.key for row in prof.key_averages()))

    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=2),
                 on_trace_ready=ready) as prof:
        for step in range(10):
            Tick(clock, 1, label=f"op{step}")(x)
            prof.step()
            if step == 0:  # step 1 next: a warm-up step
                assert Op.__call__ is PLAIN_CALL  # not recording in wait and warm-up steps
    assert traces == [["ProfilerStep*", "op2", "op3"], ["ProfilerStep*", "op6", "op7"]]
    assert rows(prof)["ProfilerStep*"].count == 2  # (torch's name for every step's range)
    assert rows(prof)["ProfilerStep*"].cpu_time_total == 2.0
    assert_unswapped()


def test_bad_arguments():
    with pytest.raises(AssertionError, match="No valid profiler activities found"):
        profile(activities=["cuda"])
    with pytest.raises(ValueError, match="specified more than once"):
        profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CPU])
    with pytest.raises(TypeError, match="'int' object is not callable"):  # when the trace is
        with profile(on_trace_ready=3):  # ready, as torch's
            pass
    assert_unswapped()
    prof = profile()
    with prof, pytest.raises(RuntimeError, match="already running"):
        prof.start()
    assert_unswapped()


def test_lazy_submodule():
    assert dlpy.profiler is profiler
    assert "profiler" in dir(dlpy)
