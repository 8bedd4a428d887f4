# stdout: outcomes: [('destroyed', 'refused')]
# stdout: victims left: 0
# sandbox-only: the interpreters module
# Two interpreters, on two threads, destroy the same third one at once:
# exactly one succeeds, every time.
import interpreters

results, out = interpreters.create_channel()
seen, victims_left = set(), 0
for _ in range(20):
    victim = interpreters.create()
    code = f"""
import interpreters
try:
    interpreters.Interpreter({victim.id}).destroy()
    out.send("destroyed")
except RuntimeError:
    out.send("refused")
"""
    destroyers = [interpreters.create(), interpreters.create()]
    handles = [d.run_in_thread(code, channels={"out": out}) for d in destroyers]
    seen.add(tuple(sorted(results.recv() for _ in handles)))
    for handle in handles:
        handle.join()
    for d in destroyers:
        d.destroy()
    victims_left += victim.id in [i.id for i in interpreters.list_all()]
print("outcomes:", sorted(seen))
print("victims left:", victims_left)
