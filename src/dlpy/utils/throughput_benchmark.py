"""torch.utils.throughput_benchmark: run a module (or any callable) over inputs stored ahead
with ``add_input`` and measure its average latency, as torch's ThroughputBenchmark.

    bench = ThroughputBenchmark(model)
    for x in inputs:
        bench.add_input(x)
    stats = bench.benchmark(num_calling_threads=1, num_warmup_iters=10, num_iters=100)
    stats.latency_avg_ms, stats.num_iters, stats.iters_per_second, print(stats)

Torch runs ``num_calling_threads`` C++ threads that share ``num_iters`` calls; a Python
module holds the GIL in both, and dlpy runs the calls in threads of its own too: each does its
``num_warmup_iters`` calls, then they take calls from the shared count until ``num_iters``
are done, each on a random stored input. ``stats.num_iters`` is ``num_iters`` as asked (torch's
answer); ``latency_avg_ms`` is the mean wall time of the timed calls."""

from __future__ import annotations

import random
import threading
import time

__all__ = ["BenchmarkConfig", "ExecutionStats", "ThroughputBenchmark", "format_time"]


def format_time(time_us=None, time_ms=None, time_s=None) -> str:
    """Exactly one of the three times, as '1.500s', '2.000ms' or '3.000us' (the largest unit
    it reaches)."""
    if sum([time_us is not None, time_ms is not None, time_s is not None]) != 1:
        raise AssertionError("Expected only one of time_us, time_ms, time_s is given.")
    if time_us is None:
        time_us = time_ms * 1e3 if time_ms is not None else time_s * 1e6
    if time_us >= 1e6:
        return f"{time_us / 1e6:.3f}s"
    if time_us >= 1e3:
        return f"{time_us / 1e3:.3f}ms"
    return f"{time_us:.3f}us"


class BenchmarkConfig:
    """torch._C.BenchmarkConfig: the settings of one ``benchmark`` run (ints, checked on
    assignment as torch's pybind11 fields: TypeError)."""

    _FIELDS = ("num_calling_threads", "num_warmup_iters", "num_iters", "num_worker_threads")

    def __init__(self):
        self.num_calling_threads = 1
        self.num_warmup_iters = 1
        self.num_iters = 100
        self.num_worker_threads = 1
        self.profiler_output_path = ""

    def __setattr__(self, name, value) -> None:
        if name in self._FIELDS and (isinstance(value, bool) or not hasattr(value, "__index__")):
            raise TypeError(f"(): incompatible function arguments: BenchmarkConfig.{name} "
                            f"takes an int, got {type(value).__name__}")
        if name == "profiler_output_path" and not isinstance(value, str):
            raise TypeError(f"(): incompatible function arguments: BenchmarkConfig.{name} "
                            f"takes a str, got {type(value).__name__}")
        object.__setattr__(self, name, int(value) if name in self._FIELDS else value)


class _Stats:
    def __init__(self, latency_avg_ms: float, num_iters: int):
        self.latency_avg_ms, self.num_iters = latency_avg_ms, num_iters


class ExecutionStats:
    """A benchmark's result: ``latency_avg_ms``, ``num_iters``, ``iters_per_second`` (all
    threads together), ``total_time_seconds`` and the ``benchmark_config`` it ran with."""

    def __init__(self, c_stats, benchmark_config) -> None:
        self._c_stats = c_stats
        self.benchmark_config = benchmark_config

    @property
    def latency_avg_ms(self):
        return self._c_stats.latency_avg_ms

    @property
    def num_iters(self):
        return self._c_stats.num_iters

    @property
    def iters_per_second(self):
        """Iterations per second across all calling threads."""
        return self.num_iters / self.total_time_seconds

    @property
    def total_time_seconds(self):
        return self.num_iters * (self.latency_avg_ms / 1000.0) / \
            self.benchmark_config.num_calling_threads

    def __str__(self) -> str:
        return "\n".join([
            "Average latency per example: " + format_time(time_ms=self.latency_avg_ms),
            f"Total number of iterations: {self.num_iters}",
            f"Total number of iterations per second (across all threads): "
            f"{self.iters_per_second:.2f}",
            "Total time: " + format_time(time_s=self.total_time_seconds)])


class ThroughputBenchmark:
    """Benchmark ``module`` (an nn.Module, a ScriptModule or any callable) on stored inputs
    (see the module)."""

    def __init__(self, module) -> None:
        self._module = module
        self._inputs: list[tuple[tuple, dict]] = []

    def run_once(self, *args, **kwargs):
        """``module(*args, **kwargs)``: check the benchmark runs what you meant."""
        return self._module(*args, **kwargs)

    def add_input(self, *args, **kwargs) -> None:
        """Store one input (the module's positional and keyword arguments)."""
        self._inputs.append((args, kwargs))

    def benchmark(self, num_calling_threads=1, num_warmup_iters=10, num_iters=100,
                  profiler_output_path="") -> ExecutionStats:
        """Run the benchmark (see the module): RuntimeError without any input stored."""
        config = BenchmarkConfig()
        config.num_calling_threads = num_calling_threads
        config.num_warmup_iters = num_warmup_iters
        config.num_iters = num_iters
        config.profiler_output_path = profiler_output_path
        if not self._inputs:
            raise RuntimeError("Please provide benchmark inputs.Did you forget to call "
                               "add_input()? ")
        lock, taken, latencies = threading.Lock(), [0], []
        module, inputs = self._module, self._inputs

        def call() -> None:
            args, kwargs = random.choice(inputs)
            module(*args, **kwargs)

        def worker() -> None:
            for _ in range(config.num_warmup_iters):
                call()
            while True:
                with lock:
                    if taken[0] >= config.num_iters:
                        return
                    taken[0] += 1
                start = time.perf_counter()
                call()
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)

        threads = [threading.Thread(target=worker) for _ in range(max(1, num_calling_threads))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        latency = 1e3 * sum(latencies) / len(latencies) if latencies else 0.0
        return ExecutionStats(_Stats(latency, config.num_iters), config)
