# stdout: blocked child, destroyed: RuntimeError
# stdout: after a forced close: ChannelClosedError
# stdout: then destroyed: True
# sandbox-only: the interpreters module
# A child blocked in recv cannot be destroyed (it is running, PEP 554), but
# closing its channel wakes it, and then it can be.
import interpreters

child = interpreters.create()
r, s = interpreters.create_channel()
report_r, report_s = interpreters.create_channel()
handle = child.run_in_thread(
    "import interpreters\ntry:\n    gate.recv()\nexcept interpreters.ChannelClosedError as exc:\n    report.send(type(exc).__name__)",
    channels={"gate": r, "report": report_s},
)
while not child.is_running():
    pass
try:
    child.destroy()
except RuntimeError as exc:
    print("blocked child, destroyed:", type(exc).__name__)
s.close(force=True)
print("after a forced close:", report_r.recv())
handle.join()
child.destroy()
print("then destroyed:", child.id not in [i.id for i in interpreters.list_all()])
