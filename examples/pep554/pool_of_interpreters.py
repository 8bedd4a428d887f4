# PEP 554 "Running in a thread pool executor", as a pool of interpreters: isolate run examples/pep554/pool_of_interpreters.py
# stdout: before
# stdout: after
# stdout: [(0, 0), (1, 1), (2, 5), (3, 14), (4, 30), (5, 55), (6, 91), (7, 140), (8, 204), (9, 285)]
#
# The sandbox has no threads, so no ThreadPoolExecutor: five interpreters
# each run on a host thread, truly in parallel, taking tasks from one
# channel and sending results on another. Channels are unbuffered (a send
# waits for its receiver), so a sixth interpreter feeds the tasks while this
# one collects the results; doing both here could leave everyone waiting.
import textwrap as tw

import interpreters

WORKERS, TASKS = 5, 10
tasks_r, tasks_s = interpreters.create_channel()
results_r, results_s = interpreters.create_channel()
worker = tw.dedent("""
    for n in iter(tasks.recv, None):
        results.send((n, sum(i * i for i in range(n + 1))))
    """)
feeder = tw.dedent(f"""
    for n in range({TASKS}):
        tasks.send(n)
    for _ in range({WORKERS}):
        tasks.send(None)
    """)

interps = [interpreters.create() for _ in range(WORKERS)]
print("before")
handles = [interp.run_in_thread(worker, channels={"tasks": tasks_r, "results": results_s}) for interp in interps]
handles.append(interpreters.create().run_in_thread(feeder, channels={"tasks": tasks_s}))
print("after")
results = sorted(results_r.recv() for _ in range(TASKS))
for handle in handles:
    handle.join()
print(results)
