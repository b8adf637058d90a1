"""torch.parse_schema (dlpy.aten.parse_schema): every aten schema dlpy knows prints back as it
was read; the canonical forms of defaults; the parts torch's FunctionSchema / Argument give.
Also the other names of the toplevel_leftovers area whose behaviour the area alone does not
show (Stream / Event equality, packed quantized integers, qscheme constants under copy)."""

import copy
import pickle

import pytest

import dlpy
from dlpy._aten_schemas import SCHEMAS
from dlpy.aten import FunctionSchema, SchemaError, aten, parse_schema


@pytest.mark.parametrize("text", SCHEMAS)
def test_aten_schemas_round_trip(text):
    schema = parse_schema(text)
    assert str(schema) == text
    assert str(parse_schema(str(schema))) == text


@pytest.mark.parametrize(("text", "canonical"), [
    ("foo(int   x ,int y)->int", "foo(int x, int y) -> int"),
    ("foo(float f=0.1, float g=2, float h=1e16) -> ()",
     "foo(float f=0.10000000000000001, float g=2., float h=10000000000000000.) -> ()"),
    ("foo(str s='a', Device d=\"cpu\") -> ()", 'foo(str s="a", Device d=cpu) -> ()'),
    ("foo(ScalarType a=long, Layout l=strided, MemoryFormat m=contiguous_format) -> ()",
     "foo(ScalarType a=4, Layout l=0, MemoryFormat m=0) -> ()"),
    ("foo(int[2] a=1, SymInt[2] b=1, int[2] c=[3, 3]) -> ()",
     "foo(int[2] a=1, SymInt[2] b=[1, 1], int[2] c=3) -> ()"),
    ("foo(int x) -> (int a)", "foo(int x) -> int a"),
    ("foo(int x, *) -> ()", "foo(int x) -> ()"),
])
def test_canonical_strings(text, canonical):
    assert str(parse_schema(text)) == canonical
    if "Device" not in text:  # (torch prints a Device default unquoted, and cannot read it)
        assert parse_schema(text) == parse_schema(canonical)


def test_parts():
    schema = parse_schema("aten::add.out(Tensor self, Tensor other, *, Scalar alpha=1, "
                          "Tensor(a!) out) -> Tensor(a!)")
    assert (schema.name, schema.overload_name, schema.is_mutable) == ("aten::add", "out", True)
    out = schema.arguments[3]
    assert (out.name, str(out.type), out.kwarg_only, out.is_out, out.is_write) == \
        ("out", "Tensor", True, True, True)
    assert out.alias_info.before_set == {"a"} and out.alias_info.is_write
    assert schema.arguments[2].default_value == 1 and schema.arguments[2].has_default_value()
    assert [str(r.type) for r in schema.returns] == ["Tensor"]
    split = parse_schema("aten::split.Tensor(Tensor(a -> *) self, SymInt split_size, "
                         "int dim=0) -> Tensor(a)[]")
    assert split.arguments[0].alias_info.after_set == {"*"}
    assert str(split.returns[0].type) == "List[Tensor]"


def test_aten_overloads_have_function_schemas():
    assert isinstance(aten.add.Tensor._schema, FunctionSchema)
    assert aten.add.Tensor._schema == parse_schema(str(aten.add.Tensor._schema))
    assert aten.split.Tensor.is_view and not aten.add_.Tensor.is_view


@pytest.mark.parametrize("text", ["bad", "", "foo(int) -> int", "foo(int x) ->",
                                  "foo(Unknown x) -> ()", "foo(int x=1, int y) -> ()",
                                  "foo(int x=abc) -> ()"])
def test_malformed(text):
    with pytest.raises(RuntimeError):
        parse_schema(text)
    with pytest.raises(SchemaError):
        parse_schema(text)


def test_stream_event():
    assert dlpy.Stream() == dlpy.Stream("cpu") and len({dlpy.Stream(), dlpy.Stream()}) == 1
    assert dlpy.Stream().query() and dlpy.Event().query()
    with pytest.raises(RuntimeError):
        dlpy.Event().record()
    with pytest.raises(ValueError):
        dlpy.Event(enable_timing=True).elapsed_time(dlpy.Event(enable_timing=True))


def test_packed_quantized_integers():
    q = dlpy.quantize_per_tensor(dlpy.arange(5.), 1.0, 0, dlpy.quint2x4)
    assert q.int_repr().tolist() == [0 | 1 << 2 | 2 << 4 | 3 << 6, 3]
    q = dlpy.quantize_per_tensor(dlpy.arange(6.).reshape(2, 3), 1.0, 0, dlpy.quint4x2)
    assert q.int_repr().tolist() == [0 | 1 << 4, 2 | 3 << 4, 4 | 5 << 4]
    assert q.dequantize().tolist() == [[0., 1., 2.], [3., 4., 5.]]


def test_qscheme_constants():
    q = dlpy.per_tensor_affine
    assert copy.deepcopy(q) is q and pickle.loads(pickle.dumps(q)) is q
    with pytest.raises(TypeError):
        dlpy.qscheme("per_tensor_affine")
