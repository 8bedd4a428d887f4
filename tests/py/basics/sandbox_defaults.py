# sandbox-only: what the sandbox shows differs from a native CPython on purpose
# stdout: /etc/passwd: FileNotFoundError
# stdout: /proc/self/environ: FileNotFoundError
# stdout: {}
import os

for path in ("/etc/passwd", "/proc/self/environ"):
    try:
        open(path)
    except OSError as exc:
        print(f"{path}: {type(exc).__name__}")
print(dict(os.environ))
