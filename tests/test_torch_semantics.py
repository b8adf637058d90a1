"""dlpy gives PyTorch's dtypes and values on the expressions and snippets of
tests/fixtures/cases_torch_semantics.py (type promotion above all: integer tensors with float
numbers, zero-dimensional tensors, true division, powers, cat/where), each evaluated with
``import torch`` standing for dlpy (dlpy.compat) and compared with torch 2.13's recorded result
(tests/fixtures/torch_semantics.json, written by make_torch_semantics_fixtures.py). Where torch
raises, dlpy must raise an error of every Python class torch's is (``except RuntimeError:``
written for torch catches dlpy's)."""

import json
import math
import os
import re
import sys
import warnings
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
from cases_common import distribution_defaults, encode_parts, error_record
from cases_torch_semantics import _AREAS, EXPRS, SNIPPETS
from semantics_codes import Codes

import dlpy
from dlpy import compat, overrides

# each case starts from the distributions' defaults, as the recorder's (cases_common)
reset_distributions = distribution_defaults(dlpy.distributions.Distribution)
TORCH = json.loads((Path(__file__).parent / "fixtures" / "torch_semantics.json").read_text())
# the cases' code, compiled once by tests/precompile.py (compiled here where that is stale)
CODES = Codes(SNIPPETS, EXPRS)


@pytest.fixture(scope="module", autouse=True)
def plain_callables_after():
    """A snippet's Tensor subclass (as_subclass) installs dlpy.overrides' dispatch; the rest of
    the suite runs on the plain path (as tests/test_overrides.py leaves it), and the cases
    start from it whatever ran before them in this process."""
    overrides._uninstall()
    yield
    overrides._uninstall()


@pytest.fixture(scope="module", autouse=True)
def in_a_scratch_folder(tmp_path_factory):
    """A case that writes a file (a checkpoint, a traced program) writes it into a scratch
    folder, never into the checkout (the recorder does the same)."""
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("semantics"))
    yield
    os.chdir(before)


def encode(value):
    """make_torch_semantics_fixtures.encode for dlpy's values (a shape is a plain tuple here,
    torch's a Size; a dtype a numpy dtype or scalar type)."""
    if isinstance(value, dlpy.Tensor):
        array = np.asarray(value.data)
        if array.dtype.name == "bfloat16":
            array = array.astype(np.float32)
        if array.dtype == np.bool_:
            values = array.tolist()
        elif array.dtype.kind == "c":
            values = np.stack([array.real, array.imag], -1).astype(np.float64).tolist()
        else:
            values = array.astype(np.float64).tolist()
        return {"dtype": np.dtype(value.dtype).name, "shape": list(array.shape),
                "values": values}
    if isinstance(value, dlpy.sparse.SparseTensor):  # torch's encode: np.asarray refuses it
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() "
                        "first.")
    if isinstance(value, dlpy.dtype):
        return {"dtype_name": np.dtype(value).name}
    if isinstance(value, dlpy.Size) or (isinstance(value, tuple) and value
                                        and all(type(v) is int for v in value)):
        return {"size": list(value)}  # a Size (empty too), or a tuple of ints
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, dlpy.Tensor)
                                                          for v in value):
        return [encode(v) for v in value]
    parts = encode_parts(value, encode)
    if parts is not None:
        return parts
    if isinstance(value, (int, float, bool, list, str)):  # (a Size in a list: its sizes)
        return {"py": type(value).__name__, "value": json.loads(json.dumps(value))}
    return {"other": type(value).__name__}


# A float32 (complex64) tensor's elements may also differ by 16 float32 epsilons of the
# tensor's largest magnitude (at least 1): sums of many float32 products (a convolution, a matrix
# factorisation) round in the order the CPU's BLAS/LAPACK kernels add them, which changes with
# the processor (an AMD EPYC's OpenBLAS kernels gave a 3-D convolution's near-zero outputs
# errors of 1e-5 against torch's, of outputs up to 87, where the machine that recorded them
# agreed within 1e-6, and a complex64 nuclear norm's second derivatives, of magnitude 0.3,
# errors of 1e-6)
_FLOAT32_SLACK = 16 * float(np.finfo(np.float32).eps)


def _largest(values) -> float:
    if isinstance(values, list):
        return max((_largest(v) for v in values), default=0.0)
    return abs(values) if isinstance(values, float) and math.isfinite(values) else 0.0


def same(want, got, slack: float = 0.0) -> bool:
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(same(a, b, slack) for a, b in zip(want, got))
    if isinstance(want, dict) and isinstance(got, dict):
        if want.get("dtype") in ("float32", "complex64") and "values" in want:
            slack = _FLOAT32_SLACK * max(1.0, _largest(want["values"]))
        return want.keys() == got.keys() and all(same(want[k], got[k], slack) for k in want)
    if isinstance(want, float) and isinstance(got, (float, int)):
        return want == got or (math.isnan(want) and math.isnan(got)) or \
            abs(want - got) <= max(1e-6 * max(1.0, abs(want)), slack)
    return want == got


def test_every_expression_has_torchs_result():
    assert sorted(TORCH) == sorted([*EXPRS, *(f"snippet:{name}" for name in SNIPPETS)])


def test_no_case_is_broken_code():
    """A case that is not valid Python, or one naming something its scope lacks (torch's
    NameError "name 'x' is not defined"), is a mistake in the case: it would agree with dlpy's
    equally broken run and test nothing. (A snippet may meet torch's own SyntaxError or
    NameError, as torch.fx raises them for code it generates.) A case that is not valid code
    raised SyntaxError in the recorder, so only those are compiled here (all 98k took 10 s);
    one edited since it was recorded meets its SyntaxError in the tests above."""
    broken = [key for key, want in TORCH.items()
              if isinstance(want, dict) and want.get("undefined")]  # "name 'x' is not defined"
    codes = {**{e: (e, "eval") for e in EXPRS},
             **{f"snippet:{name}": (code, "exec") for name, code in SNIPPETS.items()}}
    for key, want in TORCH.items():
        if isinstance(want, dict) and "SyntaxError" in want.get("classes", ()):
            code, mode = codes[key]
            try:
                compile(code, "<case>", mode)
            except SyntaxError:
                broken.append(key)
    assert not broken, f"{len(broken)} cases are not valid code: {broken[:10]}"


def differs(key: str, got) -> str | None:
    """What is wrong with dlpy's result for ``key`` (None: it is torch's)."""
    want = TORCH[key]
    if "error" in want:  # torch refuses: so must dlpy, with an error every except clause
        # that catches torch's catches too (dlpy's class may be more specific)
        if "error" not in got:
            return f"{key}\n  torch raises {want['error']}, dlpy gives {got}"
        missing = [c for c in want["classes"] if c not in got["classes"]]
        return None if not missing else (
            f"{key}\n  torch raises {want['error']}, dlpy {got['error']} (not a "
            f"{', '.join(missing)}): {got['message']}")
    return None if same(want, got) else f"{key}\n  torch: {want}\n  dlpy:  {got}"


def _kept_warnings():
    """The cases' warnings kept here (the filters as they are): pytest-xdist would send them to
    the controlling process, which imports a warning category's module to rebuild it, and a
    library's own category (gpytorch's) imports torch there, where only dlpy is installed."""
    return warnings.catch_warnings(record=True)


# the cases run in chunks (one pytest item per case cost more than the cases themselves); a
# failure lists every case of its chunk that differs
CHUNK = 100


def _library_area(area: str) -> bool:
    """An area whose cases import libraries written for torch (compiled through dlpy.compat's
    rewrite on their first import in a process: seconds each while its cache is cold)."""
    return area.startswith("third_party_") or area == "programs_library_stack"


_IMPORTED = re.compile(r"^\s*(?:from|import)\s+(\w+)", re.MULTILINE)


def _library_snippet(name: str) -> bool:
    """A snippet of a library area, or one that imports a library itself (another area's
    opacus, einops or onnxruntime cases: the import costs the worker that meets them first
    seconds, and again the worker of the library chunks, and changes torch's state)."""
    code = SNIPPETS[name]
    return _library_area(name.partition(":")[0]) or "import" in code and any(
        module not in sys.stdlib_module_names and module not in _NOT_LIBRARIES
        for module in _IMPORTED.findall(code))


_NOT_LIBRARIES = frozenset(("torch", "numpy", "dlpy", "__main__"))


def _chunks(cases: list, size: int) -> list:
    return [cases[i:i + size] for i in range(0, len(cases), size)]


# Scheduling: the cases of the library areas form chunks of their own, last in each list
# (sorted by name, the snippets of third_party_* came all together near the run's end, up to
# a minute on one pytest-xdist worker while the other stood idle), and tests/conftest.py runs
# every such chunk last in this module, one after another, so that one worker imports (and
# compiles) each library once, after every other case (a library's import changes torch's
# state for the process: pyro registers KL pairs, zuko the distributions' defaults). They are
# smaller chunks (the slowest were 10-14 s) so that the run's end never waits long on one.
LIBRARY_CHUNK = 25
_LIBRARY_EXPRESSIONS = {expression for area in _AREAS if _library_area(area)
                        for expression in import_module(f"cases_semantics_{area}").EXPRS}
_library_expressions = [e for e in EXPRS if e in _LIBRARY_EXPRESSIONS]
EXPRESSION_CHUNKS = [*_chunks([e for e in EXPRS if e not in _LIBRARY_EXPRESSIONS], CHUNK),
                     *_chunks(_library_expressions, LIBRARY_CHUNK)]
SNIPPET_NAMES = sorted(SNIPPETS)
_library_snippets = [n for n in SNIPPET_NAMES if _library_snippet(n)]
_LIBRARY_SNIPPETS = set(_library_snippets)
SNIPPET_CHUNKS = [*_chunks([n for n in SNIPPET_NAMES if n not in _LIBRARY_SNIPPETS], CHUNK),
                  *_chunks(_library_snippets, LIBRARY_CHUNK)]
assert sum(map(len, EXPRESSION_CHUNKS)) == len(EXPRS)  # every case in exactly one chunk
assert sum(map(len, SNIPPET_CHUNKS)) == len(SNIPPETS)


def _chunk_params(chunks: list, library_cases: int) -> list:
    """The chunks' indices, the library chunks (the last) marked: tests/conftest.py runs them
    last in this module, together."""
    first_library = len(chunks) - -(-library_cases // LIBRARY_CHUNK)
    return [pytest.param(i, marks=[pytest.mark.imports_libraries] if i >= first_library else [])
            for i in range(len(chunks))]


_BACKEND_FLAGS: dict = {}  # torch.backends settings as the first case of a process found them


def reset_backend_flags(torch) -> None:
    """The process-wide settings a case may change (the default dtype; opt_einsum's decides
    einsum's contraction order, so its rounding) put back as the recorder had them, so that
    one case that leaves them changed cannot change later cases' values (einsum_more's
    set_flags case left opt_einsum off for the rest of its process)."""
    opt = torch.backends.opt_einsum
    if not _BACKEND_FLAGS:
        _BACKEND_FLAGS.update(enabled=opt.enabled, strategy=opt.strategy)
    opt.enabled, opt.strategy = _BACKEND_FLAGS["enabled"], _BACKEND_FLAGS["strategy"]
    if torch.get_default_dtype() != torch.float32:  # (a case that left float64 behind)
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("chunk", _chunk_params(EXPRESSION_CHUNKS, len(_library_expressions)))
def test_as_torch(chunk):
    wrong = []
    with compat.as_torch(), _kept_warnings():
        import torch
        import torch.nn.functional as F

        for expression in EXPRESSION_CHUNKS[chunk]:
            reset_distributions()
            reset_backend_flags(torch)
            try:
                got = encode(eval(CODES.code(f"expr:{expression}", expression, "eval"),
                                  {"torch": torch, "nn": torch.nn, "F": F, "np": np}))
            except Exception as error:  # noqa: BLE001 - compared with torch's refusal
                got = {**error_record(error), "message": str(error)[:200]}
            wrong.append(differs(expression, got))
    wrong = [w for w in wrong if w]
    assert not wrong, f"{len(wrong)} differ from torch:\n" + "\n".join(wrong)


@pytest.mark.parametrize("chunk", _chunk_params(SNIPPET_CHUNKS, len(_library_snippets)))
def test_snippet_as_torch(chunk):
    wrong = []
    with compat.as_torch(), _kept_warnings():
        import torch
        import torch.nn.functional as F

        for name in SNIPPET_CHUNKS[chunk]:
            torch.manual_seed(0)
            torch.autograd.set_detect_anomaly(False)  # as the recorder: modes from defaults
            torch.set_grad_enabled(True)
            reset_distributions()  # (zuko's import changes them for the process)
            reset_backend_flags(torch)
            scope = {"torch": torch, "nn": torch.nn, "F": F, "np": np}
            try:
                exec(CODES.code(f"snippet:{name}", SNIPPETS[name], "exec"), scope)
                got = encode(scope["r"])
            except Exception as error:  # noqa: BLE001 - compared with torch's refusal
                got = {**error_record(error), "message": str(error)[:200]}
            wrong.append(differs(f"snippet:{name}", got))
    wrong = [w for w in wrong if w]
    assert not wrong, f"{len(wrong)} differ from torch:\n" + "\n".join(wrong)


def test_float32_results_may_differ_by_their_rounding_only():
    """A float32 tensor's elements may differ by 16 epsilons of its largest magnitude, at
    least 1 (the order a CPU's kernels add in), a float64 tensor's only by 1e-6 relative."""
    def tensor(dtype, values):
        return {"dtype": dtype, "shape": [len(values)], "values": values}

    want = tensor("float32", [87.0, 0.001])
    assert same(want, tensor("float32", [87.0, 0.001 + 1e-4]))
    assert not same(want, tensor("float32", [87.0, 0.001 + 3e-4]))
    assert not same(tensor("float64", [87.0, 0.001]), tensor("float64", [87.0, 0.001 + 1e-4]))
    assert not same(tensor("float32", [1.0, 0.001]), tensor("float32", [1.0, 0.001 + 1e-5]))
    assert same(tensor("float32", [0.3, 0.2]), tensor("float32", [0.3, 0.2 + 1.5e-6]))
    assert not same(tensor("float64", [0.3, 0.2]), tensor("float64", [0.3, 0.2 + 1.5e-6]))
