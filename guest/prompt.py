# The interactive prompt of `isolate run` (host/main.rs): with no script on a
# terminal, or after the script with -i. It is CPython's basic REPL, the one
# `python3` falls back to without a full-screen terminal: prompts on stderr,
# one line at a time from stdin, tracebacks as CPython prints them, `exit()`
# and `help()` as `site` defines them. It runs in the persistent `__main__`
# and takes nothing of its own there: the host binds `_isolate_prompt_banner`
# and both names are gone before the first prompt.


def _isolate_prompt(banner):
    import code
    import site
    import sys

    import __main__

    # The sandbox's interpreter starts without `site`, which defines these.
    site.setquit()
    site.setcopyright()
    site.sethelper()

    class Console(code.InteractiveConsole):
        def raw_input(self, prompt=""):
            sys.stdout.flush()
            sys.stderr.write(prompt)
            sys.stderr.flush()
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line.removesuffix("\n")

    Console(vars(__main__), filename="<stdin>").interact(banner=banner, exitmsg="")


globals().pop("_isolate_prompt")(globals().pop("_isolate_prompt_banner"))
