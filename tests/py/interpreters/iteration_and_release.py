# sandbox-only: the interpreters module
# stdout: received 0
# stdout: received 1
# stdout: received 2
# stdout: iteration ended: the channel closed
# stdout: associated: [0] [2]
# stdout: after the with block: ChannelReleasedError
# stdout: closed when the last association went: ChannelClosedError
# stdout: listed: True
import interpreters as i

r, s = i.create_channel()
producer = i.create()
run = producer.run_in_thread(
    "for n in range(3):\n    out.send(n)\nout.close()",
    channels={"out": s},
)
for item in r:
    print("received", item)
run.join()
print("iteration ended: the channel closed")

r, s = i.create_channel()
peer = i.create()
run = peer.run_in_thread("inbox.recv()", channels={"inbox": r})
with s:
    s.send("hello")
    run.join()
    print("associated:", [x.id for x in s.interpreters], [x.id for x in r.interpreters])
try:
    s.send("again")
except i.ChannelClosedError as exc:
    print("after the with block:", type(exc).__name__)
peer.run("inbox.release()", channels={"inbox": r})
try:
    r.recv_nowait()
except i.ChannelClosedError as exc:
    print("closed when the last association went:", type(exc).__name__)

r, s = i.create_channel()
print("listed:", (r, s) in i.list_all_channels())
