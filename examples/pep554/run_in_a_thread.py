# PEP 554 "Run in a thread", with run_in_thread(): isolate run examples/pep554/run_in_a_thread.py
# stdout: before
# stdout: during
# stdout: after
#
# The sandbox has no threads of its own: run_in_thread() runs the other
# interpreter on a host thread. Without the join(), "after" could come first.
import interpreters

interp = interpreters.create()
print("before")
handle = interp.run_in_thread('print("during")')
handle.join()
print("after")
