# stdout: the oldest: RuntimeError: interpreter 1: the result of this run was discarded: more than 256 runs were never joined
# stdout: the newest joins: True
# sandbox-only: the cap on runs never joined
# Each run started in a thread keeps its result on the host until joined;
# an interpreter that never joins may not grow that without end.
import time

import interpreters

child = interpreters.create()
handles = []
for _ in range(400):
    handle = child.run_in_thread("x = 1")
    while not handle.done():
        time.sleep(0.0001)
    handles.append(handle)
try:
    handles[0].join()
except RuntimeError as exc:
    print(f"the oldest: {type(exc).__name__}: {exc}")
handles[-1].join()
print("the newest joins:", True)
