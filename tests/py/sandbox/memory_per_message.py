# flags: --memory 144M
# stdout: sent 256 MiB in 1 MiB messages
# stdout: ran 256 MiB of source and bindings in a child
# sandbox-only: the memory limit and the host calls behind channels
# Everything a guest hands the host must be given back: 256 sends of 1 MiB
# with 64 MiB to spare (the two interpreters count 40 MiB each) fail at the
# 30th if each send keeps a copy (as the previous guest's bindings did).
import interpreters

MIB = 1 << 20
payload = bytes(range(256)) * (MIB // 256)

recv, send = interpreters.create_channel()
for _ in range(256):
    try:
        send.send_nowait(payload)
    except interpreters.NotReceivedError:
        pass
print("sent 256 MiB in 1 MiB messages")

child = interpreters.create()
source = "# " + "x" * MIB + "\n"
for _ in range(256):
    child.run(source, channels={"inbox": recv})
print("ran 256 MiB of source and bindings in a child")
