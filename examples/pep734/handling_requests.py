# PEP 734 "Example 1", a stream of requests handled by workers in their own interpreters: isolate run --path examples/pep734/lib examples/pep734/handling_requests.py
# flags: --path examples/pep734/lib
# stdout: handled 20 requests: total 2301, errors ['ValueError: unlucky request 13']
# sandbox-only: CPython 3.13 has no concurrent.interpreters; 3.14's runs the workers in threads
#
# Adapted where the sandbox forces it: it has no threads, so each worker's
# interpreter runs its loop with call_in_thread() (on a host thread, truly in
# parallel), and the results handler runs here once the requests are queued
# rather than in a thread of its own. The PEP's `results.get_nowait(empty)`
# becomes `results.empty()`: its own API (and CPython's) gives get_nowait()
# no default. `mymodule` is lib/mymodule.py, which every interpreter
# imports: --path reaches the interpreters a script creates.
from concurrent import interpreters
from mymodule import iter_requests, handle_result, summary

tasks = interpreters.create_queue()
results = interpreters.create_queue()

numworkers = 20
threads = []


def results_handler():
    running = numworkers
    while running:
        try:
            res = results.get(timeout=0.1)
        except interpreters.QueueEmpty:
            # No workers have finished a request since last time.
            pass
        else:
            if res is None:
                # A worker has stopped.
                running -= 1
            else:
                handle_result(res)
    assert results.empty()


def worker():
    interp = interpreters.create()
    interp.prepare_main(tasks=tasks, results=results)
    return interp.call_in_thread(exec, """if True:
        from mymodule import handle_request, capture_exception

        while True:
            req = tasks.get()
            if req is None:
                # Stop!
                break
            try:
                res = handle_request(req)
            except Exception as exc:
                res = capture_exception(exc)
            results.put(res)
        # Notify the results handler.
        results.put(None)
        """)


threads.extend(worker() for _ in range(numworkers))

for req in iter_requests():
    tasks.put(req)
# Send the "stop" signal.
for _ in range(numworkers):
    tasks.put(None)

results_handler()
for t in threads:
    t.join()
print(summary())
