# sandbox-only: CPython 3.15 hints at site-packages when site initialization is off, as it always is in the sandbox; the sandbox says what it imports from instead
# exit: 1
# stdout: caught: No module named 'no_such_package'
# stderr: Traceback (most recent call last):
# stderr:   File "{script}", line 18, in <module>
# stderr:     import no_such_package
# stderr: ModuleNotFoundError: No module named 'no_such_package'. The sandbox imports only the standard library, the packages it bundles and the folders granted to it (isolate run --path DIR)
# The hint is the traceback's: the exception's own message is CPython's.
import traceback

try:
    import no_such_package
except ModuleNotFoundError as exc:
    print("caught:", exc)
    shown = "".join(traceback.format_exception_only(exc))
    assert "--path DIR" in shown and "site-packages" not in shown, shown

import no_such_package
