# sandbox-only: the interpreters module
# stdout: not found: ChannelNotFoundError
# stdout: nobody receiving: NotReceivedError
# stdout: nobody receiving a buffer: NotReceivedError
# stdout: nothing waiting: default
# stdout: timeout: TimeoutError
# stdout: not shareable: ValueError 'list' object is not shareable
# stdout: no buffer: ValueError 'int' object does not support the buffer protocol
# stdout: sender waiting: ChannelNotEmptyError
# stdout: forced: sender saw ChannelClosedError
# stdout: after close: ChannelClosedError ChannelClosedError
# stdout: released: ChannelReleasedError
# stdout: released twice: True False
import interpreters as i


def outcome(call):
    try:
        call()
    except Exception as exc:
        return type(exc).__name__
    return "no error"


print("not found:", outcome(lambda: i.RecvChannel(10**9).recv_nowait()))
r, s = i.create_channel()
print("nobody receiving:", outcome(lambda: s.send_nowait(b"x")))
print("nobody receiving a buffer:", outcome(lambda: s.send_buffer_nowait(bytearray(b"x"))))
print("nothing waiting:", r.recv_nowait("default"))
print("timeout:", outcome(lambda: r.recv(timeout=0.01)))
try:
    s.send([1, 2])
except ValueError as exc:
    print("not shareable:", type(exc).__name__, exc)
try:
    s.send_buffer(5)
except ValueError as exc:
    print("no buffer:", type(exc).__name__, exc)

# A sender waiting in another interpreter makes the channel non-empty.
r, s = i.create_channel()
sender = i.create()
run = sender.run_in_thread(
    "import interpreters\n"
    "try:\n"
    "    out.send('pending')\n"
    "except interpreters.ChannelClosedError as exc:\n"
    "    print('forced: sender saw', type(exc).__name__)\n",
    channels={"out": s},
)
while sender not in s.interpreters:
    pass
print("sender waiting:", outcome(lambda: r.close()))
r.close(force=True)
run.join()
print("after close:", outcome(lambda: s.send(1)), outcome(lambda: r.recv()))

r, s = i.create_channel()
first = r.release()
print("released:", outcome(lambda: r.recv_nowait()))
print("released twice:", first, r.release())
