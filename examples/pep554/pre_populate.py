# PEP 554 "Pre-populate an interpreter": isolate run examples/pep554/pre_populate.py
# stdout: mean 2 after 1 request(s)
# stdout: mean 15 after 2 request(s)
import textwrap as tw

import interpreters

interp = interpreters.create()
# The expensive set-up runs once; __main__ keeps it between runs.
interp.run(tw.dedent("""
    import statistics
    handled = 0

    def handle_request(values):
        global handled
        handled += 1
        print("mean", statistics.mean(values), "after", handled, "request(s)")
    """))

interp.run("handle_request([1, 2, 3])")
interp.run("handle_request([10, 20])")
