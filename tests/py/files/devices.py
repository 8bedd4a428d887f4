# stdout: ['null', 'urandom']
# stdout: b''
# stdout: 5
# stdout: 32 True
# stdout: logged
# stdout: FileNotFoundError
# stdout: PermissionError
# sandbox-only: /dev has two devices and nothing else
# /dev/null and /dev/urandom, as programs assume them.
import logging
import os

print(sorted(os.listdir("/dev")))
with open(os.devnull, "rb") as null:
    print(null.read())
with open(os.devnull, "w") as null:
    print(null.write("hello"))
with open("/dev/urandom", "rb") as random:
    first, second = random.read(32), random.read(32)
print(len(first), first != second)
handler = logging.FileHandler(os.devnull)
logging.getLogger("quiet").addHandler(handler)
logging.getLogger("quiet").warning("nobody sees this")
handler.close()
print("logged")
try:
    open("/dev/sda", "rb")
except OSError as exc:
    print(type(exc).__name__)
try:
    open("/dev/new", "w")
except OSError as exc:
    print(type(exc).__name__)
