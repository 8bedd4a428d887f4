"""An agent's code tool: run generated Python in a sandbox, get back what a
model needs to read.

`run_code(code)` runs the code in a fork of a prepared interpreter (the
common imports done once), with a time and a memory limit, and returns its
stdout and stderr, the repr of its last expression's value (as a notebook
shows it), and on failure the traceback as CPython prints it. Each call
starts from the prepared state: nothing one call did is seen by the next.

    python3 examples/python/code_tool.py
"""

import isolate_wasm as iso

# What every call starts from: imported once, copied in microseconds.
PREPARED = """
import collections, itertools, json, math, re, statistics

def __run_cell(source):
    import ast
    tree = ast.parse(source, "<cell>")
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), globals())
    if last is not None:
        value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), globals())
        if value is not None:
            return repr(value)
    return None
"""

_base = iso.create(memory="512M", timeout=2.0, stdout="capture", stderr="capture")
_base.exec(PREPARED)


def run_code(code: str) -> dict:
    """Runs `code`; returns {"ok", "stdout", "stderr", "value", "error"}."""
    with _base.fork() as sandbox:
        result = {"ok": True, "value": None, "error": None}
        try:
            result["value"] = sandbox.call("__run_cell", code)
        except iso.ExecutionFailed as failure:
            result.update(ok=False, error=failure.excinfo.formatted)
        except iso.LimitExceeded as limit:
            result.update(ok=False, error=f"stopped: {limit}")
        result["stdout"] = sandbox.take_stdout()
        result["stderr"] = sandbox.take_stderr()
        return result


def main() -> None:
    cells = [
        "words = 'the cat sat on the mat'.split()\nprint(len(words), 'words')\ncollections.Counter(words).most_common(2)",
        "statistics.mean([1, 2, 3, 4])",
        "words",  # the previous call's names are gone
        "open('/etc/passwd').read()",  # nothing of the host is visible
        "while True:\n    pass",  # stopped by the time limit
    ]
    for code in cells:
        result = run_code(code)
        print(">>> " + code.replace("\n", "\n... "))
        if result["stdout"]:
            print(result["stdout"], end="")
        if result["ok"]:
            print(f"value: {result['value']}")
        else:
            print(result["error"].rstrip().splitlines()[-1])


if __name__ == "__main__":
    main()
