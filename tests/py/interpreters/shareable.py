# sandbox-only: the interpreters module
# stdout: True True True True True True True True True
# stdout: False False False False False False False
# stdout: (None, True, False, 0, -1, 12345678901234567890123456789, 1.5, 'ünï', b'\x00', ((), (1, (2,))))
# stdout: True
# stdout: memoryview True b'bytearray' b'array'
# stdout: RecvChannel True
import array
import enum

import interpreters as i

r, s = i.create_channel()
print(*(i.is_shareable(x) for x in (None, True, 7, 2**200, 0.5, "s", b"b", (1, ("x", b"y")), r)))


class Color(enum.IntEnum):
    RED = 1


print(*(i.is_shareable(x) for x in ([1], {}, bytearray(b"x"), (1, [2]), object(), Color.RED, "\ud800")))

echo = i.create()
value = (None, True, False, 0, -1, 12345678901234567890123456789, 1.5, "ünï", b"\x00", ((), (1, (2,))))
back_r, back_s = i.create_channel()
run = echo.run_in_thread("back.send(inbox.recv())", channels={"inbox": r, "back": back_s})
s.send(value)
got = back_r.recv()
run.join()
print(got)
print(got == value)

run = echo.run_in_thread(
    "views = [inbox.recv(), inbox.recv()]\n"
    "back.send((type(views[0]).__name__, views[0].readonly, bytes(views[0]), bytes(views[1])))",
    channels={"inbox": r, "back": back_s},
)
s.send_buffer(bytearray(b"bytearray"))
s.send_buffer(array.array("b", b"array"))
print(*back_r.recv())
run.join()

run = echo.run_in_thread("back.send(inbox.recv())", channels={"inbox": r, "back": back_s})
s.send(r)
end = back_r.recv()
run.join()
print(type(end).__name__, end == r)
