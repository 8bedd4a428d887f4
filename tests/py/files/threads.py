# stdout: alive True
# stdout: [1] False
# stdout: got from the thread
# stdout: [0, 1, 4, 9, 16]
# stdout: False
# stdout: joined: RuntimeError
# stdout: last line
# stdout: a thread nothing joined
# sandbox-only: threads run one at a time, when something waits for them
# The sandbox has no threads: a started thread runs when something waits for
# it (join, a queue, a lock, a future) or when the script ends; a wait that
# nothing could ever end raises RuntimeError instead of hanging.
import concurrent.futures
import queue
import threading

out = []
thread = threading.Thread(target=out.append, args=(1,))
thread.start()
print("alive", thread.is_alive())
thread.join()
print(out, thread.is_alive())
items = queue.Queue()
threading.Thread(target=lambda: items.put("from the thread")).start()
print("got", items.get(timeout=5))
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    print(list(pool.map(lambda x: x * x, range(5))))
lock = threading.Lock()
lock.acquire()
print(lock.acquire(timeout=0.01))
event = threading.Event()
errors = []
waiter = threading.Thread(target=lambda: errors.append(event.wait()))
waiter.start()
try:
    threading.excepthook = lambda args: errors.append(args.exc_type.__name__)
    waiter.join()
finally:
    threading.excepthook = threading.__excepthook__
print("joined:", *errors)
threading.Thread(target=print, args=("a thread nothing joined",)).start()
print("last line")
