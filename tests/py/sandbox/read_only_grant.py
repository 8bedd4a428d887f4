# flags: --dir {fixtures}/data:/data:ro
# stdout: read: hello from the host
# stdout: write: PermissionError
# stdout: append: PermissionError
# stdout: create: PermissionError
# stdout: mkdir: PermissionError
# stdout: remove: PermissionError
# stdout: rename: PermissionError
# stdout: symlink: PermissionError
# stdout: utime: PermissionError
# stdout: unchanged: hello from the host
# sandbox-only: a read-only grant
import os

print("read:", open("/data/hello.txt").read().strip())
attempts = {
    "write": lambda: open("/data/hello.txt", "w").write("overwritten"),
    "append": lambda: open("/data/hello.txt", "a").write("more"),
    "create": lambda: open("/data/new.txt", "x").write("new"),
    "mkdir": lambda: os.mkdir("/data/new"),
    "remove": lambda: os.remove("/data/hello.txt"),
    "rename": lambda: os.rename("/data/hello.txt", "/data/moved.txt"),
    "symlink": lambda: os.symlink("hello.txt", "/data/link"),
    "utime": lambda: os.utime("/data/hello.txt", (0, 0)),
}
for name, attempt in attempts.items():
    try:
        attempt()
        print(name, "succeeded!")
    except OSError as exc:
        print(f"{name}: {type(exc).__name__}")
print("unchanged:", open("/data/hello.txt").read().strip())
