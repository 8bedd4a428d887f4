# flags: --memory 200M
# stdout: MemoryError in a child, with the parent holding 64 MiB
# stdout: RuntimeError: cannot create an interpreter: the sandbox's memory limit of 200 MiB is reached
# stdout: destroyed children give their memory back: True
# sandbox-only: the memory limit covers every interpreter of the sandbox
# The cap is on the sandbox, not on each interpreter: creating more cannot
# multiply it. Each interpreter counts 40 MiB from its start.
import interpreters

held = bytearray(64 << 20)
child = interpreters.create()
try:
    child.run("b = bytearray(96 << 20)")
except interpreters.RunFailedError as exc:
    print(exc.__cause__.type_name, "in a child, with the parent holding 64 MiB")
children = [child]
try:
    while True:
        children.append(interpreters.create())
except RuntimeError as exc:
    print(f"{type(exc).__name__}: {exc}")
count = len(children)
for c in children:
    c.destroy()
# (The parent's own memory does not shrink: WebAssembly memories only grow.)
children = [interpreters.create() for _ in range(count)]
print("destroyed children give their memory back:", len(children) == count)
