"""Output, grants and host functions."""

import sys

import pytest

import isolate_wasm as iso


def test_output_goes_to_the_hosts_sys_stdout_by_default(capsys):
    with iso.create() as interp:
        interp.exec("import sys\nprint('out ✓')\nprint('err', file=sys.stderr)")
    captured = capsys.readouterr()
    assert captured.out == "out ✓\n"
    assert captured.err == "err\n"


def test_output_can_be_captured_or_given_to_a_callable():
    chunks = []
    with iso.create(stdout="capture", stderr=chunks.append) as interp:
        interp.exec("import sys\nprint('one')\nprint('two', file=sys.stderr)")
        assert interp.take_stdout() == "one\n"
        assert interp.take_stdout() == ""
    assert "".join(chunks) == "two\n"


def test_a_character_split_across_writes_is_whole(capsys):
    with iso.create() as interp:
        interp.exec("import sys\ndata = '✓'.encode()\nsys.stdout.buffer.write(data[:1])\nsys.stdout.buffer.flush()\n"
                    "sys.stdout.buffer.write(data[1:] + b'\\n')\nsys.stdout.buffer.flush()")
    assert capsys.readouterr().out == "✓\n"


def test_nothing_of_the_host_is_visible_unless_granted(tmp_path):
    (tmp_path / "secret.txt").write_text("host data")
    with iso.create() as interp:
        assert interp.eval(f"__import__('os').path.exists({str(tmp_path)!r})") is False


def test_a_granted_folder_and_working_directory(tmp_path):
    (tmp_path / "input.txt").write_text("42")
    with iso.create(dirs=[iso.Dir(tmp_path, "/data")], workdir="/data") as interp:
        interp.exec("value = int(open('input.txt').read())\nopen('output.txt', 'w').write(str(value * 2))")
        assert interp.eval("__import__('os').getcwd()") == "/data"
    assert (tmp_path / "output.txt").read_text() == "84"


def test_a_read_only_grant_refuses_writes(tmp_path):
    with iso.create(dirs=[iso.Dir(tmp_path, "/data", readonly=True)]) as interp:
        with pytest.raises(iso.ExecutionFailed) as caught:
            interp.exec("open('/data/x', 'w')")
        assert caught.value.excinfo.type.__name__ in ("PermissionError", "OSError")
    assert not (tmp_path / "x").exists()


def test_modules_on_path_env_and_stdin(tmp_path):
    (tmp_path / "plugin.py").write_text("def greet(name):\n    return f'hi {name}'\n")
    with iso.create(path=[tmp_path], env={"MODE": "test"}, stdin="line one\n") as interp:
        interp.exec("import plugin")
        assert interp.call("plugin.greet", "Ada") == "hi Ada"
        assert interp.eval("__import__('os').environ.get('MODE')") == "test"
        assert interp.eval("__import__('sys').stdin.readline()") == "line one\n"
        assert interp.eval("__import__('os').environ.get('HOME')") is None


def test_host_functions_are_called_with_copies():
    seen = []

    def get_setting(key):
        seen.append(key)
        return {"greeting": "hello"}[key]

    with iso.create(functions={"get_setting": get_setting}) as interp:
        interp.exec("from host import tools")
        assert interp.eval("tools.get_setting('greeting')") == "hello"
        with pytest.raises(iso.ExecutionFailed) as caught:
            interp.exec("tools.get_setting('missing')")
        assert "KeyError" in str(caught.value.excinfo.msg) + caught.value.excinfo.formatted
    assert seen == ["greeting", "missing"]


def test_a_tool_error_sends_its_message_alone():
    def lookup(key):
        raise iso.ToolError(f"no setting {key!r}")

    with iso.create(functions={"lookup": lookup}) as interp:
        interp.exec("from host import tools, ToolError")
        interp.exec("try:\n    tools.lookup('colour')\nexcept ToolError as exc:\n    caught = str(exc)")
        assert interp.eval("caught") == "no setting 'colour'"


def test_interpreters_run_in_parallel_on_host_threads():
    from concurrent.futures import ThreadPoolExecutor

    interps = [iso.create() for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda i: i.eval("sum(range(10**6))"), interps))
    assert results == [sum(range(10**6))] * 2
    for interp in interps:
        interp.close()


def test_warmup_and_cache_dir():
    iso.warmup()
    assert iso.cache_dir()
    assert sys.modules["isolate_wasm"].PYTHON_VERSION.startswith("3.")
