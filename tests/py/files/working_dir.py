# stdout: /
# stdout: True
# stdout: /tmp /tmp
# stdout: /usr
# stdout: /
# stdout: ['dev', 'tmp', 'usr']
# stdout: FileNotFoundError
# stdout: NotADirectoryError
# sandbox-only: what / holds is the sandbox's
# The working directory exists, `chdir` and relative paths behave as on a
# native CPython, and `/` lists what the sandbox has.
import os
import pathlib

print(os.getcwd())
os.chdir(os.getcwd())
print(os.path.isdir("."))
os.chdir("tmp")
print(os.getcwd(), pathlib.Path.cwd())
os.chdir("/usr/local/lib/..")
os.chdir("..")
print(os.getcwd())
os.chdir("../../..")
print(os.getcwd())
print(sorted(os.listdir()))
try:
    os.chdir("/nowhere")
except OSError as exc:
    print(type(exc).__name__)
try:
    os.chdir("/dev/null")
except OSError as exc:
    print(type(exc).__name__)
