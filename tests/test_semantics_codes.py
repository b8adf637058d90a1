"""The compiled-case cache of tests/test_torch_semantics.py (tests/fixtures/semantics_codes.py):
what it gives is what compiling the source gives, and a stale or broken cache is ignored."""

from semantics_codes import Codes, write

SNIPPETS = {"a:one": "r = 1 + 2", "a:two": "import math\nr = math.floor(2.5)",
            "a:broken": "r = (", "a:warns": "r = 1 is 1"}
EXPRS = ["3 * 4", "sum(range(5))"]


def run(codes: Codes) -> list:
    results = []
    for name, source in SNIPPETS.items():
        scope = {}
        try:
            exec(codes.code(f"snippet:{name}", source, "exec"), scope)
            results.append(scope["r"])
        except SyntaxError as error:
            results.append(type(error).__name__)
    return results + [eval(codes.code(f"expr:{e}", e, "eval")) for e in EXPRS]


def test_cached_code_runs_as_the_source(tmp_path):
    assert write(SNIPPETS, EXPRS, 2, tmp_path) == 5  # the broken one is left to the test
    codes = Codes(SNIPPETS, EXPRS, tmp_path)
    assert sorted(codes.offsets) == sorted(["snippet:a:one", "snippet:a:two", "snippet:a:warns",
                                            "expr:3 * 4", "expr:sum(range(5))"])
    assert run(codes) == [3, 2, "SyntaxError", True, 12, 10]
    assert write(SNIPPETS, EXPRS, 2, tmp_path) == 0  # current: nothing written


def test_a_stale_or_cut_cache_is_ignored(tmp_path):
    write(SNIPPETS, EXPRS, 1, tmp_path)
    changed = {**SNIPPETS, "a:one": "r = 1 + 3"}
    stale = Codes(changed, EXPRS, tmp_path)
    assert stale.offsets == {}  # another source: compiled from it
    scope = {}
    exec(stale.code("snippet:a:one", changed["a:one"], "exec"), scope)
    assert scope["r"] == 4
    data = tmp_path / "semantics_codes.bin"
    data.write_bytes(data.read_bytes()[:10])  # cut: its size no longer the index's
    assert Codes(SNIPPETS, EXPRS, tmp_path).offsets == {}
    assert run(Codes(SNIPPETS, EXPRS, tmp_path)) == [3, 2, "SyntaxError", True, 12, 10]
