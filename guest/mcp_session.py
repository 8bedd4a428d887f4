"""What `isolate mcp` (host/cli/mcp.rs) runs once in each new session: a
`__isolate_mcp__` in `__main__` whose `run(code)` runs a cell as a
notebook does, and whose `take_figures()` gives the figures it left. Its filename starts with `<isolate:`, so tracebacks leave
its frames out and show the cell's own, as CPython would."""


def _make_runner():
    import ast
    import json
    import linecache
    import sys

    main = sys.modules["__main__"].__dict__

    def _plain(obj):
        # numpy's scalars and arrays, as the numbers and lists they hold.
        if type(obj).__module__ == "numpy" and hasattr(obj, "tolist"):
            return obj.tolist()
        raise TypeError(f"{type(obj).__name__} is not JSON")
    # How much of a result's repr and JSON comes back: an agent reads it.
    limit = 20_000
    cells = 0

    def run(code):
        """Runs `code` in `__main__`; if it ends with an expression, returns
        `(repr, json)` of its value (`json` is None when the value is not
        plain JSON), as the REPL's `_` it also becomes; else None."""
        nonlocal cells
        cells += 1
        filename = f"<cell {cells}>"
        # Each cell keeps its own name, so a traceback through a function an
        # earlier cell defined still shows that cell's lines.
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        tree = ast.parse(code, filename, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, filename, "exec"), main)
        if last is None:
            return None
        value = eval(compile(last, filename, "eval"), main)
        if value is None:
            return None
        main["_"] = value
        text = repr(value)
        if len(text) > limit:
            text = text[:limit] + f"... ({len(text) - limit} more characters)"
        try:
            encoded = json.dumps(value, allow_nan=False, default=_plain)
        except (TypeError, ValueError, RecursionError):
            encoded = None
        if encoded is not None and len(encoded) > limit:
            encoded = None
        return (text, encoded)

    def take_figures():
        """The matplotlib figures left open (shown or not), as PNG bytes,
        closed: what a notebook shows below a cell."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return ()
        import io

        pngs = []
        for number in pyplot.get_fignums():
            buffer = io.BytesIO()
            pyplot.figure(number).savefig(buffer, format="png")
            pngs.append(buffer.getvalue())
        pyplot.close("all")
        return tuple(pngs)

    # plt.show() has nothing to show on: the figures come back with the call.
    import warnings

    warnings.filterwarnings("ignore", message="FigureCanvasAgg is non-interactive")
    return run, take_figures


class _Runner:
    __slots__ = ("run", "take_figures")

    def __repr__(self):
        return "<isolate mcp session runner>"


__isolate_mcp__ = _Runner()
__isolate_mcp__.run, __isolate_mcp__.take_figures = _make_runner()
del _make_runner, _Runner
# Run as a script, this set `__main__.__file__`: a session has none, as the
# REPL has none.
if globals().get("__file__", "").startswith("<isolate:"):
    del __file__
