# stdout: received float64 (3, 4) sum 66.0
# stdout: the receiver's array is its own: True
# sandbox-only: PEP 554's channels (send_buffer hands over an array's bytes)
# A numpy array sent with `send_buffer` arrives as a read-only memoryview
# that numpy wraps without a copy.
import interpreters
import numpy as np

child = interpreters.create()
recv, send = interpreters.create_channel()
run = child.run_in_thread(
    "import numpy as np\n"
    "array = np.frombuffer(inbox.recv(), dtype=np.float64).reshape(3, 4)\n"
    "print('received', array.dtype, array.shape, 'sum', array.sum())\n",
    channels={"inbox": recv},
)
data = np.arange(12, dtype=np.float64).reshape(3, 4)
send.send_buffer(data)
run.join()
data[:] = 0
print("the receiver's array is its own:", data.sum() == 0)
