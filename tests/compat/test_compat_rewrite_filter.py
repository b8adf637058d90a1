"""dlpy.compat's text filter of what the ``X.data`` rewrite may change (``_may_rewrite``): a
module whose only matches are import statements' module paths (``from timm.data import x``)
or dict literals with a "dtype" key compiles as it is; an f-string field naming a dtype, on
one line or inside a multi-line f-string, is still rewritten; the rewritten code is the same
as with ``ast.fix_missing_locations`` (``_located`` places the new nodes)."""

import ast
import marshal

import pytest

from dlpy import compat

SKIPPED = [
    b"from timm.data import resolve_data_config\nimport timm.data\nimport a.data as b, c\n",
    b"dd = {'device': device, 'dtype': dtype}\nx = f(**{\"dtype\": dtype})\n",
    b"from timm.data import (\n    a,\n    b,\n)\n",
    b"s = f'{a}' + 'x'\nd = {'dtype': t}\n",  # an f-string without a dtype field on its line
    b"y = MyTensor(3)\nz = torch_Tensor (2)\n",  # another name's call, not Tensor's
    b"d = {'dtype': t}\ns = '''\n{t.dtype}\n'''\n",  # a multi-line string, not an f-string
    b"d = {'dtype': t}\ns = 'a' \\\n    'b'\n",  # a line continuation, no f-string on its line
    b"def f(self, x):\n    return self.datum + x.database\n",
]
REWRITTEN = [
    b"import timm.data; y = x.data\n",  # not an import-only line
    b"y = x.data  # from a.data import b\n",
    b"s = f\"{t.dtype}\"\n",
    b"s = rf'{a} and {x.dtype!r}'\n",
    b"s = f'''\n{t.dtype}\n'''\n",
    b"s = f'a \\\n{t.dtype}'\n",
    b"print(torch.float16)\n",
    b"t = nn.Tensor (2)\n",
    b"s = repr(x.dtype)\n",
    b"d = {'dtype': t}\ns = Rf\"\"\"\n{t.dtype}\"\"\"\n",
    b"y = (x.  # a comment after the dot\n     data)\n",
]


@pytest.mark.parametrize("source", SKIPPED)
def test_nothing_to_rewrite_compiles_directly(source):
    assert not compat._may_rewrite(source)
    assert marshal.dumps(compat.program_code(source, "m.py")) == marshal.dumps(
        compile(source, "m.py", "exec", dont_inherit=True))


@pytest.mark.parametrize("source", REWRITTEN)
def test_rewrite_targets_still_rewritten(source):
    assert compat._may_rewrite(source)
    assert any(name.startswith("__dlpy_") for name in compat.program_code(source, "m.py").co_names)


def test_located_nodes_match_fix_missing_locations():
    source = (b"def f(x, d):\n    y = x.data\n    x.data = y\n    t = torch.Tensor(2, 3)\n"
              b"    return str(d.dtype), f'{x.dtype}', d.is_floating_point, print(dtype)\n")
    tree = compile(source, "m.py", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    expected = compile(ast.fix_missing_locations(compat.DataAccess().visit(tree)), "m.py",
                       "exec", dont_inherit=True)
    assert marshal.dumps(compat.program_code(source, "m.py")) == marshal.dumps(expected)


PRUNED = (  # statements with candidates among many without, each rewrite kind
    b"import torch\n\n\ndef plain(a, b):\n    return a + b\n\n\n"
    b"@register(lambda t: t.data)\ndef decorated(x):\n    return x * 2\n\n\n"
    b"class M:\n    def one(self):\n        return 1\n\n"
    b"    def two(self, x):\n        if x:\n            print(\n                x.dtype)\n"
    b"        return self.one()\n\n"
    b"    def three(self, x):\n        s = f'{torch.float16} {x}'\n        return s\n\n\n"
    b"def tail(x):\n    y = (x.  # a comment after the dot\n         data)\n"
    b"    return torch.Tensor(\n        2)\n\n\nCONSTANT = [plain(i, i) for i in range(3)]\n")


def test_statements_without_candidate_lines_are_not_visited_and_the_code_is_the_same():
    # the pruned rewrite (statements spanning no candidate line left unvisited) gives the
    # same code as visiting every node; the candidate lines are the rewrites' lines
    lines = compat._candidate_lines(PRUNED)
    text = PRUNED.split(b"\n")
    assert [text[n - 1].strip() for n in lines] == [
        b"@register(lambda t: t.data)", b"print(", b"x.dtype)",
        b"s = f'{torch.float16} {x}'", b"data)", b"return torch.Tensor("]
    tree = compile(PRUNED, "m.py", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    full = compile(ast.fix_missing_locations(compat.DataAccess().visit(tree)), "m.py", "exec",
                   dont_inherit=True)
    assert marshal.dumps(compat.program_code(PRUNED, "m.py")) == marshal.dumps(full)
    visited = []

    class Counting(compat.DataAccess):
        def generic_visit(self, node):
            visited.append(type(node).__name__)
            return super().generic_visit(node)

    tree = compile(PRUNED, "m.py", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    Counting(lines).visit(tree)
    names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert names == {"plain", "decorated", "one", "two", "three", "tail"}
    # visited: the decorator (above its def line), the f-string, tail's return; skipped: the
    # statements on no candidate line (a + b, x * 2, the list comprehension, the other returns)
    assert "Lambda" in visited and "JoinedStr" in visited and visited.count("Return") == 1
    assert "BinOp" not in visited and "ListComp" not in visited
