# stdout: /etc/passwd: FileNotFoundError
# stdout: /proc/self/environ: FileNotFoundError
# stdout: /proc: FileNotFoundError
# stdout: /home: FileNotFoundError
# stdout: /usr/local/lib/../etc/passwd: FileNotFoundError
# stdout: / holds only the sandbox's: ['dev', 'tmp', 'usr']
# sandbox-only: the host's files are not there
import os

for path in ["/etc/passwd", "/proc/self/environ"]:
    try:
        open(path).read()
        print(path, "was readable!")
    except OSError as exc:
        print(f"{path}: {type(exc).__name__}")
for path in ["/proc", "/home"]:
    try:
        os.listdir(path)
        print(path, "was listable!")
    except OSError as exc:
        print(f"{path}: {type(exc).__name__}")
try:
    open("/usr/local/lib/../etc/passwd").read()
    print("escaped the stdlib!")
except OSError as exc:
    print(f"/usr/local/lib/../etc/passwd: {type(exc).__name__}")
print("/ holds only the sandbox's:", sorted(os.listdir("/")))
