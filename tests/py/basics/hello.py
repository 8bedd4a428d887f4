# stdout: hello, world
print("hello, world")
