# PEP 734 "Synchronization", a token passed around through a queue: isolate run --path examples/pep734/lib examples/pep734/synchronization.py
# flags: --path examples/pep734/lib
# stdout: the data is done, after 30 edits or more by 4 workers
# sandbox-only: CPython 3.13 has no concurrent.interpreters; 3.14's shares the memoryview
#
# Adapted where the sandbox forces it: interpreters share no memory at all,
# so a memoryview crosses as a copy and cannot be edited in place by every
# worker. The token that grants access carries the data instead: whoever
# holds it edits it and passes it on, which is the PEP's point (a queue
# orders access to a resource). The workers run on host threads through
# call_in_thread(), since the sandbox has none, and are told to stop at
# the end, where the PEP leaves them waiting.
from concurrent import interpreters
from mymodule import EDITS, load_big_data, check_data

numworkers = 4
control = interpreters.create_queue()
data = load_big_data()


def worker():
    interp = interpreters.create()
    interp.prepare_main(control=control)
    return interp.call_in_thread(exec, """if True:
        from mymodule import edit_data
        while (data := control.get()) is not None:
            control.put(edit_data(data))
        """)


threads = [worker() for _ in range(numworkers)]

control.put(data)
while True:
    data = control.get()
    if not check_data(data):
        break
    control.put(data)
for _ in range(numworkers):
    control.put(None)
for t in threads:
    t.join()
# Workers may edit once more between the last check and this one.
print(f"the data is done, after {EDITS} edits or more by {numworkers} workers")
