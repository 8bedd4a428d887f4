# flags: --timeout 500ms
# exit: 124
# stdout: running a child forever
# stderr: isolate: time limit of 500ms exceeded
# sandbox-only: the time limit covers the interpreters a script runs
import interpreters

child = interpreters.create()
print("running a child forever")
child.run("while True:\n    pass")
