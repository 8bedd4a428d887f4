# stdout: MemoryError: Parser stack overflowed - Python source too complex to parse
# stdout: MemoryError: Parser stack overflowed - Python source too complex to parse
# sandbox-only: CPython built for WASI parses less deeply (native CPython stops at 200 parentheses with a SyntaxError)
for source in ["(" * 200_000 + ")" * 200_000, "-" * 200_000 + "1"]:
    try:
        eval(source)
    except (MemoryError, SyntaxError, RecursionError) as exc:
        print(f"{type(exc).__name__}: {exc}")
