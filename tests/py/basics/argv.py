# args: first --second -3
# stdout: ['--second', '-3', 'first']
# stdout: True
import os
import sys

print(sorted(sys.argv[1:]))
print(os.path.isabs(__file__) and sys.argv[0].endswith("argv.py"))
