# PEP 554 "Passing objects via marshal": isolate run examples/pep554/passing_objects_via_marshal.py
# stdout: got {'name': 'isolate', 'tags': ['wasm', 'python']}
# stdout: got [1, 2.5, (3+4j)]
# stdout: got frozenset({'x'})
# stdout: done
import marshal
import textwrap as tw

import interpreters

interp = interpreters.create()
r, s = interpreters.create_channel()
interp.run(tw.dedent("""
    import marshal
    """),
    channels=dict(reader=r),
)
handle = interp.run_in_thread(tw.dedent("""
    data = reader.recv()
    while data:
        obj = marshal.loads(data)
        print("got", obj)
        data = reader.recv()
    reader.release()
    """))
for obj in [{"name": "isolate", "tags": ["wasm", "python"]}, [1, 2.5, 3 + 4j], frozenset("x")]:
    s.send(marshal.dumps(obj))
s.send(None)
handle.join()
print("done")
