"""dlpy.compat's rewrite of torch.dtype's own attributes: dlpy's dtypes are numpy's (immutable
types without ``is_floating_point``, ``is_complex``, ``is_signed``, ``to_real()``,
``to_complex()``), so a program's and a torch library's reads of them go through
``compat.dtype_attribute``; a Tensor's methods of the same names are left as they are."""

import ast
import json
import textwrap

import numpy as np
import pytest

from dlpy import compat


def test_what_is_rewritten():
    source = ("a = d.is_floating_point\nb = t.is_floating_point()\nc = x.dtype.is_complex\n"
              "e = torch.is_complex(t)\nf = d.to_complex()\ng = t.data.is_signed\n"
              "h = t.data.is_signed()\n")
    tree = ast.fix_missing_locations(compat.DataAccess().visit(ast.parse(source)))
    assert ast.unparse(tree).splitlines() == [
        "a = __dlpy_dtype_attr__(d, 'is_floating_point')",
        "b = t.is_floating_point()",  # a method call stays one
        "c = __dlpy_dtype_attr__(x.dtype, 'is_complex')",
        "e = torch.is_complex(t)",
        "f = __dlpy_dtype_attr__(d, 'to_complex')()",
        "g = __dlpy_dtype_attr__(__dlpy_data__(t), 'is_signed')",
        "h = __dlpy_data__(t).is_signed()"]
    compile(tree, "<test>", "exec")


@pytest.mark.parametrize("name, flags, real, complex_", [
    ("float16", (True, False, True), "float16", "complex32"),
    ("float32", (True, False, True), "float32", "complex64"),
    ("float64", (True, False, True), "float64", "complex128"),
    ("complex64", (False, True, True), "float32", "complex64"),
    ("complex128", (False, True, True), "float64", "complex128"),
    ("int64", (False, False, True), "int64", None),
    ("int8", (False, False, True), "int8", None),
    ("uint8", (False, False, False), "uint8", None),
    ("bool", (False, False, False), "bool", None),
])
def test_dtype_attributes_as_torch(name, flags, real, complex_):
    dtype = np.dtype(name)
    assert tuple(compat.dtype_attribute(dtype, n)
                 for n in ("is_floating_point", "is_complex", "is_signed")) == flags
    assert compat.dtype_attribute(dtype, "to_real")() == np.dtype(real)
    if complex_ is None:  # torch's RuntimeError
        with pytest.raises(RuntimeError, match="Unknown Complex ScalarType"):
            compat.dtype_attribute(dtype, "to_complex")()
    elif complex_ == "complex32":  # a dtype dlpy names (with torch's flags), no tensors of it
        import dlpy

        assert compat.dtype_attribute(dtype, "to_complex")() is dlpy.complex32
    else:
        assert compat.dtype_attribute(dtype, "to_complex")() == np.dtype(complex_)


def test_other_objects_keep_their_attributes():
    import dlpy

    t = dlpy.ones(2)
    assert compat.dtype_attribute(t, "is_floating_point")() is True
    assert compat.dtype_attribute(dlpy, "is_complex") is dlpy.is_complex
    with pytest.raises(AttributeError):
        compat.dtype_attribute(object(), "is_signed")


def test_program_reads_dtype_attributes(tmp_path, capsys):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""
        import json
        import torch

        x = torch.ones(3, dtype=torch.float64)
        z = torch.zeros(2, dtype=torch.complex64)
        res = [x.dtype.is_floating_point, x.is_floating_point(), z.dtype.is_complex,
               torch.int64.is_signed, torch.uint8.is_signed, str(x.dtype.to_complex()),
               str(z.dtype.to_real())]
        print(json.dumps(res))
        """))
    compat.run([str(script)])
    assert json.loads(capsys.readouterr().out) == [True, True, True, True, False, "complex128",
                                                   "float32"]


# an IPython shell's cells, with the aliases installed inside it (a notebook's first cell):
# each cell's code is rewritten as a program file's, and the last expression that looks like a
# dtype shows torch's name; after the aliases go, cells are compiled as they are
NOTEBOOK = textwrap.dedent('''
    import json
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    def cell(source):
        result = shell.run_cell(source)  # (its displayhook gives result.result)
        assert result.error_in_exec is None and result.error_before_exec is None, source
        return result.result
    cell("from dlpy import compat\\nalias = compat.as_torch()\\nalias.__enter__()\\nimport torch")
    out = {"flags": cell("(torch.float32.is_floating_point, torch.int8.is_signed, "
                         "torch.float64.to_complex() == torch.complex128)"),
           "texts": cell("(str(torch.float32), f'{torch.zeros(2).dtype}', repr(torch.int64))"),
           "shown": repr(cell("torch.float16")),
           "data": cell("x = torch.ones(2, requires_grad=True)\\nx.data = torch.zeros(2)\\n"
                        "x.data.add_(3)\\nx.tolist()"),
           "transformers": len(shell.ast_transformers)}
    cell("alias.__exit__(None, None, None)")
    out["after"] = [len(shell.ast_transformers), repr(cell("import numpy\\nnumpy.dtype('int8')"))]
    print(json.dumps(out))
''')


def test_notebook_cells_are_rewritten_while_the_aliases_stand():
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", NOTEBOOK], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out == {"flags": [True, True, True],
                   "texts": ["torch.float32", "torch.float32", "torch.int64"],
                   "shown": "torch.float16", "data": [3.0, 3.0], "transformers": 1,
                   "after": [0, "dtype('int8')"]}
