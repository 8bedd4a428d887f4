# PEP 554 "Handling an exception": isolate run examples/pep554/handling_an_exception.py
# stdout: got the error from the subinterpreter: KeyError: 'spam'
# stdout: its traceback ends with: KeyError: 'spam'
#
# The exception itself stays in its interpreter: run() raises RunFailedError,
# whose __cause__ describes it (type name, message, formatted traceback).
import textwrap as tw

import interpreters

interp = interpreters.create()
try:
    interp.run(tw.dedent("""
        raise KeyError('spam')
        """))
except interpreters.RunFailedError as exc:
    print("got the error from the subinterpreter:", exc)
    print("its traceback ends with:", exc.__cause__.traceback.splitlines()[-1])
