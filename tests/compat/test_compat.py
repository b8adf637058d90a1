"""dlpy.compat: `import torch` gives dlpy inside the aliases, and everything is put back after."""

import subprocess
import sys
import types
from pathlib import Path

import pytest

import dlpy
import dlpy.data
import dlpy.functional
import dlpy.utils
from dlpy import compat

SRC = str(Path(dlpy.__file__).resolve().parent.parent)


def test_names_map_to_dlpy_modules():
    with compat.as_torch():
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torchaudio
        import torchvision.models
        from torch.utils.data import DataLoader
        assert torch is dlpy and nn is dlpy.nn and F is dlpy.functional
        assert DataLoader is dlpy.data.DataLoader
        assert torch.utils.data is dlpy.data  # the attribute torch code reaches it by
        assert torchvision.models.resnet18 is dlpy.vision.models.resnet18
        assert torchaudio.functional is dlpy.audio.functional
        assert compat.is_installed()
    assert not compat.is_installed()


def test_dlpy_names_of_torch_modules():
    assert compat.dlpy_name("torch") == "dlpy"
    assert compat.dlpy_name("torch.utils.data.sampler") == "dlpy.data.sampler"
    assert compat.dlpy_name("torch.nn.functional") == "dlpy.functional"
    assert compat.dlpy_name("torch.nn.init") == "dlpy.nn.init"
    assert compat.dlpy_name("torchvision.transforms") == "dlpy.vision.transforms"
    with pytest.raises(ValueError, match="'numpy' is not a torch"):
        compat.dlpy_name("numpy")


def test_submodules_of_a_dlpy_module_standing_for_a_torch_package():
    # dlpy.nn.utils is a module registering rnn, parametrizations... in sys.modules; the
    # import system asks no finder below a parent that is not a package
    saved = {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] == "torch"}
    try:
        with compat.as_torch():
            import torch.nn.utils.stateless
            from torch.nn.utils.parametrizations import weight_norm
            from torch.nn.utils.rnn import pack_padded_sequence
            assert pack_padded_sequence is dlpy.nn.utils.rnn.pack_padded_sequence
            assert weight_norm is dlpy.nn.utils.parametrizations.weight_norm
            assert torch.nn.utils.stateless.functional_call is not None
        assert not [n for n in sys.modules if n.split(".")[0] == "torch"]
    finally:
        sys.modules.update(saved)


def test_uninstall_restores_modules_and_attributes():
    real = types.ModuleType("torch")  # stands for a real torch imported before
    saved = {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] == "torch"}
    sys.modules["torch"] = real
    try:
        assert "data" not in vars(dlpy.utils)
        with compat.as_torch():
            import torch.utils.data
            assert sys.modules["torch"] is dlpy and torch.utils.data is dlpy.data
        assert sys.modules["torch"] is real
        assert "torch.utils.data" not in sys.modules
        assert "data" not in vars(dlpy.utils)  # the import system's attribute is taken back
    finally:
        sys.modules.pop("torch", None)
        sys.modules.update(saved)


def test_nesting_and_unbalanced_uninstall():
    compat.install()
    compat.install()
    compat.uninstall()
    assert compat.is_installed()
    compat.uninstall()
    assert not compat.is_installed()
    with pytest.raises(RuntimeError, match="not installed"):
        compat.uninstall()


def test_float_warnings_are_off_while_the_aliases_stand():
    """torch gives log(0) = -inf, 0/0 = nan and an overflow's inf silently: so does dlpy under
    the aliases; numpy's own settings come back after (dlpy's own computations stay silent
    then too, by a warnings filter: tests/test_float_warnings.py)."""
    import warnings

    import numpy as np

    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with compat.as_torch():
            import torch

            assert torch.tensor([0.0]).log().item() == float("-inf")
            assert torch.tensor([0.0]).div(0.0).isnan().item()
            assert torch.tensor([60000.0], dtype=torch.float16).mul(2).isinf().item()
    assert np.geterr() == before


def test_a_module_dlpy_lacks_names_both():
    with compat.as_torch(), pytest.raises(ModuleNotFoundError,
                                          match=r"'torch\.no_such_thing'.*'dlpy\.no_such_thing'"):
        import torch.no_such_thing  # noqa: F401


def test_run_script_with_arguments(tmp_path, capsys):
    script = tmp_path / "train.py"
    script.write_text(
        "import sys, torch, torch.nn as nn\n"
        "torch.manual_seed(0)\n"
        "x = torch.randn(32, 3); y = x @ torch.tensor([[1.0], [-2.0], [0.5]])\n"
        "model = nn.Linear(3, 1); opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "first = None\n"
        "for _ in range(int(sys.argv[1])):\n"
        "    loss = torch.nn.functional.mse_loss(model(x), y)  # no import of its own\n"
        "    first = first or loss.item()\n"
        "    opt.zero_grad(); loss.backward(); opt.step()\n"
        "print(sys.argv[2], first, loss.item())\n")
    compat.run([str(script), "60", "--flag"])
    flag, first, last = capsys.readouterr().out.split()
    assert flag == "--flag" and float(last) < 1e-2 * float(first)
    assert not compat.is_installed()
    assert "functional" not in vars(dlpy.nn)  # the attribute alias is taken back


def test_run_gives_torch_tensor_its_legacy_constructor(tmp_path, capsys):
    # torch.Tensor(out, in) is a shape (older custom layers: nn.Parameter(torch.Tensor(o, i)))
    script = tmp_path / "legacy.py"
    script.write_text(
        "import torch, torch.nn as nn\nfrom torch import Tensor\n"
        "w = nn.Parameter(torch.Tensor(2, 3)); b = nn.Parameter(torch.Tensor(2))\n"
        "class Other:\n    Tensor = staticmethod(lambda *a: a)\n"
        "print(tuple(w.shape), tuple(b.shape), torch.Tensor([1, 2]).dtype, "
        "tuple(torch.Tensor().shape), tuple(Tensor(torch.Size([4, 1])).shape), "
        "Other.Tensor(2, 3))\n")
    compat.run([str(script)])
    assert capsys.readouterr().out.split() == ["(2,", "3)", "(2,)", "torch.float32", "(0,)", "(4,",
                                               "1)", "(2,", "3)"]
    with compat.as_torch():  # outside run (no rewrite) dlpy's Tensor takes data
        import torch
        assert torch.Tensor(3).shape == ()


def test_run_script_output(tmp_path, capsys):
    script = tmp_path / "show.py"
    script.write_text("import sys, torch\nprint(__name__, sys.argv, torch.__name__)\n")
    compat.run([str(script), "a", "--b"])
    assert capsys.readouterr().out.strip() == f"__main__ {[str(script), 'a', '--b']} torch"


def test_run_module(tmp_path, capsys, monkeypatch):
    (tmp_path / "pkgx").mkdir()
    (tmp_path / "pkgx" / "__init__.py").write_text("")
    (tmp_path / "pkgx" / "go.py").write_text(
        "import sys, torch.nn.functional as F\nprint(__name__, sys.argv[1:], F.__name__)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    compat.run(["-m", "pkgx.go", "7"])
    assert capsys.readouterr().out.strip() == "__main__ ['7'] dlpy.functional"


def test_run_refuses_missing_script(tmp_path):
    with pytest.raises(SystemExit, match="no such script"):
        compat.run([str(tmp_path / "absent.py")])
    assert not compat.is_installed()


def _cli(*args, cwd):
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "dlpy", "run-torch", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_exit_codes(tmp_path):
    (tmp_path / "ok.py").write_text("import torch\nprint(torch.ones(2).sum().item())\n")
    (tmp_path / "fails.py").write_text("import torch\nraise KeyError('boom')\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    ok = _cli("ok.py", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.strip() == "2.0"
    fails = _cli("fails.py", cwd=tmp_path)
    assert fails.returncode == 1 and "KeyError: 'boom'" in fails.stderr
    assert "bug in dlpy" not in fails.stderr  # the program's error, not dlpy's
    assert _cli("exits.py", cwd=tmp_path).returncode == 3


def test_torch_module_is_named_torch_while_aliased():
    # libraries check torch.__name__ (pyro's patches assert "torch"); dlpy's spec keeps its name
    with compat.as_torch():
        import torch

        assert torch.__name__ == "torch" and torch.__spec__.name == "dlpy"
        from torch import fft, nn

        assert fft is dlpy.fft and nn is dlpy.nn
        assert torch.nn.functional is dlpy.functional
    assert dlpy.__name__ == "dlpy"


def test_tracing_state_and_cdata():
    assert dlpy._C._get_tracing_state() is None
    seen = []

    def f(x):
        seen.append(dlpy._C._get_tracing_state() is not None)
        return x * 2

    dlpy.jit.trace(f, (dlpy.ones(2),))
    assert seen and all(seen)
    x = dlpy.ones(2)
    assert x._cdata == x._cdata and x._cdata != x.detach()._cdata


def test_run_shows_dtypes_by_torchs_names(tmp_path, capsys):
    # a dtype's text where the source takes it (str, repr, print, f-strings) is torch's name,
    # which libraries parse (str(dtype).split(".")[1]); a numpy array's dtype keeps numpy's
    script = tmp_path / "dtypes.py"
    script.write_text(
        "import numpy as np, torch\ndtype = torch.float16\nx = torch.ones(2, dtype=torch.float64)\n"
        "a = np.ones(2)\n"
        "print(str(dtype), repr(x.dtype), f'{x.dtype}', f'{dtype!r}', str(torch.int64))\n"
        "print(x.dtype, str(dtype).split('.')[1], str(a.dtype), f'{a.dtype}', str(3))\n")
    compat.run([str(script)])
    first, second = capsys.readouterr().out.splitlines()
    assert first.split() == ["torch.float16", "torch.float64", "torch.float64", "torch.float16",
                             "torch.int64"]
    assert second.split() == ["torch.float64", "float16", "float64", "float64", "3"]


def test_run_shows_a_dtype_under_a_dtype_key_by_torchs_name(tmp_path, capsys):
    # transformers' config: d["dtype"] = str(d["dtype"]).split(".")[1]; the value under
    # another key keeps its text
    script = tmp_path / "dtype_keys.py"
    script.write_text(
        "import torch\nd = {'dtype': torch.float64, 'torch_dtype': torch.int8, 'n': 3}\n"
        "print(str(d['dtype']), str(d['torch_dtype']).split('.')[1], str(d['n']))\n")
    compat.run([str(script)])
    assert capsys.readouterr().out.split() == ["torch.float64", "int8", "3"]


def test_distribution_metadata_of_the_aliased_packages():
    # libraries read importlib.metadata at import (transformers' torchvision version gate,
    # diffusers', accelerate's torch version), also where no real torch is installed
    import importlib.metadata

    import dlpy
    from dlpy import version

    with compat.as_torch():
        import torchaudio
        import torchvision

        assert importlib.metadata.version("torch") == version.__version__
        assert importlib.metadata.version("torchvision") == version.VISION_VERSION
        assert importlib.metadata.version("torchaudio") == version.AUDIO_VERSION
        assert torchvision.__version__ == version.VISION_VERSION >= "0.28"
        assert torchaudio.__version__.startswith("2.13.0+dlpy.")
        names = {d.metadata["Name"] for d in importlib.metadata.distributions()}
        assert {"torch", "torchvision", "torchaudio"} <= names
    assert version.VISION_VERSION.endswith(dlpy.__version__)
