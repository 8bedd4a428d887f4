"""exec, eval, call and prepare_main, and the values that cross."""

import json

import pytest

import isolate_wasm as iso


def test_exec_eval_call(interp):
    interp.exec("import math\ndef area(r, *, scale=1):\n    return math.pi * r * r * scale")
    assert interp.eval("sum(range(10))") == 45
    assert interp.call("math.sqrt", 16.0) == 4.0
    assert interp.call("area", 1, scale=2) == pytest.approx(6.283185307179586)
    assert interp.call("sorted", [3, 1, 2], reverse=True) == [3, 2, 1]
    assert interp.eval("__import__('sys').version").startswith(iso.PYTHON_VERSION)


def test_state_stays_between_runs(interp):
    interp.exec("counter = 0")
    for _ in range(3):
        interp.exec("counter += 1")
    assert interp.eval("counter") == 3


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -7,
        2**200,
        -(2**70),
        1.5,
        float("inf"),
        "",
        "héllo ✓",
        b"\x00\xff",
        (1, "two", (3.0,)),
        [1, [2, [3]]],
        {"a": 1, 2: [None], (1, 2): {"nested": b"x"}},
    ],
)
def test_values_cross_both_ways(interp, value):
    interp.prepare_main(value=value)
    assert interp.eval("value") == value
    assert type(interp.eval("value")) is type(value)
    assert interp.call("repr", value) == repr(value)


def test_nan_crosses(interp):
    assert interp.call("float", "nan") != interp.call("float", "nan")


def test_buffers_go_in_as_bytes_and_come_back_as_memoryviews(interp):
    interp.prepare_main(data=bytearray(b"abc"), view=memoryview(b"xyz"))
    assert interp.eval("type(data).__name__") == "memoryview"
    assert interp.eval("bytes(data) + bytes(view)") == b"abcxyz"


def test_arguments_are_copies(interp):
    interp.exec("def append(items):\n    items.append(4)\n    return items")
    items = [1, 2, 3]
    assert interp.call("append", items) == [1, 2, 3, 4]
    assert items == [1, 2, 3]


def test_prepare_main_takes_a_mapping_and_keywords(interp):
    interp.prepare_main({"a": 1}, b=2)
    assert interp.eval("a + b") == 3
    with pytest.raises(ValueError, match="not a name"):
        interp.prepare_main({"not a name": 1})


def test_a_function_of_an_importable_module_goes_by_reference(interp):
    assert interp.call(json.dumps, {"a": [1]}) == '{"a": [1]}'
    assert interp.call(len, "abcd") == 4


def test_a_local_function_is_not_shareable(interp):
    def local():
        pass

    with pytest.raises(iso.NotShareableError, match="dotted name"):
        interp.call(local)


def test_an_object_that_cannot_cross_is_not_shareable(interp):
    with pytest.raises(iso.NotShareableError, match="cannot send generator"):
        interp.prepare_main(thing=(x for x in []))
    with pytest.raises(iso.NotShareableError):
        interp.eval("open")
    # The interpreter goes on.
    assert interp.eval("1 + 1") == 2


def test_exec_wants_source(interp):
    with pytest.raises(TypeError, match="str"):
        interp.exec(b"x = 1")


def test_other_objects_go_in_by_pickle_when_their_class_is_importable_there(interp, tmp_path):
    import importlib
    import sys

    (tmp_path / "shapes.py").write_text(
        "import dataclasses\n@dataclasses.dataclass\nclass Box:\n    w: int\n    h: int\n    def area(self):\n        return self.w * self.h\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        shapes = importlib.import_module("shapes")
        with iso.create(path=[tmp_path]) as sandbox:
            sandbox.exec("import shapes")
            sandbox.prepare_main(box=shapes.Box(2, 3), plain=5)
            assert sandbox.eval("box.area() + plain") == 11
            assert sandbox.call("shapes.Box.area", shapes.Box(4, 5)) == 20
            assert sandbox.eval("sorted(k for k in globals() if 'pickled' in k)") == []
            # Nothing comes back as a pickle.
            with pytest.raises(iso.NotShareableError):
                sandbox.eval("box")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("shapes", None)


def test_an_object_whose_class_the_sandbox_lacks_fails_clearly(interp):
    class Local:
        pass

    with pytest.raises(iso.NotShareableError, match="cannot send Local .*pickling it failed"):
        interp.prepare_main(thing=Local())
    with pytest.raises(iso.NotShareableError, match="cannot send Local"):
        interp.call("print", 1, Local())
    import fractions

    # The standard library's classes are importable there.
    assert interp.call("repr", fractions.Fraction(1, 3)) == "Fraction(1, 3)"
