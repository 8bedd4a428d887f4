# stdout: out 1
# stdout: out 2
# stderr: err 1
# stderr: err 2
import sys

print("out 1")
print("err 1", file=sys.stderr)
print("out 2")
sys.stderr.write("err 2\n")
