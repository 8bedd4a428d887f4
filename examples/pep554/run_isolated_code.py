# PEP 554 "Run isolated code": isolate run examples/pep554/run_isolated_code.py
# stdout: before
# stdout: during
# stdout: after
import interpreters

interp = interpreters.create()
print("before")
interp.run('print("during")')
print("after")
