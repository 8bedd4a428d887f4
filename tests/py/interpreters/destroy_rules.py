# sandbox-only: the interpreters module
# stdout: the current one: RuntimeError interpreter 0 is running
# stdout: a running one: RuntimeError interpreter 1 is running
# stdout: a grandchild from the root: destroyed, family [0, 1]
import interpreters

try:
    interpreters.get_current().destroy()
except RuntimeError as exc:
    print("the current one:", type(exc).__name__, exc)

child = interpreters.create()
gate_r, gate_s = interpreters.create_channel()
handle = child.run_in_thread("gate.recv()", channels={"gate": gate_r})
while not child.is_running():
    pass
try:
    child.destroy()
except RuntimeError as exc:
    print("a running one:", type(exc).__name__, exc)
gate_s.send(None)
handle.join()

child.run("import interpreters\ngrandchild = interpreters.create()")
grandchild = [i for i in interpreters.list_all() if i.id not in (0, child.id)][0]
grandchild.destroy()
print("a grandchild from the root: destroyed, family", [i.id for i in interpreters.list_all()])
