# PEP 734 "Example 2", chunks of a large data set reduced by workers: isolate run --path examples/pep734/lib examples/pep734/sharing_chunks.py
# flags: --path examples/pep734/lib
# stdout: 11 chunks reduced: [44, 108, 172, 236, 44]..., checksum 1280
# sandbox-only: CPython 3.13 has no concurrent.interpreters; 3.14's shares the memoryviews
#
# Adapted where the sandbox forces it: interpreters share no memory, so
# each worker gets a copy of the data (prepare_main copies a memoryview)
# and sends each chunk's result back through a queue, where the PEP writes
# it into a shared memoryview. The workers run on host threads through
# call_in_thread(). Three slips of the PEP's text are fixed: `res` for
# `req` in the stop test, the float count of chunks, and the order of a
# task's fields.
from concurrent import interpreters
from mymodule import read_large_data_set, use_results

numworkers = 3
data, chunksize = read_large_data_set()
buf = memoryview(data)
numchunks = (len(buf) + chunksize - 1) // chunksize
results = bytearray(numchunks)

tasks = interpreters.create_queue()
done = interpreters.create_queue()


def worker(id):
    interp = interpreters.create()
    interp.prepare_main(data=buf, done=done, tasks=tasks)
    return interp.call_in_thread(exec, """if True:
        from mymodule import reduce_chunk

        while True:
            req = tasks.get()
            if req is None:
                # Stop!
                break
            resindex, start, end = req
            chunk = data[start: end]
            res = reduce_chunk(chunk)
            done.put((resindex, res))
        """)


threads = [worker(id) for id in range(numworkers)]

for i in range(numchunks):
    # Assume there's at least one worker running still.
    start = i * chunksize
    end = start + chunksize
    if end > len(buf):
        end = len(buf)
    tasks.put((i, start, end))
# Send the "stop" signal.
for _ in range(numworkers):
    tasks.put(None)

for _ in range(numchunks):
    resindex, res = done.get()
    results[resindex] = res
for t in threads:
    t.join()

use_results(results)
