# exit: 125
# stdout: parsing
# stderr: isolate: stack limit of 4 MiB exceeded
# sandbox-only: native CPython raises RecursionError; here C recursion that CPython does not guard traps
import json

print("parsing")
json.loads("[" * 100_000 + "]" * 100_000)
