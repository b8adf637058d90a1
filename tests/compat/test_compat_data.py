"""dlpy.compat's ``.data``: the program's own files are compiled with ``X.data`` as torch's (a
Tensor sharing memory, no graph), everything else's ``.data`` untouched."""

import ast
import builtins
import json
import py_compile
import sys
import textwrap
import traceback

import numpy as np
import pytest

from dlpy import compat


def _script(folder, text, name="prog.py"):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _no_program_finder():
    return not any(isinstance(f, compat._ProgramFinder) for f in sys.meta_path)


def test_what_is_rewritten():
    source = ("y = x.data\nx.data = y\nx.data += 1\na.data, b = 1, 2\ndel x.data\n"
              "f(p.grad.data.zero_())\nz: q.data = 3\nw = m.data.data\n"
              "match v:\n    case k.data:\n        pass\n")
    tree = ast.fix_missing_locations(compat.DataAccess().visit(ast.parse(source)))
    assert ast.unparse(tree).splitlines() == [
        "y = __dlpy_data__(x)",
        "__dlpy_data_target__(x).data = y",
        "__dlpy_data_target__(x).data += 1",
        "__dlpy_data_target__(a).data, b = (1, 2)",
        "del x.data",
        "f(__dlpy_data__(p.grad).zero_())",
        "z: q.data = 3",  # annotations and value patterns stay dotted names
        "w = __dlpy_data__(__dlpy_data__(m))",
        "match v:",
        "    case k.data:",
        "        pass"]
    compile(tree, "<test>", "exec")


IDIOMS = """
    import sys
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    out = {}
    torch.manual_seed(0)
    model = nn.Linear(200, 100)
    # DCGAN's weights_init
    model.weight.data.normal_(0.0, 0.02)
    model.bias.data.fill_(0)
    out["normal"] = model.weight.detach().numpy().copy()
    out["fill"] = model.bias.detach().numpy().copy()
    # a GCN layer's reset_parameters
    stdv = 0.1
    model.weight.data.uniform_(-stdv, stdv)
    out["uniform"] = model.weight.detach().numpy().copy()
    # the manual SGD step of word_language_model
    x, y = torch.randn(8, 200), torch.randn(8, 100)
    loss = F.mse_loss(model(x), y)
    loss.backward()
    out["before"] = model.weight.detach().numpy().copy()
    out["grad"] = model.weight.grad.numpy().copy()
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-0.5)
    out["after"] = model.weight.detach().numpy().copy()
    out["loss_item"] = np.array([loss.data.item(), loss.item()])
    out["size"] = np.array(x.data.size())
    out["still_parameter"] = np.array([isinstance(model.weight, nn.Parameter),
                                       model.weight.requires_grad])
    # WGAN's clipping
    out["unclipped"] = model.weight.detach().numpy().copy()
    for p in model.parameters():
        p.data.clamp_(-0.01, 0.01)
    out["clipped"] = model.weight.detach().numpy().copy()
    # p.data.copy_(q.data); a DQN soft update; copy_ from a tensor that requires grad
    target = nn.Linear(200, 100)
    target.bias.data.copy_(model.bias.data)
    out["copy_source"] = model.bias.detach().numpy().copy()
    out["copied"] = target.bias.detach().numpy().copy()
    out["target_before"] = target.weight.detach().numpy().copy()
    tau = 0.25
    for target_param, param in zip(target.parameters(), model.parameters()):
        target_param.data.copy_(tau * param.data + (1 - tau) * target_param.data)
    out["soft"] = target.weight.detach().numpy().copy()
    other = nn.Linear(200, 100)
    other.weight.data.copy_(model.weight)
    out["copied_from_param"] = other.weight.detach().numpy().copy()
    out["copy_no_graph"] = np.array([other.weight.grad_fn is None, other.weight.is_leaf])
    # the old gradient reset
    model.weight.grad.data.zero_()
    out["grad_zeroed"] = model.weight.grad.numpy().copy()
    np.savez(sys.argv[1], **out)
"""


def test_torch_data_idioms(tmp_path):
    script = _script(tmp_path, IDIOMS)
    compat.run([str(script), str(tmp_path / "out.npz")])
    out = np.load(tmp_path / "out.npz")
    assert abs(out["normal"].std() - 0.02) < 0.001 and abs(out["normal"].mean()) < 0.001
    assert np.all(out["fill"] == 0)
    assert np.abs(out["uniform"]).max() <= 0.1 and np.abs(out["uniform"]).max() > 0.099
    np.testing.assert_allclose(out["after"], out["before"] - 0.5 * out["grad"], rtol=1e-6)
    assert np.abs(out["grad"]).max() > 0
    assert out["loss_item"][0] == out["loss_item"][1]
    assert out["size"].tolist() == [8, 200]
    assert out["still_parameter"].all()
    np.testing.assert_array_equal(out["clipped"], np.clip(out["unclipped"], -0.01, 0.01))
    assert np.abs(out["unclipped"]).max() > 0.01  # the clip did something
    np.testing.assert_array_equal(out["copied"], out["copy_source"])
    assert np.abs(out["copied"]).max() > 0
    np.testing.assert_allclose(out["soft"], 0.25 * out["clipped"] + 0.75 * out["target_before"],
                               rtol=1e-6)
    np.testing.assert_array_equal(out["copied_from_param"], out["clipped"])
    assert out["copy_no_graph"].all()
    assert np.all(out["grad_zeroed"] == 0)


def test_stores_and_other_data(tmp_path, capsys):
    script = _script(tmp_path, """
        import collections, json
        import numpy as np
        import torch, torch.nn as nn

        res = {}
        layer = nn.Linear(3, 2)
        new = torch.zeros(4, 5)
        layer.weight.data = new                  # torch: shares new's memory
        new.add_(1.5)
        res["shared"] = layer.weight.sum().item()
        res["kept"] = [type(layer.weight).__name__, layer.weight.requires_grad,
                       list(layer.weight.shape)]
        layer.bias.data = np.full(2, 7.0, np.float32)  # dlpy's own array store
        layer.bias.data += 1                     # an augmented store through the Tensor
        layer.bias.data -= torch.full((2,), 0.5)
        res["bias"] = layer.bias.tolist()
        try:
            layer.bias.data = [1.0, 2.0]
        except TypeError as err:
            res["list_store"] = str(err)

        class Holder:
            pass
        holder = Holder()
        holder.data = torch.ones(2)               # not a Tensor: stored and read as written
        res["same_object"] = holder.data is holder.data
        Pair = collections.namedtuple("Pair", "data label")
        res["namedtuple"] = Pair([1, 2], 0).data
        res["memoryview"] = type(np.arange(3).data).__name__
        res["tensor_data"] = type(torch.ones(2).data).__name__
        print(json.dumps(res))
        """)
    compat.run([str(script)])
    res = json.loads(capsys.readouterr().out)
    assert res["shared"] == 1.5 * 20 and res["kept"] == ["Parameter", True, [4, 5]]
    assert res["bias"] == [7.5, 7.5]
    assert "expected a Tensor (or a numpy array), got list" in res["list_store"]
    assert res["same_object"] and res["namedtuple"] == [1, 2]
    assert res["memoryview"] == "memoryview" and res["tensor_data"] != "ndarray"


def test_data_changes_not_tracked(tmp_path, capsys):
    """torch's .data has a version counter of its own: a change through it neither bumps the
    tensor's _version nor makes backward refuse (the new values are used), as torch's."""
    script = _script(tmp_path, """
        import json
        import torch

        res = {}
        x = torch.zeros(2)
        x.data.add_(1)
        res["version"] = x._version
        w = torch.tensor([1., 2.], requires_grad=True)
        y = w * w
        w.data.mul_(10)                  # an optimiser-style update, then backward
        y.sum().backward()
        res["grad"] = w.grad.tolist()
        v = torch.tensor([0., 1.], requires_grad=True)
        h = v * 2
        z = h.exp()
        h.data.add_(1)                   # exp reads its output, not h: allowed
        z.sum().backward()
        res["exp"] = [h.tolist(), v.grad.tolist()]
        print(json.dumps(res))
        """)
    compat.run([str(script)])
    res = json.loads(capsys.readouterr().out)
    assert res["version"] == 0 and res["grad"] == [20.0, 40.0]  # 2 * w after the change
    assert res["exp"][0] == [1.0, 3.0]
    np.testing.assert_allclose(res["exp"][1], [2.0, 2.0 * np.exp(2.0)], rtol=1e-6)


def test_complex_data_changes_not_tracked(tmp_path, capsys):
    """A complex tensor's .data is untracked as a real one's (torchdiffeq writes its complex
    Runge-Kutta stages with ``k.data[..., i] = f`` after ops read k), and stays complex: its
    own ops, repr and refusals are a complex tensor's."""
    script = _script(tmp_path, """
        import json
        import torch

        w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        k = torch.zeros(1, 2, dtype=torch.complex128) * w
        a = k[..., :1] * w                 # reads k, then k changes through .data
        d = k.data
        d[..., 1] = 1j
        (a.abs().sum() + k.abs().sum()).backward()
        try:
            d < d
            order = "compared"
        except RuntimeError:
            order = "refused"
        print(json.dumps([k._version, str(d.dtype), repr(d), order, w.grad.item()]))
        """)
    compat.run([str(script)])
    version, dtype, text, order, grad = json.loads(capsys.readouterr().out)
    assert (version, dtype, order, grad) == (0, "torch.complex128", "refused", 0.0)
    assert text == "tensor([[0.+0.j, 0.+1.j]], dtype=torch.complex128)"


def test_traceback_lines_and_main_module(tmp_path):
    script = _script(tmp_path, """
        import pickle, sys, torch, torch.nn as nn

        class Net(nn.Module):          # pickled by reference to __main__
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)

        assert __name__ == "__main__" and __file__ == sys.argv[0]
        net = Net()
        torch.save(net, sys.argv[1])
        back = torch.load(sys.argv[1], weights_only=False)
        assert type(back).__name__ == "Net" and torch.equal(back.fc.weight, net.fc.weight)
        assert pickle.loads(pickle.dumps(net)).fc.weight.data.size() == (2, 2)
        w = net.fc.weight.data.clone()
        bad = (w.data +
               net.fc.weight.data.no_such_method())
        """)
    with pytest.raises(AttributeError) as info:
        compat.run([str(script), str(tmp_path / "net.pt")])
    frame = traceback.extract_tb(info.tb)[-1]
    assert frame.filename == str(script) and frame.lineno == 17
    assert "no_such_method" in frame.line
    assert not compat.is_installed() and _no_program_finder()


def test_program_modules_rewritten_others_not(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    (tmp_path / "prog").mkdir()
    (tmp_path / "lib").mkdir()
    helper_text = "def kind(t):\n    return type(t.data).__name__\n"
    (tmp_path / "prog" / "helper.py").write_text(helper_text)
    (tmp_path / "prog" / "sub").mkdir()
    (tmp_path / "prog" / "sub" / "__init__.py").write_text(helper_text)
    (tmp_path / "lib" / "outside.py").write_text(helper_text)
    # a plain compilation of helper.py, as a plain `python` run leaves: never used by the rewrite
    cached = py_compile.compile(str(tmp_path / "prog" / "helper.py"), doraise=True)
    cached_bytes = open(cached, "rb").read()
    script = _script(tmp_path / "prog", f"""
        import sys, torch
        sys.path.insert(0, {str(tmp_path / 'lib')!r})
        import helper, sub, outside
        t = torch.ones(2)
        print(helper.kind(t), sub.kind(t), outside.kind(t), type(t.data).__name__)
        """)
    compat.run([str(script)])
    assert capsys.readouterr().out.split() == ["_DataView", "_DataView", "ndarray", "_DataView"]
    assert open(cached, "rb").read() == cached_bytes
    pycache = [p.name for p in (tmp_path / "prog").rglob("*.pyc")]
    assert pycache == [cached.rsplit("/", 1)[1]]  # nothing written for the rewritten files
    # the finder and the rewritten modules go with the aliases; the other module stays plain
    assert _no_program_finder() and not compat.is_installed()
    assert "helper" not in sys.modules and "sub" not in sys.modules
    assert "__dlpy_data__" not in vars(builtins)
    assert sys.modules.pop("outside").kind(np.ones(2)) == "memoryview"
    sys.path.remove(str(tmp_path / "lib"))


def test_run_module_rewrites_the_package(tmp_path, monkeypatch, capsys):
    (tmp_path / "pkgd").mkdir()
    (tmp_path / "pkgd" / "__init__.py").write_text(
        "def kind(t):\n    return type(t.data).__name__\n")
    (tmp_path / "pkgd" / "main.py").write_text(
        "import sys, torch\nfrom pkgd import kind\nt = torch.ones(2)\nt.data.mul_(3)\n"
        "print(__name__, sys.argv[1:], kind(t), type(t.data).__name__, t.tolist())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    compat.run(["-m", "pkgd.main", "x"])
    assert capsys.readouterr().out.split() == [
        "__main__", "['x']", "_DataView", "_DataView", "[3.0,", "3.0]"]
    assert "pkgd" not in sys.modules and _no_program_finder()


def test_only_program_files(tmp_path):
    import dlpy

    assert compat.is_program_file(str(tmp_path / "a" / "b.py"), str(tmp_path))
    assert not compat.is_program_file(str(tmp_path / "b.pyc"), str(tmp_path))
    assert not compat.is_program_file(str(tmp_path / "b.py"), str(tmp_path / "a"))
    assert not compat.is_program_file(
        str(tmp_path / "venv" / "lib" / "site-packages" / "m.py"), str(tmp_path))
    assert not compat.is_program_file(dlpy.__file__, str(tmp_path.anchor))


def test_installed_torch_libraries_rewritten(tmp_path, monkeypatch):
    """An installed package's module that imports torch, imported under the aliases, reads
    ``.data`` as torch's (torchinfo's ``inputs[0].data.size()``); one that never names torch,
    dlpy's own and an imported-before one stay as they are."""
    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    kind = "def kind(t):\n    return type(t.data).__name__\n"
    (site / "fake_torchlib.py").write_text("import numpy as np, torch\n" + kind)
    (site / "fake_fromlib.py").write_text("from torch.nn import functional\n" + kind)
    (site / "fake_plainlib.py").write_text("# import torch in a comment is no import\n" + kind)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "cache"))  # not the user's cache
    try:
        with compat.as_torch():
            import fake_fromlib
            import fake_plainlib
            import fake_torchlib
            import torch

            t = torch.ones(2)
            kinds = [m.kind(t) for m in (fake_torchlib, fake_fromlib, fake_plainlib)]
            assert kinds == ["_DataView", "_DataView", "ndarray"]
            assert fake_torchlib.kind(np.ones(2)) == "memoryview"  # anything else's own .data
        assert not any(isinstance(f, compat._LibraryFinder) for f in sys.meta_path)
        assert not list(site.rglob("*.pyc"))  # the rewrite is never cached
    finally:
        for name in ("fake_torchlib", "fake_fromlib", "fake_plainlib"):
            sys.modules.pop(name, None)


def test_torch_library_files():
    import dlpy

    lib = "/venv/lib/python3.11/site-packages/pkg/m.py"
    for line in ("import torch", "import torch.nn as nn", "from torch import nn",
                 "from torchvision.models import resnet18", "  import os, torch",
                 "from torch.nn import functional"):
        assert compat.is_torch_library_file(lib, f"x = 1\n{line}\n".encode()), line
    for line in ("import torchinfo", "# import torch", "from torchinfo import summary",
                 "x = 'torch'", "import numpy"):
        assert not compat.is_torch_library_file(lib, f"{line}\n".encode()), line
    assert not compat.is_torch_library_file("/home/u/prog/m.py", b"import torch\n")
    assert not compat.is_torch_library_file(lib[:-3] + ".pyc", b"import torch\n")
    assert not compat.is_torch_library_file(dlpy.__file__, b"import torch\n")
