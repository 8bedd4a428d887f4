# sandbox-only: the interpreters module
# stdout: current: 0 running True
# stdout: created: 1 [0, 1] idle
# stdout: state persists: 42
# stdout: run itself: RuntimeError interpreter 0 is running
# stdout: destroy itself: RuntimeError interpreter 0 is running
# stdout: failed: RunFailedError ZeroDivisionError: division by zero
# stdout: cause: RemoteException ZeroDivisionError 'division by zero' True
# stdout: exit: RunFailedError SystemExit: 3
# stdout: busy: RuntimeError interpreter 1 is running
# stdout: join timeout: TimeoutError
# stdout: joined: True
# stdout: destroyed: [0] RuntimeError interpreter 1 not found
# stdout: not a channel: ValueError
import interpreters

me = interpreters.get_current()
print("current:", me.id, "running", me.is_running())
child = interpreters.create()
print("created:", child.id, [i.id for i in interpreters.list_all()], "running" if child.is_running() else "idle")
child.run("answer = 42")
child.run("print('state persists:', answer)")

for what, call in [("run itself", lambda: me.run("pass")), ("destroy itself", me.destroy)]:
    try:
        call()
    except RuntimeError as exc:
        print(f"{what}:", type(exc).__name__, exc)

try:
    child.run("1 / 0")
except interpreters.RunFailedError as exc:
    print("failed:", type(exc).__name__, exc)
    cause = exc.__cause__
    print("cause:", type(cause).__name__, cause.type_name, repr(cause.message), "1 / 0" in cause.traceback)

try:
    child.run("import sys; sys.exit(3)")
except interpreters.RunFailedError as exc:
    print("exit:", type(exc).__name__, exc)

recv, send = interpreters.create_channel()
handle = child.run_in_thread("gate.recv()", channels={"gate": recv})
while not child.is_running():
    pass
try:
    child.run("pass")
except RuntimeError as exc:
    print("busy:", type(exc).__name__, exc)
try:
    handle.join(timeout=0.01)
except TimeoutError as exc:
    print("join timeout:", type(exc).__name__)
send.send(None)
handle.join()
print("joined:", handle.done())

child.destroy()
try:
    child.run("pass")
except RuntimeError as exc:
    print("destroyed:", [i.id for i in interpreters.list_all()], type(exc).__name__, exc)

try:
    interpreters.create().run("pass", channels={"x": 1})
except ValueError as exc:
    print("not a channel:", type(exc).__name__)
