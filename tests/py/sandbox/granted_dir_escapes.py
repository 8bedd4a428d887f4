# flags: --dir {fixtures}/data:/data
# stdout: granted: hello from the host
# stdout: /data/../secret.txt: FileNotFoundError
# stdout: /data/secret: PermissionError
# stdout: /data/etc/passwd: PermissionError
# stdout: /data/etc: PermissionError
# stdout: relative ../secret.txt from /data: FileNotFoundError
# stdout: a new symlink out, followed: PermissionError
# sandbox-only: escapes from a granted directory
# `..` is resolved by name, in the sandbox's tree: /data/.. is its /, which
# has no secret.txt; a symlink out is refused by the grant's capability.
import os

print("granted:", open("/data/hello.txt").read().strip())
for path in ["/data/../secret.txt", "/data/secret", "/data/etc/passwd"]:
    try:
        print(path, "was readable:", open(path).read())
    except OSError as exc:
        print(f"{path}: {type(exc).__name__}")
try:
    print("/data/etc was listable:", os.listdir("/data/etc"))
except OSError as exc:
    print(f"/data/etc: {type(exc).__name__}")
os.chdir("/data")
try:
    print("escaped:", open("../secret.txt").read())
except OSError as exc:
    print(f"relative ../secret.txt from /data: {type(exc).__name__}")
try:
    os.symlink("../secret.txt", "/data/made_here")
    print("escaped:", open("/data/made_here").read())
except OSError as exc:
    print(f"a new symlink out, followed: {type(exc).__name__}")
finally:
    if os.path.lexists("/data/made_here"):
        os.remove("/data/made_here")
