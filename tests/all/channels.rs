//! Channels from Rust: PEP 554's rendezvous, association, release and close.

use std::thread;
use std::time::{Duration, Instant};

use isolate::{Error, Value};
use num_bigint::BigInt;

use crate::{interpreter, runtime};

const SHORT: Duration = Duration::from_millis(50);
const LONG: Duration = Duration::from_secs(30);

/// Waits until `condition` holds, failing after LONG.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn values_cross_from_python_to_rust_intact() {
    let interp = interpreter();
    let (rx, tx) = runtime().create_channel();
    thread::scope(|scope| {
        let run = scope.spawn(|| {
            interp.run_with(
                "out.send((None, True, -2**100, 0.5, 'héllo', b'\\x00\\xff', (), ((1,),)))\nout.send_buffer(bytearray(b'buf'))",
                [("out", tx.clone().into())],
            )
        });
        let expected: Value = (
            Value::None,
            true,
            Value::Int(-BigInt::from(2).pow(100)),
            0.5,
            "héllo",
            b"\x00\xff".as_slice(),
            Value::Tuple(vec![]),
            ((1,),),
        )
            .into();
        assert_eq!(rx.recv_timeout(LONG).unwrap(), expected);
        assert_eq!(rx.recv_timeout(LONG).unwrap(), Value::Buffer(b"buf".to_vec()));
        run.join().unwrap().unwrap();
    });
}

#[test]
fn a_channel_given_away_whole_outlives_the_hosts_handles() {
    // The Rust program keeps no handle of either channel: each lives on in
    // the message that carries it until its receiver holds it.
    let interp = interpreter();
    let (r, s) = runtime().create_channel();
    interp
        .run_with(
            "s.send_nowait(1) if False else None\nprint(r.recv_nowait('empty'))",
            [("r", r.into()), ("s", s.into())],
        )
        .unwrap();
    let (inbox, to_guest) = runtime().create_channel();
    let (r, s) = runtime().create_channel();
    thread::scope(|scope| {
        let run = scope.spawn(|| {
            interp
                .run_with("r, s = inbox.recv()\nprint(r.recv_nowait('still empty'))", [("inbox", inbox.clone().into())])
        });
        to_guest.send_timeout(Value::Tuple(vec![r.into(), s.into()]), LONG).unwrap();
        run.join().unwrap().unwrap();
    });
    assert_eq!(interp.take_stdout().text(), "empty\nstill empty\n");
}

#[test]
fn large_values_cross_intact_in_pieces() {
    // Larger than a piece (256 KiB), not a multiple of it; binary bytes go
    // as hex, ASCII ones as they are, and a piece may end inside a value.
    let interp = interpreter();
    let (rx, tx) = runtime().create_channel();
    let binary: Vec<u8> = (0..(1 << 20) + 17).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let ascii = "abc".repeat(300_000);
    thread::scope(|scope| {
        let run = scope.spawn(|| {
            interp.run_with(
                "data = bytes((i * 2654435761 % 2**32) >> 13 & 0xff for i in range((1 << 20) + 17))\n\
                 out.send(data)\n\
                 out.send(('abc' * 300_000, data, 'é' * 200_000))\n\
                 out.send_buffer(data)",
                [("out", tx.clone().into())],
            )
        });
        assert_eq!(rx.recv_timeout(LONG).unwrap(), Value::Bytes(binary.clone()));
        let expected: Value = (ascii.as_str(), binary.as_slice(), "é".repeat(200_000).as_str()).into();
        assert_eq!(rx.recv_timeout(LONG).unwrap(), expected);
        assert_eq!(rx.recv_timeout(LONG).unwrap(), Value::Buffer(binary));
        run.join().unwrap().unwrap();
    });
}

#[test]
fn values_cross_from_rust_to_python_intact() {
    let interp = interpreter();
    let (rx, tx) = runtime().create_channel();
    thread::scope(|scope| {
        let run = scope.spawn(|| {
            interp.run_with(
                "for _ in range(2):\n    v = inbox.recv()\n    print(type(v).__name__, v if not isinstance(v, memoryview) else (bytes(v), v.readonly))",
                [("inbox", rx.clone().into())],
            )
        });
        tx.send_timeout((1, "a", Value::Int(BigInt::from(10).pow(40)), Value::None), LONG).unwrap();
        tx.send_buffer(b"raw".to_vec()).unwrap();
        run.join().unwrap().unwrap();
    });
    assert_eq!(
        interp.take_stdout().text(),
        "tuple (1, 'a', 10000000000000000000000000000000000000000, None)\nmemoryview (b'raw', True)\n"
    );
}

#[test]
fn send_returns_only_once_received() {
    let interp = interpreter();
    let (rx, tx) = runtime().create_channel();
    thread::scope(|scope| {
        let run = scope.spawn(|| interp.run_with("out.send('hi')\nprint('returned')", [("out", tx.clone().into())]));
        // Associated, hence waiting with its object (both happen at once).
        eventually("the interpreter waits in send", || !tx.interpreters().unwrap().is_empty());
        thread::sleep(SHORT);
        assert!(interp.is_running(), "send returned with nobody receiving");
        assert_eq!(interp.take_stdout().text(), "");
        assert_eq!(rx.recv_timeout(LONG).unwrap(), Value::from("hi"));
        run.join().unwrap().unwrap();
    });
    assert_eq!(interp.take_stdout().text(), "returned\n");
}

#[test]
fn nowait_forms_need_the_other_side_waiting() {
    let (rx, tx) = runtime().create_channel();
    assert!(matches!(tx.try_send(1), Err(Error::NotReceived(id)) if id == tx.id()));
    assert_eq!(rx.try_recv().unwrap(), None);

    let receiver = {
        let rx = rx.clone();
        thread::spawn(move || rx.recv_timeout(LONG))
    };
    // Once a receiver waits, try_send succeeds.
    let deadline = Instant::now() + LONG;
    loop {
        match tx.try_send(2) {
            Ok(()) => break,
            Err(Error::NotReceived(_)) if Instant::now() < deadline => thread::yield_now(),
            Err(err) => panic!("{err}"),
        }
    }
    assert_eq!(receiver.join().unwrap().unwrap(), Value::from(2));

    // Once a sender waits, try_recv takes its object.
    let sender = thread::spawn(move || tx.send_timeout(3, LONG));
    let mut got = None;
    eventually("try_recv takes the waiting object", || {
        got = got.take().or(rx.try_recv().unwrap());
        got.is_some()
    });
    assert_eq!(got, Some(Value::from(3)));
    sender.join().unwrap().unwrap();
}

#[test]
fn timeouts_are_errors_and_nothing_is_left_behind() {
    let (rx, tx) = runtime().create_channel();
    assert!(matches!(rx.recv_timeout(SHORT), Err(Error::Timeout)));
    assert!(matches!(tx.send_timeout("lost", SHORT), Err(Error::Timeout)));
    // The timed-out send is not delivered later.
    assert_eq!(rx.try_recv().unwrap(), None);
    // And the channel is still usable: closing it finds it empty.
    rx.close(false).unwrap();
}

#[test]
fn release_ends_the_callers_use_of_an_end() {
    let (rx, tx) = runtime().create_channel();
    assert!(tx.release().unwrap());
    assert!(!tx.release().unwrap(), "release is idempotent and says so");
    assert!(matches!(tx.send(1), Err(Error::ChannelReleased(_))));
    // Nobody was associated, so the channel is still open for others.
    assert!(matches!(rx.try_recv(), Ok(None)));
}

#[test]
fn the_channel_closes_when_the_last_association_is_released() {
    let (rx, tx) = runtime().create_channel();
    let receiver = {
        let rx = rx.clone();
        thread::spawn(move || rx.recv_timeout(LONG))
    };
    tx.send_timeout(1, LONG).unwrap();
    assert_eq!(receiver.join().unwrap().unwrap(), Value::from(1));
    assert!(runtime().list_channels().contains(&rx.id()));
    tx.release().unwrap();
    rx.release().unwrap();
    assert!(matches!(rx.try_recv(), Err(Error::ChannelClosed(_))));
    assert!(!runtime().list_channels().contains(&rx.id()));
}

#[test]
fn releasing_wakes_a_blocked_call_of_the_same_party() {
    let (rx, tx) = runtime().create_channel();
    // Associated with the send end too, so releasing the receiving end does
    // not close the channel (which would make it ChannelClosed instead).
    assert!(matches!(tx.try_send(0), Err(Error::NotReceived(_))));
    let blocked = {
        let rx = rx.clone();
        thread::spawn(move || rx.recv_timeout(LONG))
    };
    thread::sleep(SHORT);
    rx.release().unwrap();
    assert!(matches!(blocked.join().unwrap(), Err(Error::ChannelReleased(_))));
}

#[test]
fn releasing_the_last_association_closes_under_a_blocked_call() {
    let (rx, _tx) = runtime().create_channel();
    let blocked = {
        let rx = rx.clone();
        thread::spawn(move || rx.recv_timeout(LONG))
    };
    thread::sleep(SHORT);
    rx.release().unwrap();
    // PEP 554: ChannelClosedError "if the channel is actually marked as closed".
    assert!(matches!(blocked.join().unwrap(), Err(Error::ChannelClosed(_))));
}

#[test]
fn close_wakes_blocked_receivers_and_senders() {
    let (rx, tx) = runtime().create_channel();
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.recv_timeout(LONG))
        })
        .collect();
    thread::sleep(SHORT);
    tx.close(false).unwrap();
    for receiver in receivers {
        assert!(matches!(receiver.join().unwrap(), Err(Error::ChannelClosed(_))));
    }
    assert!(matches!(tx.send(1), Err(Error::ChannelClosed(_))));
    assert!(matches!(rx.close(false), Err(Error::ChannelClosed(_))));
}

/// Starts an interpreter sending `value` on a new channel, and returns once
/// it waits: its association and its waiting object are recorded together.
fn waiting_sender<'scope>(
    scope: &'scope thread::Scope<'scope, '_>,
    interp: &'scope isolate::Interpreter,
    value: &'static str,
) -> (isolate::RecvChannel, isolate::SendChannel, thread::ScopedJoinHandle<'scope, isolate::Result<()>>) {
    let (rx, tx) = runtime().create_channel();
    let bound = tx.clone();
    let run = scope.spawn(move || {
        interp.run_with(
            &format!("import interpreters\ntry:\n    out.send({value:?})\nexcept interpreters.ChannelClosedError:\n    print('discarded')"),
            [("out", bound.into())],
        )
    });
    eventually("the interpreter waits in send", || !tx.interpreters().unwrap_or_default().is_empty());
    (rx, tx, run)
}

#[test]
fn close_refuses_a_channel_with_waiting_senders_unless_forced() {
    let interp = interpreter();
    thread::scope(|scope| {
        let (rx, _tx, run) = waiting_sender(scope, &interp, "pending");
        assert!(matches!(rx.close(false), Err(Error::ChannelNotEmpty(_))));
        rx.close(true).unwrap();
        run.join().unwrap().unwrap();
    });
    // The forced close discarded the object, and its sender was told.
    assert_eq!(interp.take_stdout().text(), "discarded\n");
}

#[test]
fn closing_the_send_end_lets_waiting_objects_through_first() {
    let interp = interpreter();
    thread::scope(|scope| {
        let (rx, tx, run) = waiting_sender(scope, &interp, "last");
        tx.close(false).unwrap();
        assert!(matches!(tx.try_send("more"), Err(Error::ChannelClosed(_))), "no new sends after close");
        assert_eq!(rx.recv_timeout(LONG).unwrap(), Value::from("last"));
        run.join().unwrap().unwrap();
        assert!(matches!(rx.try_recv(), Err(Error::ChannelClosed(_))), "closed once drained");
    });
    assert_eq!(interp.take_stdout().text(), "");
}

#[test]
fn interpreters_lists_the_associated_interpreters() {
    let interp = interpreter();
    let (rx, tx) = runtime().create_channel();
    thread::scope(|scope| {
        let run = scope.spawn(|| interp.run_with("out.send(1)", [("out", tx.clone().into())]));
        rx.recv_timeout(LONG).unwrap();
        run.join().unwrap().unwrap();
    });
    assert_eq!(tx.interpreters().unwrap(), [interp.id()]);
    // The Rust program is a participant, but not an interpreter.
    assert_eq!(rx.interpreters().unwrap(), []);
}

#[test]
fn destroying_an_interpreter_releases_its_ends() {
    let (rx, tx) = runtime().create_channel();
    let interp = interpreter();
    thread::scope(|scope| {
        let run = scope.spawn(|| interp.run_with("out.send(1)", [("out", tx.clone().into())]));
        rx.recv_timeout(LONG).unwrap();
        run.join().unwrap().unwrap();
    });
    rx.release().unwrap();
    assert!(rx.interpreters().is_err() || !tx.interpreters().unwrap().is_empty());
    let id = interp.id();
    drop(interp);
    // The interpreter was the last association: the channel closed.
    assert!(matches!(tx.interpreters(), Err(Error::ChannelClosed(_))), "interpreter {id} kept the channel open");
}

#[test]
fn channel_ends_travel_over_channels() {
    let interp = interpreter();
    let (rx, tx) = runtime().create_channel();
    let (inner_rx, inner_tx) = runtime().create_channel();
    thread::scope(|scope| {
        let run = scope.spawn(|| {
            interp.run_with("pipe = inbox.recv()\npipe.send('through the passed end')", [("inbox", rx.clone().into())])
        });
        tx.send_timeout(inner_tx.clone(), LONG).unwrap();
        assert_eq!(inner_rx.recv_timeout(LONG).unwrap(), Value::from("through the passed end"));
        run.join().unwrap().unwrap();
    });
}

#[test]
fn a_guest_cannot_reach_channels_it_was_not_given() {
    let (rx, _tx) = runtime().create_channel();
    let interp = interpreter();
    let forged = format!(
        "import interpreters\nfrom interpreters import RecvChannel\n\
         try:\n    RecvChannel({id}).recv_nowait()\nexcept interpreters.ChannelNotFoundError:\n    print('not found')\n\
         print({id} in [r.id for r, s in interpreters.list_all_channels()])",
        id = rx.id()
    );
    interp.run(&forged).unwrap();
    assert_eq!(interp.take_stdout().text(), "not found\nFalse\n");
}

#[test]
fn a_guest_cannot_see_another_familys_interpreters() {
    let first = interpreter();
    let second = interpreter();
    second.run("import interpreters\nchild = interpreters.create()").unwrap();
    first
        .run(&format!(
            "import interpreters\nprint([i.id for i in interpreters.list_all()])\n\
         try:\n    interpreters.Interpreter({}).run('pass')\nexcept RuntimeError as e:\n    print(e)",
            second.id()
        ))
        .unwrap();
    assert_eq!(first.take_stdout().text(), format!("[{0}]\ninterpreter {1} not found\n", first.id(), second.id()));
}

#[test]
fn values_serialize_with_serde() {
    let value: Value = (1, "two", (3.5, Value::None, true)).into();
    let json = serde_json::to_string(&value).unwrap();
    assert_eq!(json, r#"[1,"two",[3.5,null,true]]"#);
    // A sequence comes back as a list, as `json.loads` makes it; a map as a dict.
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        Value::List(vec![1.into(), "two".into(), Value::List(vec![3.5.into(), Value::None, true.into()])])
    );
    let map: Value = serde_json::from_str(r#"{"b": 1, "a": [true]}"#).unwrap();
    assert_eq!(map, Value::Dict(vec![("b".into(), 1.into()), ("a".into(), Value::List(vec![true.into()]))]));
    assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"b":1,"a":[true]}"#);
    // Beyond i128, an int serializes as its decimal digits.
    let big = Value::Int(BigInt::from(10).pow(40));
    assert_eq!(serde_json::to_string(&big).unwrap(), format!("\"1{}\"", "0".repeat(40)));
    let (rx, _) = runtime().create_channel();
    assert!(serde_json::to_string(&Value::from(rx)).is_err(), "channel ends are capabilities, not data");
}

#[test]
fn values_convert_to_rust_types() {
    assert_eq!(i64::try_from(Value::from(42)).unwrap(), 42);
    assert_eq!(String::try_from(Value::from("s")).unwrap(), "s");
    let wrong = u8::try_from(Value::from(300)).unwrap_err();
    assert_eq!(wrong.to_string(), "expected u8, got a Python `int`");
    assert_eq!(wrong.value, Value::from(300), "the value is handed back");
    assert_eq!(Value::from(Some(1)), Value::from(1));
    assert_eq!(Value::from(None::<i32>), Value::None);
}

#[test]
fn a_rust_value_nested_too_deep_is_refused_not_a_panic() {
    let mut value = Value::None;
    for _ in 0..(isolate::MAX_DEPTH + 1) {
        value = Value::Tuple(vec![value]);
    }
    let (_rx, tx) = runtime().create_channel();
    assert!(matches!(tx.try_send(value.clone()), Err(Error::InvalidValue(_))));
    let err = interpreter().run_with("pass", [("deep", value)]).unwrap_err();
    assert!(matches!(err, Error::InvalidValue(ref why) if why.contains("deeper than 512")), "{err:?}");
}

#[test]
fn a_channel_lives_as_long_as_someone_holds_an_end() {
    let (rx, tx) = runtime().create_channel();
    let id = rx.id();
    let interp = interpreter();
    interp.run_with("keep = inbox", [("inbox", rx.into())]).unwrap();
    drop(tx);
    // The Rust handles are gone; the interpreter still holds an end.
    interp.run("import interpreters\nprint(keep.recv_nowait('empty'), [r.id for r, s in interpreters.list_all_channels()])").unwrap();
    assert_eq!(interp.take_stdout().text(), format!("empty [{id}]\n"));
    assert!(runtime().list_channels().contains(&id));
    // Nobody holds it any more: it is freed, not kept for ever.
    drop(interp);
    assert!(!runtime().list_channels().contains(&id));
}

#[test]
fn short_values_cross_both_ways_at_the_codec_boundaries() {
    // The guest encodes and decodes short bytes, str and int by a fast path;
    // these sit on either side of its limits.
    let values: Vec<Value> = vec![
        Value::Bytes(vec![]),
        Value::Bytes(vec![7; 127]),
        Value::Bytes(vec![7; 128]),
        Value::from(""),
        Value::from("a".repeat(31).as_str()),
        Value::from("a".repeat(32).as_str()),
        Value::from("é"),
        Value::from(0),
        Value::from(-1),
        Value::from(i64::MAX),
        Value::None,
    ];
    let (from_guest, to_host) = runtime().create_channel();
    let (from_host, to_guest) = runtime().create_channel();
    let interp = interpreter();
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            interp.run_with(
                "for _ in range(COUNT):\n    out.send(inbox.recv())"
                    .replace("COUNT", &values.len().to_string())
                    .as_str(),
                [("inbox", from_host.into()), ("out", to_host.into())],
            )
        });
        for value in &values {
            to_guest.send(value.clone()).unwrap();
            assert_eq!(&from_guest.recv().unwrap(), value);
        }
        run.join().unwrap().unwrap();
    });
}
