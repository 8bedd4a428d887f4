//! Many threads, many interpreters, random channel operations: every message
//! is delivered exactly once, nothing deadlocks, nothing panics.
//!
//! Producers (interpreters) send numbered messages over three channels with a
//! seeded random mix of `send(timeout)` and `send_nowait`; consumers
//! (interpreters, and one Rust thread) receive with `recv(timeout)` and
//! `recv_nowait`, and sometimes release an end. Meanwhile a chaos thread
//! creates interpreters that send with `send_nowait` and are then destroyed,
//! and force-closes one channel. A send that returned normally must have
//! been received exactly once; one that failed must never arrive.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use isolate::{Error, Value};

use crate::runtime;

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
const MESSAGES_PER_PRODUCER: usize = 500;
const CHAOS_ROUNDS: usize = 20;
/// The whole test must finish within this, or it counts as a deadlock.
const DEADLINE: Duration = Duration::from_secs(120);

const PRODUCER: &str = r#"
import random, interpreters as I
rng = random.Random(SEED)
outs = [c0, c1, c2]
sent = []
for seq in range(COUNT):
    channel = rng.choice(outs)
    try:
        if rng.random() < 0.3:
            channel.send_nowait((ME, seq))
        else:
            channel.send((ME, seq), timeout=0.2)
        sent.append(seq)
    except (I.NotReceivedError, TimeoutError, I.ChannelClosedError):
        pass
print("sent", ME, sent)
"#;

const CONSUMER: &str = r#"
import random, interpreters as I
rng = random.Random(SEED)
ins = [c0, c1, c2]
got = []
while ins:
    try:
        stop.recv_nowait()
    except I.ChannelClosedError:
        break
    channel = rng.choice(ins)
    try:
        item = channel.recv_nowait() if rng.random() < 0.3 else channel.recv(timeout=0.02)
        if item is not None:
            got.append(item)
    except TimeoutError:
        pass
    except I.ChannelClosedError:
        ins.remove(channel)
    if rng.random() < 0.005 and len(ins) > 1:
        ins.pop(rng.randrange(len(ins))).release()
print("got", got)
"#;

/// Every integer in `text`, in order.
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect()
}

#[test]
fn random_channel_operations_deliver_every_message_exactly_once() {
    let runtime = runtime();
    let channels: Vec<_> = (0..3).map(|_| runtime.create_channel()).collect();
    let (stop_rx, stop_tx) = runtime.create_channel();
    let bindings = |ends: &dyn Fn(usize) -> Value| -> Vec<(String, Value)> {
        (0..3).map(|i| (format!("c{i}"), ends(i))).collect()
    };
    let (report, reports) = mpsc::channel::<(&str, String)>();
    let started = Instant::now();

    thread::scope(|scope| {
        for me in 0..PRODUCERS {
            let report = report.clone();
            let mut bound = bindings(&|i| channels[i].1.clone().into());
            bound.push(("ME".into(), me.into()));
            bound.push(("SEED".into(), (100 + me).into()));
            bound.push(("COUNT".into(), MESSAGES_PER_PRODUCER.into()));
            scope.spawn(move || {
                let interp = runtime.create_interpreter().unwrap();
                interp.run_with(PRODUCER, bound).unwrap();
                report.send(("sender", interp.take_stdout().text())).unwrap();
            });
        }
        for me in 0..CONSUMERS {
            let report = report.clone();
            let mut bound = bindings(&|i| channels[i].0.clone().into());
            bound.push(("stop".into(), stop_rx.clone().into()));
            bound.push(("SEED".into(), (200 + me).into()));
            scope.spawn(move || {
                let interp = runtime.create_interpreter().unwrap();
                interp.run_with(CONSUMER, bound).unwrap();
                report.send(("consumer", interp.take_stdout().text())).unwrap();
            });
        }
        // A Rust consumer, with the same rules as the others.
        {
            let report = report.clone();
            let ends: Vec<_> = channels.iter().map(|(rx, _)| rx.clone()).collect();
            let stop_rx = stop_rx.clone();
            scope.spawn(move || {
                let mut got = Vec::new();
                let mut turn = 0usize;
                while matches!(stop_rx.try_recv(), Ok(None)) {
                    turn += 1;
                    let end = &ends[turn % ends.len()];
                    let item = if turn.is_multiple_of(3) {
                        end.try_recv()
                    } else {
                        end.recv_timeout(Duration::from_millis(20)).map(Some)
                    };
                    match item {
                        Ok(Some(value)) => got.push(format!("{value:?}")),
                        Ok(None) | Err(Error::Timeout) | Err(Error::ChannelClosed(_)) => {}
                        Err(err) => panic!("unexpected: {err}"),
                    }
                }
                report.send(("consumer", format!("got {got:?}"))).unwrap();
            });
        }
        // Chaos: interpreters that send a little and are destroyed, and a
        // channel force-closed half-way.
        {
            let report = report.clone();
            let ends: Vec<_> = channels.iter().map(|(_, tx)| tx.clone()).collect();
            let to_close = channels[2].0.clone();
            scope.spawn(move || {
                for round in 0..CHAOS_ROUNDS {
                    let interp = runtime.create_interpreter().unwrap();
                    let source = format!(
                        "import interpreters as I\ntry:\n    out.send_nowait((99, {round}))\n    print('sent 99', [{round}])\nexcept (I.NotReceivedError, I.ChannelClosedError):\n    print('sent 99', [])"
                    );
                    interp.run_with(&source, [("out", ends[round % 3].clone().into())]).unwrap();
                    report.send(("sender", interp.take_stdout().text())).unwrap();
                    drop(interp);
                    if round == CHAOS_ROUNDS / 2 {
                        to_close.close(true).unwrap();
                    }
                    thread::sleep(Duration::from_millis(10));
                }
            });
        }
        drop(report);

        // Producers and chaos first; then tell the consumers to stop.
        let mut sent: HashMap<(u64, u64), usize> = HashMap::new();
        let mut received: HashMap<(u64, u64), usize> = HashMap::new();
        let mut senders_left = PRODUCERS + CHAOS_ROUNDS;
        let mut consumers_left = CONSUMERS + 1;
        while senders_left + consumers_left > 0 {
            let remaining = DEADLINE.checked_sub(started.elapsed()).expect("the stress test deadlocked");
            let (role, text) = reports.recv_timeout(remaining).expect("the stress test deadlocked");
            match role {
                "sender" => {
                    // "sent PRODUCER [seq, ...]"
                    let numbers = numbers(&text);
                    for seq in &numbers[1..] {
                        *sent.entry((numbers[0], *seq)).or_default() += 1;
                    }
                    senders_left -= 1;
                    if senders_left == 0 {
                        stop_tx.close(true).unwrap();
                    }
                }
                _ => {
                    // "got [(producer, seq), ...]"
                    for pair in numbers(&text).chunks(2) {
                        *received.entry((pair[0], pair[1])).or_default() += 1;
                    }
                    consumers_left -= 1;
                }
            }
        }
        eprintln!("STATS sent {} received {} in {:?}", sent.len(), received.len(), started.elapsed());
        let duplicates: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
        assert!(duplicates.is_empty(), "received more than once: {duplicates:?}");
        let lost: Vec<_> = sent.keys().filter(|m| !received.contains_key(m)).collect();
        assert!(lost.is_empty(), "sent but never received: {lost:?}");
        let phantom: Vec<_> = received.keys().filter(|m| !sent.contains_key(m)).collect();
        assert!(phantom.is_empty(), "received but never sent: {phantom:?}");
        // Enough traffic that the checks above meant something. How much
        // gets through depends on scheduling (sends give up after 0.2 s):
        // about a third alone, under a quarter beside the rest of the suite
        // on two cores.
        assert!(sent.len() > PRODUCERS * MESSAGES_PER_PRODUCER / 20, "too few messages got through: {}", sent.len());
    });
}

/// PEP 734's queues under load: producers and consumers (interpreters, on
/// threads) on a small bounded queue; midway one producer is cancelled
/// while it waits for room, and one consumer retires. Its items put before
/// are delivered, the rest removed (`UNBOUND_REMOVE`): a prefix, with no
/// gap. Every other producer's items arrive exactly once, and nothing
/// deadlocks.
#[test]
fn bounded_queues_lose_and_duplicate_nothing_when_interpreters_go_midway() {
    const QUEUE_PRODUCERS: i64 = 4;
    const QUEUE_CONSUMERS: usize = 3;
    const ITEMS: i64 = 300;
    let runtime = runtime();
    let (tasks, results) = (runtime.create_queue(4), runtime.create_queue(0));
    let queues =
        |pid: i64| [("tasks", Value::from(tasks.clone())), ("results", results.clone().into()), ("pid", pid.into())];
    let producer = "from concurrent import interpreters as I\nfor i in range(ITEMS):\n    tasks.put((pid, i), unbounditems=I.UNBOUND_REMOVE)"
        .replace("ITEMS", &ITEMS.to_string());
    let consumer =
        "import time\nwhile (item := tasks.get()) is not None:\n    results.put(item)\n    time.sleep(0.0005)";
    let start = |source: String, pid: i64| {
        let interp = runtime.create_interpreter().unwrap();
        let cancel = interp.cancel_handle();
        let bindings = queues(pid);
        (cancel, thread::spawn(move || (interp.run_with(&source, bindings), interp)))
    };
    let producers: Vec<_> = (0..QUEUE_PRODUCERS).map(|pid| start(producer.clone(), pid)).collect();
    let consumers: Vec<_> = (0..QUEUE_CONSUMERS).map(|_| start(consumer.to_owned(), -1)).collect();

    let deadline = Instant::now() + DEADLINE;
    let mut received: Vec<(i64, i64)> = Vec::new();
    while received.len() < 100 {
        let left = deadline.saturating_duration_since(Instant::now());
        let item = results.get_timeout(left).expect("no deadlock: results keep coming");
        received.push(isolate::from_value::<(i64, i64)>(item).unwrap());
    }
    // Producer 0 is mid-way, most likely waiting for room in the queue.
    assert!(producers[0].0.cancel());
    tasks.put(()).unwrap(); // One consumer retires.
    let mut finished = Vec::new();
    for (pid, (_, handle)) in producers.into_iter().enumerate() {
        let (ran, interp) = handle.join().unwrap();
        match (pid, ran) {
            (0, Err(Error::Cancelled(_))) | (0, Ok(())) => {}
            (_, Ok(())) => {}
            (pid, Err(err)) => panic!("producer {pid}: {err}"),
        }
        finished.push(interp);
    }
    for _ in 1..QUEUE_CONSUMERS {
        tasks.put(()).unwrap();
    }
    let mut retired = Vec::new();
    for (_, handle) in consumers {
        let (ran, interp) = handle.join().unwrap();
        ran.unwrap();
        retired.push(interp);
    }
    while let Some(item) = results.try_get().unwrap() {
        received.push(isolate::from_value::<(i64, i64)>(item).unwrap());
    }

    let mut by_producer: HashMap<i64, Vec<i64>> = HashMap::new();
    for (pid, i) in received {
        by_producer.entry(pid).or_default().push(i);
    }
    for pid in 0..QUEUE_PRODUCERS {
        let mut items = by_producer.remove(&pid).unwrap_or_default();
        items.sort_unstable();
        let count = items.len() as i64;
        assert!(items.iter().copied().eq(0..count), "producer {pid}: a gap or a duplicate in {items:?}");
        if pid != 0 {
            assert_eq!(count, ITEMS, "producer {pid} lost items");
        }
    }
    assert!(by_producer.is_empty(), "items from nowhere: {by_producer:?}");
    assert!(tasks.is_empty() && results.is_empty());
}
