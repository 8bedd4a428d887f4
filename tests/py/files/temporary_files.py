# stdout: /tmp []
# stdout: hello ['a.txt']
# stdout: ['b.txt']
# stdout: spooled b'abc'
# stdout: named True
# stdout: lives while open b'data'
# stdout: []
# stdout: OSError True
# stdout: after the cap: still works
# flags: --tmp-size 1M
# sandbox-only: /tmp is the sandbox's own, in memory, capped by --tmp-size
# `tempfile` works unchanged on the sandbox's private /tmp; filling it meets
# its cap as a full disk (ENOSPC), and the interpreter goes on.
import os
import pathlib
import tempfile

print(tempfile.gettempdir(), os.listdir("/tmp"))
with tempfile.TemporaryDirectory() as folder:
    path = pathlib.Path(folder, "a.txt")
    path.write_text("hello")
    print(path.read_text(), os.listdir(folder))
    path.rename(pathlib.Path(folder, "b.txt"))
    print(os.listdir(folder))
with tempfile.SpooledTemporaryFile(max_size=1) as spooled:
    spooled.write(b"abc")
    spooled.seek(0)
    print("spooled", spooled.read())
with tempfile.NamedTemporaryFile() as named:
    print("named", os.path.exists(named.name))
with open("/tmp/gone", "w+") as gone:
    gone.write("data")
    os.remove("/tmp/gone")
    gone.seek(0)
    print("lives while open", gone.read().encode())
print(os.listdir("/tmp"))
try:
    with open("/tmp/big", "wb") as big:
        while True:
            big.write(b"x" * 65536)
except OSError as exc:
    import errno

    print(type(exc).__name__, exc.errno == errno.ENOSPC)
os.remove("/tmp/big")
print("after the cap:", "still works" if tempfile.mkstemp() else "")
