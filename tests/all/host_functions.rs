//! Host functions: `InterpreterBuilder::function`, reached from Python as
//! `from host import tools`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use isolate::{Error, Limit, Value};

use crate::runtime;

#[test]
fn python_calls_the_host_with_any_value_and_gets_one_back() {
    let interp = runtime()
        .interpreter()
        .function("describe", |args| Ok(Value::Tuple(vec![args.len().into(), Value::List(args.to_vec())])))
        .function("settings", |_| {
            Ok(Value::Dict(vec![("level".into(), 3.into()), ("tags".into(), Value::List(vec!["a".into()]))]))
        })
        .build()
        .unwrap();
    interp
        .run(
            "from host import tools
import host.tools
print(tools.describe(None, 2**100, b'x', (1.5, 'é'), [1, {'k': [2]}]))
print(tools.settings())
print(sorted(n for n in dir(tools) if not n.startswith('_')), host.tools is tools)",
        )
        .unwrap();
    assert_eq!(
        interp.take_stdout().text(),
        format!(
            "(5, [None, {}, b'x', (1.5, 'é'), [1, {{'k': [2]}}]])\n{{'level': 3, 'tags': ['a']}}\n['describe', 'settings'] True\n",
            1u128 << 100
        )
    );
}

#[test]
fn an_error_or_a_panic_raises_tool_error_and_the_interpreter_goes_on() {
    let interp = runtime()
        .interpreter()
        .function("fails", |args| Err(format!("cannot handle {} arguments", args.len())))
        .function("panics", |_| panic!("the host function broke"))
        .function("ok", |_| Ok("fine".into()))
        .build()
        .unwrap();
    interp
        .run(
            "from host import tools, ToolError
for name in ('fails', 'panics'):
    try:
        getattr(tools, name)(1, 2)
    except ToolError as e:
        print(type(e).__name__, e)
print(tools.ok())",
        )
        .unwrap();
    assert_eq!(
        interp.take_stdout().text(),
        "ToolError cannot handle 2 arguments\nToolError host function `panics` panicked: the host function broke\nfine\n"
    );
}

#[test]
fn unknown_names_and_bad_arguments_are_python_errors() {
    let interp = runtime().interpreter().function("echo", |args| Ok(Value::List(args.to_vec()))).build().unwrap();
    interp
        .run(
            "from host import tools
for call in (lambda: tools.missing, lambda: tools.echo(x=1), lambda: tools.echo(object())):
    try:
        call()
    except (AttributeError, TypeError) as e:
        print(type(e).__name__, e)",
        )
        .unwrap();
    let out = interp.take_stdout().text();
    assert!(
        out.contains("AttributeError module 'host.tools' has no attribute 'missing' (the host's functions: echo)"),
        "{out}"
    );
    assert!(out.contains("TypeError host function echo() takes positional arguments only"), "{out}");
    assert!(out.contains("TypeError host function echo(): 'object' object cannot be copied"), "{out}");
    // An interpreter with none has an empty `tools`.
    let bare = crate::interpreter();
    bare.run("from host import tools\nprint([n for n in dir(tools) if not n.startswith('_')])").unwrap();
    assert_eq!(bare.take_stdout().text(), "[]\n");
}

#[test]
fn a_bad_function_name_is_a_configuration_error() {
    for name in ["", "has space", "__dunder__", "1st"] {
        let err = runtime().interpreter().function(name, |_| Ok(Value::None)).build().unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{name:?}: {err}");
    }
}

#[test]
fn functions_go_to_children_only_when_shared_and_always_to_forks() {
    let private = runtime().interpreter().function("secret", |_| Ok(42.into())).build().unwrap();
    let shared = runtime().interpreter().function("secret", |_| Ok(42.into())).share_functions(true).build().unwrap();
    let probe = "import interpreters\nchild = interpreters.create()\nchild.run('from host import tools\\nprint(hasattr(tools, \"secret\"))')";
    private.run(probe).unwrap();
    shared.run(probe).unwrap();
    assert_eq!(private.take_stdout().text(), "False\n");
    assert_eq!(shared.take_stdout().text(), "True\n");
    let fork = private.fork().unwrap();
    fork.run("from host import tools\nprint(tools.secret())").unwrap();
    assert_eq!(fork.take_stdout().text(), "42\n");
}

#[test]
fn a_slow_function_counts_against_the_time_limit_and_runs_on_after_a_cancel() {
    let finished = Arc::new(AtomicUsize::new(0));
    let done = finished.clone();
    let interp = runtime()
        .interpreter()
        .timeout(Duration::from_millis(200))
        .function("slow", move |_| {
            std::thread::sleep(Duration::from_millis(1500));
            done.fetch_add(1, Ordering::SeqCst);
            Ok(Value::None)
        })
        .build()
        .unwrap();
    let start = Instant::now();
    let err = interp.run("from host import tools\ntools.slow()").unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { limit: Limit::Time(_), .. }), "{err}");
    assert!(start.elapsed() < Duration::from_millis(1400), "the run waited for the function: {:?}", start.elapsed());
    assert_eq!(finished.load(Ordering::SeqCst), 0, "the function still runs");

    let cancelled = runtime()
        .interpreter()
        .function("slow", |_| {
            std::thread::sleep(Duration::from_millis(400));
            Ok(Value::None)
        })
        .build()
        .unwrap();
    let handle = cancelled.cancel_handle();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        handle.cancel();
    });
    let err = cancelled.run("from host import tools\ntools.slow()").unwrap_err();
    assert!(matches!(err, Error::Cancelled(_)), "{err}");
    while finished.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(finished.load(Ordering::SeqCst), 1, "the first one finished on its own thread");
}

#[test]
fn a_function_can_hand_out_a_channel_end() {
    let (recv, send) = runtime().create_channel();
    let interp =
        runtime().interpreter().function("outbox", move |_| Ok(Value::SendChannel(send.clone()))).build().unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| interp.run("from host import tools\ntools.outbox().send(('via', 'host'))").unwrap());
        assert_eq!(recv.recv().unwrap(), Value::from(("via", "host")));
    });
}
