# stdout: created 4096
# stdout: RuntimeError: cannot create a channel: this interpreter holds ends of 4096 open channels, the limit
# stdout: released ones make room: 4096
# sandbox-only: the cap on channels
# Each channel costs the host memory outside the guest's own limit.
import interpreters

ends = []
try:
    while True:
        ends.append(interpreters.create_channel())
except RuntimeError as exc:
    print("created", len(ends))
    print(f"{type(exc).__name__}: {exc}")
# Closing channels frees their place.
for recv, send in ends:
    send.close(force=True)
ends = [interpreters.create_channel() for _ in range(4096)]
print("released ones make room:", len(ends))
