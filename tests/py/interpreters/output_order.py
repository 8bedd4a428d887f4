# sandbox-only: the interpreters module
# stdout: main 1
# stdout: child 1
# stdout: main 2
# stdout: child 2
# stdout: main 3
import interpreters

child = interpreters.create()
print("main 1")
child.run("print('child 1')")
print("main 2")
r, s = interpreters.create_channel()
run = child.run_in_thread("gate.recv()\nprint('child 2')", channels={"gate": r})
s.send(None)
run.join()
print("main 3")
