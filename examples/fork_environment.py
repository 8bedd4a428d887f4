# Forked workers that share a prepared environment, with nothing pickled.
# Run it with:
#   cargo run --release -- run examples/fork_environment.py
#
# An environment is built once in an interpreter: a dict of lambdas, a
# closure, a class defined inside a function, a generator part-way through,
# a compiled regex. Then eight jobs each run in a fork of it, on host
# threads, in parallel; each uses the environment as it was, changes its own
# copy, and sends its result back on a channel.
#
# With multiprocessing's `spawn` start method (the default on macOS and
# Windows; Linux's default left `fork` in 3.14), the same program fails
# before any job starts: every argument of a worker is pickled, and pickle
# refuses the lambdas ("Can't pickle <function <lambda>>: attribute lookup
# <lambda> on __main__ failed"), the local class ("Can't pickle local object
# 'make_account_class.<locals>.Account'"), the closure and the generator
# ("cannot pickle 'generator' object"). The usual way out is to take the
# state apart before spawning and rebuild it in each worker, by hand. A fork
# here copies the interpreter whole: its memory is the state.
#
# sandbox-only: forks of interpreters are isolate's (PEP 554 left them as a deferred idea)
# stdout: environment built once; 8 forks run in parallel
# stdout: job 0: order-1000 -> 1018.00 (account 1, 2 entries left in the batch)
# stdout: job 1: order-1001 -> 1019.02 (account 1, 2 entries left in the batch)
# stdout: job 2: order-1002 -> 1020.04 (account 1, 2 entries left in the batch)
# stdout: job 3: order-1003 -> 1021.05 (account 1, 2 entries left in the batch)
# stdout: job 4: order-1004 -> 1022.07 (account 1, 2 entries left in the batch)
# stdout: job 5: order-1005 -> 1023.09 (account 1, 2 entries left in the batch)
# stdout: job 6: order-1006 -> 1024.11 (account 1, 2 entries left in the batch)
# stdout: job 7: order-1007 -> 1025.13 (account 1, 2 entries left in the batch)
# stdout: the environment itself is untouched: 3 entries left, 0 accounts opened
import interpreters

ENVIRONMENT = """
import re

# A dict of lambdas.
rules = {
    "fee": lambda amount: amount * 0.018,
    "round": lambda amount: round(amount, 2),
}

# A closure over local state.
def make_scaler(factor):
    def scale(amount):
        return amount * factor
    return scale

scale = make_scaler(1.0)

# A class defined inside a function.
def make_account_class():
    class Account:
        opened = 0

        def __init__(self, owner):
            Account.opened += 1
            self.owner = owner
            self.number = Account.opened

    return Account

Account = make_account_class()

# A generator part-way through: one of its four entries is consumed.
def entries():
    yield from ("setup", "a", "b", "c")

batch = entries()
next(batch)

# A compiled regex.
order_id = re.compile(r"order-(\\d+)")
"""

JOB = """
number = int(order_id.fullmatch(name).group(1))
account = Account(name)
next(batch)
total = rules["round"](scale(number) + rules["fee"](number))
results.send((job, f"{name} -> {total:.2f} (account {account.number}, {len(list(batch))} entries left in the batch)"))
"""

env = interpreters.create()
env.run(ENVIRONMENT)
forks = [env.fork() for _ in range(8)]
print(f"environment built once; {len(forks)} forks run in parallel")

results, sender = interpreters.create_channel()
runs = []
for job, fork in enumerate(forks):
    fork.run(f"job = {job}; name = 'order-{1000 + job}'")
    runs.append(fork.run_in_thread(JOB, channels={"results": sender}))
lines = dict(results.recv() for _ in forks)
for run in runs:
    run.join()
for job in sorted(lines):
    print(f"job {job}: {lines[job]}")

env.run("""
print(f"the environment itself is untouched: {len(list(batch))} entries left, {Account.opened} accounts opened")
""")
