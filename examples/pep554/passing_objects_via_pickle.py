# PEP 554 "Passing objects via pickle": isolate run examples/pep554/passing_objects_via_pickle.py
# stdout: got Fraction(1, 3) of type Fraction
# stdout: got datetime.date(2026, 11, 22) of type date
# stdout: got Counter({'s': 2, 'i': 1, 'o': 1, 'l': 1, 'a': 1, 't': 1, 'e': 1}) of type Counter
# stdout: done
import collections
import datetime
import fractions
import pickle
import textwrap as tw

import interpreters

interp = interpreters.create()
r, s = interpreters.create_channel()
interp.run(tw.dedent("""
    import pickle
    """),
    channels=dict(reader=r),
)
handle = interp.run_in_thread(tw.dedent("""
    data = reader.recv()
    while data:
        obj = pickle.loads(data)
        print("got", repr(obj), "of type", type(obj).__name__)
        data = reader.recv()
    reader.release()
    """))
for obj in [fractions.Fraction(1, 3), datetime.date(2026, 11, 22), collections.Counter("isolates")]:
    s.send(pickle.dumps(obj))
s.send(None)
handle.join()
print("done")
