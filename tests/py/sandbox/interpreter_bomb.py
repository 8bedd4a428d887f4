# flags: --memory 4G
# stdout: created 64
# stdout: RuntimeError: cannot create an interpreter: the limit of 64 interpreters per sandbox is reached
# stdout: grandchildren count too: RuntimeError
# sandbox-only: the interpreter cap
# (Each interpreter takes 40 MiB of the sandbox's memory budget from its
# start: 65 of them fit in 4 GiB.)
import interpreters

created = []
try:
    while True:
        created.append(interpreters.create())
except RuntimeError as exc:
    print("created", len(created))
    print(f"{type(exc).__name__}: {exc}")

# Free one, and let a child try to create past the cap on its behalf.
created.pop().destroy()
child = created[-1]
child.run("import interpreters\nfirst = interpreters.create()")
try:
    child.run("second = interpreters.create()")
except interpreters.RunFailedError as exc:
    print("grandchildren count too:", exc.__cause__.type_name)
