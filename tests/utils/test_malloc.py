"""dlpy.utils.malloc.tune_malloc: glibc's mallopt from Python, checked arguments."""

import subprocess
import sys

import numpy as np
import pytest

from dlpy.utils.malloc import _libc, tune_malloc


def _faults_of_fresh_arrays(tune: bool) -> int:
    """Page faults of 20 40 MB arrays made and freed in turn, in a child process (the setting
    is process-wide): glibc maps blocks above 32 MiB afresh each time unless tuned."""
    code = (
        "import resource, numpy as np\n"
        "from dlpy.utils.malloc import tune_malloc\n"
        f"assert {tune} is False or tune_malloc() is True\n"
        "for _ in range(3): np.ones(10 << 20, np.float32)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(20): np.ones(10 << 20, np.float32)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n")
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout)


def test_tune_malloc_keeps_freed_memory_for_reuse():
    if _libc() is None:
        pytest.skip("not glibc: tune_malloc changes nothing")
    tuned, untuned = _faults_of_fresh_arrays(True), _faults_of_fresh_arrays(False)
    assert tuned * 10 < untuned, (tuned, untuned)


def test_tune_malloc_returns_whether_glibc_took_it():
    expected = _libc() is not None
    # the defaults again (what the child above set): harmless in this process
    assert tune_malloc() is expected
    np.ones(1000).sum()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"mmap_threshold": -1}, ValueError, r"tune_malloc: mmap_threshold must be in \[0, "
                                         r"2147483647\] bytes, got -1"),
    ({"trim_threshold": 2**31}, ValueError, r"trim_threshold must be in \[0, 2147483647\]"),
    ({"top_pad": 1.5}, TypeError, r"tune_malloc: top_pad must be an int \(bytes\), got 1.5"),
    ({"top_pad": True}, TypeError, r"top_pad must be an int"),
])
def test_tune_malloc_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        tune_malloc(**kwargs)
