# flags: --timeout 500ms
# exit: 124
# stdout: looping
# stderr: isolate: time limit of 500ms exceeded
# sandbox-only: the time limit
print("looping")
while True:
    pass
