# flags: --env GRANTED=yes
# stdout: {'GRANTED': 'yes'}
# stdout: canary: None
# sandbox-only: the environment is what was granted
# isolate runs with ISOLATE_TEST_CANARY set; the script sees only its grant.
import os

print(dict(os.environ))
print("canary:", os.environ.get("ISOLATE_TEST_CANARY"))
