# sandbox-only: the interpreters module
# stdout: the root: RuntimeError interpreter 0: it was created by the host, which alone can destroy it
# stdout: from a child: RunFailedError: RuntimeError: interpreter 0: it was created by the host, which alone can destroy it
# stdout: a grandchild from the root: destroyed, family [0, 1]
import interpreters

root = interpreters.get_current()
try:
    root.destroy()
except RuntimeError as exc:
    print("the root:", type(exc).__name__, exc)

child = interpreters.create()
handle = child.run_in_thread("import interpreters\ninterpreters.Interpreter(0).destroy()")
try:
    handle.join()
except interpreters.RunFailedError as exc:
    print("from a child:", f"{type(exc).__name__}: {exc}")

child.run("import interpreters\ngrandchild = interpreters.create()")
grandchild = [i for i in interpreters.list_all() if i.id not in (0, child.id)][0]
grandchild.destroy()
print("a grandchild from the root: destroyed, family", [i.id for i in interpreters.list_all()])
