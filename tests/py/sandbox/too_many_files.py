# exit: 125
# stdout: opening
# stderr: isolate: limit of 1024 open handles exceeded
# sandbox-only: the cap on open handles
# Each open file is a file descriptor of the host process: an interpreter may
# not take them all.
import os

print("opening")
files = []
while True:
    files.append(os.open("/usr/local/lib/python315.zip", os.O_RDONLY))
