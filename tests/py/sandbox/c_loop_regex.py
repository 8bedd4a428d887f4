# flags: --timeout 300ms
# exit: 124
# stdout: matching
# stderr: isolate: time limit of 300ms exceeded
# sandbox-only: the time limit
# Catastrophic backtracking: one call into the regular expression engine,
# a C loop that never returns to Python, still ends at the limit.
import re

print("matching", flush=True)
re.match(r"(a+)+$", "a" * 40 + "b")
print("matched")
