# stdout: text then bytes: ABC
import sys

print("text then bytes: ", end="", flush=True)
sys.stdout.buffer.write(b"ABC\n")
