# PEP 554 "Synchronize using a channel": isolate run examples/pep554/synchronize_using_a_channel.py
# stdout: before
# stdout: during
# stdout: after
import textwrap as tw

import interpreters

interp = interpreters.create()
r, s = interpreters.create_channel()
handle = interp.run_in_thread(
    tw.dedent("""
        reader.recv()
        print("during")
        reader.release()
        """),
    channels=dict(reader=r),
)
print("before")
s.send(b"")  # returns once the other interpreter has received it
s.release()
handle.join()
print("after")
