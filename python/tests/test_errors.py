"""Exceptions: PEP 734's ExecutionFailed, and closed interpreters."""

import pytest

import isolate_wasm as iso


def test_execution_failed_has_pep_734s_excinfo(interp):
    with pytest.raises(iso.ExecutionFailed) as caught:
        interp.exec("def f():\n    return 1 / 0\nf()")
    excinfo = caught.value.excinfo
    assert excinfo.type.__name__ == "ZeroDivisionError"
    assert excinfo.type.__module__ == "builtins"
    assert excinfo.msg == "division by zero"
    assert excinfo.formatted.startswith("Traceback (most recent call last):")
    assert "return 1 / 0" in excinfo.formatted
    assert excinfo.formatted.rstrip().endswith("ZeroDivisionError: division by zero")
    assert str(caught.value) == "ZeroDivisionError: division by zero"
    assert isinstance(caught.value, iso.InterpreterError)


def test_exception_types_name_their_module(interp):
    interp.exec("class Refused(Exception):\n    pass")
    with pytest.raises(iso.ExecutionFailed) as caught:
        interp.exec("raise Refused('no')")
    assert (caught.value.excinfo.type.__qualname__, caught.value.excinfo.type.__module__) == ("Refused", "__main__")
    with pytest.raises(iso.ExecutionFailed) as caught:
        interp.exec("import json\njson.loads('{')")
    assert caught.value.excinfo.type.__module__ == "json.decoder"
    assert caught.value.excinfo.type.__name__ == "JSONDecodeError"


def test_chained_exceptions_are_formatted_as_cpython_prints_them(interp):
    with pytest.raises(iso.ExecutionFailed) as caught:
        interp.exec("try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('bad') from e")
    formatted = caught.value.excinfo.formatted
    assert "KeyError: 'k'" in formatted
    assert "The above exception was the direct cause" in formatted
    assert formatted.rstrip().endswith("ValueError: bad")


def test_system_exit_is_an_execution_failure(interp):
    with pytest.raises(iso.ExecutionFailed) as caught:
        interp.exec("raise SystemExit(3)")
    assert caught.value.excinfo.type.__name__ == "SystemExit"
    assert caught.value.excinfo.msg == "3"
    assert interp.eval("2 + 2") == 4


def test_a_syntax_error_is_an_execution_failure(interp):
    with pytest.raises(iso.ExecutionFailed) as caught:
        interp.exec("def (")
    assert caught.value.excinfo.type.__name__ == "SyntaxError"


def test_a_closed_interpreter_is_not_found():
    interp = iso.create()
    interp.close()
    interp.close()  # again: nothing
    with pytest.raises(iso.InterpreterNotFoundError):
        interp.exec("x = 1")
    assert "closed" in repr(interp)


def test_with_closes():
    with iso.create() as interp:
        interp.exec("x = 1")
    with pytest.raises(iso.InterpreterNotFoundError):
        interp.eval("x")


def test_bad_options_are_refused_before_anything_starts():
    with pytest.raises(ValueError, match="256M"):
        iso.create(memory="lots")
    with pytest.raises(TypeError):
        iso.create(memory=1.5)
    with pytest.raises(ValueError, match="timeout"):
        iso.create(timeout=-1)
    with pytest.raises(TypeError, match="Dir"):
        iso.create(dirs=["/tmp"])
    with pytest.raises(ValueError, match="stdout"):
        iso.create(stdout="somewhere")
    with pytest.raises(ValueError, match="working directory|workdir|grant"):
        iso.create(workdir="/nowhere")
