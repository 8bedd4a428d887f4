# flags: --timeout 1s
# output: discard
# exit: 124
# stderr: isolate: time limit of 1s exceeded
# sandbox-only: the time limit
import sys

line = "x" * 1023 + "\n"
while True:
    sys.stdout.write(line)
