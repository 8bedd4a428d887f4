"""The peer of benches/channels.rs: multiprocessing.Pipe (spawn) doing the
same work as two sandboxed interpreters talking over a channel.

    python3 benches/peers/pipe_channels.py ROUND_TRIPS BIG_MESSAGES

Prints two lines: `round_trip_us <median>` and `bytes_8mib_gbps <median>`.
"""

import multiprocessing as mp
import statistics
import sys
import time

BIG = 8 << 20


def echo(conn, big_messages):
    while True:
        item = conn.recv()
        if item is None:
            break
        conn.send(item)
    for _ in range(big_messages):
        conn.recv_bytes()
        conn.send_bytes(b"k")


def main():
    round_trips, big_messages = int(sys.argv[1]), int(sys.argv[2])
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    child = ctx.Process(target=echo, args=(there, big_messages))
    child.start()
    samples = []
    for i in range(round_trips):
        start = time.perf_counter()
        here.send(("ping", i))
        here.recv()
        samples.append(time.perf_counter() - start)
    here.send(None)
    payload = bytes(BIG)
    rates = []
    for _ in range(big_messages):
        start = time.perf_counter()
        here.send_bytes(payload)
        here.recv_bytes()  # the acknowledgement: the receiver has it all
        rates.append(BIG / (time.perf_counter() - start) / 1e9)
    child.join()
    print("round_trip_us", statistics.median(samples) * 1e6)
    print("bytes_8mib_gbps", statistics.median(rates))


if __name__ == "__main__":
    main()
