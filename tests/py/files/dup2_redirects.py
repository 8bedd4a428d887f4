# stdout: before
# stdout: captured: b'into the file\nraw\n'
# stdout: after
# stdout: silenced
# stdout: OSError True
# stdout: faulthandler True
# sandbox-only: os.dup2 on the sandbox's descriptors
# Redirecting a standard stream into a file, to /dev/null, and back: what
# pytest's fd capture and `faulthandler.enable(file=...)` do.
import errno
import faulthandler
import os
import sys
import tempfile

print("before", flush=True)
saved = os.dup(1)
with tempfile.TemporaryFile() as file:
    os.dup2(file.fileno(), 1)
    print("into the file", flush=True)
    os.write(1, b"raw\n")
    os.dup2(saved, 1)
    file.seek(0)
    captured = file.read()
print("captured:", captured)
print("after", flush=True)
null = os.open(os.devnull, os.O_WRONLY)
saved_err = os.dup(2)
os.dup2(null, 2)
os.write(2, b"nobody reads this\n")
os.dup2(saved_err, 2)
for fd in (null, saved, saved_err):
    os.close(fd)
print("silenced")
try:
    os.dup(1000)
except OSError as exc:
    print(type(exc).__name__, exc.errno == errno.EBADF)
with tempfile.TemporaryFile("w") as log:
    faulthandler.enable(file=log)
    print("faulthandler", faulthandler.is_enabled())
    faulthandler.disable()
