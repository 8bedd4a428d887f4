# stdout: run: RuntimeError
# stdout: run_in_thread: RuntimeError
# stdout: is_running: RuntimeError
# stdout: destroy: RuntimeError
# stdout: its channel, used after release: ChannelReleasedError
# stdout: its channel, used after close: ChannelClosedError
# stdout: a new interpreter gets a new id: True
# sandbox-only: the interpreters module
import interpreters

interp = interpreters.create()
old_id = interp.id
interp.destroy()
for name, use in [
    ("run", lambda: interp.run("x = 1")),
    ("run_in_thread", lambda: interp.run_in_thread("x = 1")),
    ("is_running", interp.is_running),
    ("destroy", interp.destroy),
]:
    try:
        use()
        print(name, "worked on a destroyed interpreter!")
    except RuntimeError as exc:
        print(f"{name}: {type(exc).__name__}")

r, s = interpreters.create_channel()
r.release()
try:
    r.recv_nowait()
except interpreters.ChannelClosedError as exc:
    print("its channel, used after release:", type(exc).__name__)
s.close()
try:
    s.send_nowait(b"x")
except interpreters.ChannelClosedError as exc:
    print("its channel, used after close:", type(exc).__name__)
print("a new interpreter gets a new id:", interpreters.create().id > old_id)
