# exit: 3
# stdout: about to exit
import sys

print("about to exit")
sys.exit(3)
print("never")
