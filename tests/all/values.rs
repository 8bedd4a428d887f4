//! Values in and out: `eval`, `call`, lists and dicts.

use isolate::{Error, Value};

use crate::{interpreter, runtime};

fn dict(items: Vec<(Value, Value)>) -> Value {
    Value::Dict(items)
}

#[test]
fn eval_returns_the_value_of_an_expression() {
    let interp = interpreter();
    interp.run("prices = {'tea': 3, 'cake': 4}").unwrap();
    assert_eq!(interp.eval("sum(prices.values())").unwrap(), Value::from(7));
    assert_eq!(interp.eval("2 ** 100").unwrap(), Value::Int(num_bigint::BigInt::from(2).pow(100)));
    assert_eq!(interp.eval("None").unwrap(), Value::None);
    assert_eq!(interp.eval("b'x' * 3, 1.5, 'é'").unwrap(), Value::from((b"xxx".as_slice(), 1.5, "é")));
    assert_eq!(
        interp.eval("prices").unwrap(),
        dict(vec![("tea".into(), 3.into()), ("cake".into(), 4.into())]),
        "a dict keeps its order"
    );
    assert_eq!(
        interp.eval("[1, [2, (3, {'k': []})]]").unwrap(),
        Value::List(vec![
            1.into(),
            Value::List(vec![2.into(), (3, dict(vec![("k".into(), Value::List(vec![]))])).into()])
        ])
    );
    // Nothing is printed, and __main__ is unchanged but for what it did.
    assert_eq!(interp.take_stdout().text(), "");
}

#[test]
fn eval_errors_are_python_exceptions_or_uncopyable_values() {
    let interp = interpreter();
    let err = interp.eval("1 / 0").unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "ZeroDivisionError");
    assert!(err.python_exception().unwrap().traceback().contains("File \"<string>\", line 1"), "{err}");
    let err = interp.eval("x = 1").unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "SyntaxError");
    let err = interp.eval("undefined_name").unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "NameError");
    for (expr, type_name) in [
        ("(i for i in range(3))", "'generator'"),
        ("open('/usr/local/lib/python315.zip', 'rb')", "'BufferedReader'"),
        ("[1, object()]", "'object'"),
        ("{'a': {1, 2}}", "'set'"),
    ] {
        match interp.eval(expr) {
            Err(Error::InvalidValue(why)) => assert!(why.contains(type_name), "{expr}: {why}"),
            other => panic!("{expr}: {other:?}"),
        }
    }
    // The interpreter goes on.
    assert_eq!(interp.eval("1 + 1").unwrap(), Value::from(2));
}

#[test]
fn call_calls_a_dotted_name_with_copied_arguments() {
    let interp = interpreter();
    interp
        .run("def handle(event, settings):\n    event['seen'] = True\n    return {'kind': event['kind'], 'limit': settings[0] * 2}")
        .unwrap();
    let event = dict(vec![("kind".into(), "click".into())]);
    let result = interp.call("handle", &[event.clone(), Value::List(vec![21.into()])]).unwrap();
    assert_eq!(result, dict(vec![("kind".into(), "click".into()), ("limit".into(), 42.into())]));
    // The argument was a copy.
    assert_eq!(event, dict(vec![("kind".into(), "click".into())]));

    assert_eq!(interp.call("str.upper", &["abc".into()]).unwrap(), Value::from("ABC"));
    assert_eq!(interp.call("len", &[Value::List(vec![1.into(), 2.into()])]).unwrap(), Value::from(2));
    interp.run("import json").unwrap();
    assert_eq!(
        interp.call("json.dumps", &[dict(vec![("a".into(), Value::List(vec![1.into()]))])]).unwrap(),
        Value::from("{\"a\": [1]}")
    );
    // A builtin shadowed in __main__ is __main__'s, as in Python.
    interp.run("def len(x):\n    return 'mine'").unwrap();
    assert_eq!(interp.call("len", &["abc".into()]).unwrap(), Value::from("mine"));
}

#[test]
fn call_with_passes_keyword_arguments() {
    let interp = interpreter();
    interp
        .run("def greet(name, *, punctuation='.', times=1):\n    return f'hello {name}{punctuation}' * times")
        .unwrap();
    assert_eq!(
        interp.call_with("greet", &["Ada".into()], [("punctuation", "!".into())]).unwrap(),
        Value::from("hello Ada!")
    );
    let both = [("times", Value::from(2)), ("punctuation", Value::from("?"))];
    assert_eq!(interp.call_with("greet", &["Ada".into()], both).unwrap(), Value::from("hello Ada?hello Ada?"));
    // No keyword arguments is `call`.
    assert_eq!(
        interp.call_with("greet", &["Ada".into()], Vec::<(String, Value)>::new()).unwrap(),
        Value::from("hello Ada.")
    );
    let err = interp.call_with("greet", &["Ada".into()], [("colour", "red".into())]).unwrap_err();
    let exception = err.python_exception().unwrap();
    assert_eq!(exception.type_name(), "TypeError");
    assert!(exception.message().contains("colour"), "{}", exception.message());
}

#[test]
fn call_errors_name_what_went_wrong() {
    let interp = interpreter();
    let err = interp.call("no_such_function", &[]).unwrap_err();
    let exception = err.python_exception().unwrap();
    assert_eq!((exception.type_name(), exception.message()), ("NameError", "name 'no_such_function' is not defined"));
    let err = interp.call("str.no_such_method", &[]).unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "AttributeError");
    let err = interp.call("len", &[]).unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "TypeError");
    let err = interp.call("os.system; print", &[]).unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "ValueError");
    let err = interp.call("iter", &[Value::List(vec![])]).unwrap_err();
    assert!(matches!(&err, Error::InvalidValue(why) if why.contains("'list_iterator'")), "{err}");
}

#[test]
fn lists_and_dicts_bind_but_do_not_cross_channels() {
    let interp = interpreter();
    let value = dict(vec![((1, 2).into(), Value::List(vec!["x".into()]))]);
    interp.run_with("print(type(v).__name__, v)", [("v", value.clone())]).unwrap();
    assert_eq!(interp.take_stdout().text(), "dict {(1, 2): ['x']}\n");
    let (_recv, send) = runtime().create_channel();
    match send.try_send(value) {
        Err(Error::InvalidValue(why)) => assert!(why.contains("not shareable"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Inside an interpreter, channels keep PEP 554's rule.
    interp
        .run("import interpreters\nr, s = interpreters.create_channel()\ntry:\n    s.send_nowait([1])\nexcept ValueError as e:\n    print(e)")
        .unwrap();
    assert!(interp.take_stdout().text().contains("not shareable"));
}

#[test]
fn eval_hands_over_channel_ends_the_interpreter_holds() {
    let interp = interpreter();
    interp.run("import interpreters\nr, s = interpreters.create_channel()").unwrap();
    let Value::Tuple(ends) = interp.eval("(r, s)").unwrap() else { panic!("not a tuple") };
    let [Value::RecvChannel(recv), Value::SendChannel(send)] = &ends[..] else { panic!("{ends:?}") };
    std::thread::scope(|scope| {
        let sending = scope.spawn(|| interp.run("s.send('hello')"));
        assert_eq!(recv.recv().unwrap(), Value::from("hello"));
        sending.join().unwrap().unwrap();
        let receiving = scope.spawn(|| interp.run("print(r.recv())"));
        send.send("back").unwrap();
        receiving.join().unwrap().unwrap();
    });
    assert_eq!(interp.take_stdout().text(), "back\n");
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Point,
    Circle(f64),
    Rect { width: u32, height: u32 },
    Pair(i8, i8),
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct Plugin {
    name: String,
    version: (u32, u32),
    enabled: bool,
    limit: Option<u64>,
    tags: Vec<String>,
    shapes: Vec<Shape>,
    scores: std::collections::BTreeMap<String, f64>,
    big: u128,
}

fn plugin() -> Plugin {
    Plugin {
        name: "spell-check".into(),
        version: (1, 4),
        enabled: true,
        limit: None,
        tags: vec!["text".into(), "lint".into()],
        shapes: vec![Shape::Point, Shape::Circle(2.5), Shape::Rect { width: 3, height: 4 }, Shape::Pair(-1, 1)],
        scores: [("a".to_owned(), 0.5), ("b".to_owned(), 1.0)].into(),
        big: u128::MAX,
    }
}

#[test]
fn serde_types_cross_into_python_and_back() {
    let interp = interpreter();
    interp.run("def describe(p):\n    return {**p, 'name': p['name'].upper(), 'limit': 10}").unwrap();
    let value = isolate::to_value(&plugin()).unwrap();
    interp
        .run_with(
            "print(p['version'], p['tags'], p['shapes'], p['limit'], p['big'] == 2**128 - 1)",
            [("p", value.clone())],
        )
        .unwrap();
    assert_eq!(
        interp.take_stdout().text(),
        "(1, 4) ['text', 'lint'] ['Point', {'Circle': 2.5}, {'Rect': {'width': 3, 'height': 4}}, {'Pair': (-1, 1)}] None True\n"
    );
    let back: Plugin = isolate::from_value(interp.call("describe", &[value]).unwrap()).unwrap();
    assert_eq!(back, Plugin { name: "SPELL-CHECK".into(), limit: Some(10), ..plugin() });
}

#[test]
fn serde_json_values_go_in_and_come_out_in_one_line() {
    let interp = interpreter();
    let input = serde_json::json!({"user": "ada", "items": [1, 2.5, null, true], "nested": {"k": []}});
    let output: serde_json::Value =
        isolate::from_value(interp.call("dict", &[isolate::to_value(&input).unwrap()]).unwrap()).unwrap();
    assert_eq!(output, input);
    let parsed: serde_json::Value = isolate::from_value(interp.eval("{'a': (1, 'x'), 'b': None}").unwrap()).unwrap();
    assert_eq!(parsed, serde_json::json!({"a": [1, "x"], "b": null}));
}

#[test]
fn from_value_says_what_did_not_fit() {
    let missing = isolate::from_value::<Plugin>(Value::Dict(vec![("name".into(), "x".into())])).unwrap_err();
    assert!(matches!(&missing, Error::InvalidValue(why) if why.contains("missing field")), "{missing}");
    let wrong = isolate::from_value::<u8>(300.into()).unwrap_err();
    assert!(matches!(&wrong, Error::InvalidValue(why) if why.contains("300")), "{wrong}");
    let huge = isolate::from_value::<i64>(Value::Int(num_bigint::BigInt::from(10).pow(50))).unwrap_err();
    assert!(matches!(&huge, Error::InvalidValue(why) if why.contains("too large")), "{huge}");
    let shape = isolate::from_value::<Shape>(Value::from("Hexagon")).unwrap_err();
    assert!(matches!(&shape, Error::InvalidValue(why) if why.contains("Hexagon")), "{shape}");
    let (recv, _send) = runtime().create_channel();
    assert!(isolate::to_value(&Value::from(recv)).is_err(), "channel ends are not data");
}

#[test]
fn bindings_of_every_kind_arrive_as_the_python_values_they_are() {
    let interp = interpreter();
    let big = num_bigint::BigInt::from(3).pow(200);
    let ints: Vec<Value> =
        [0i128, 1, -1, (1 << 31) - 1, 1 << 31, -(1 << 31), -(1 << 31) - 1, 1 << 62, -(1 << 63), i128::MAX, i128::MIN]
            .into_iter()
            .map(Value::from)
            .chain([Value::Int(big.clone()), Value::Int(-big)])
            .collect();
    let value = Value::Tuple(vec![
        Value::List(ints),
        Value::List(vec![0.0.into(), (-0.0).into(), f64::INFINITY.into(), 1e-310.into()]),
        Value::from("héllo ☃ 🐍"),
        Value::from(b"\x00\xff".as_slice()),
        Value::Dict(vec![((1, "k").into(), Value::Dict(vec![])), (Value::None, Value::List(vec![]))]),
        Value::Tuple(vec![]),
        true.into(),
    ]);
    let expected = "([0, 1, -1, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**62, -2**63, 2**127 - 1, -2**127, 3**200, -3**200], \
                    [0.0, -0.0, float('inf'), 1e-310], 'héllo ☃ 🐍', b'\\x00\\xff', {(1, 'k'): {}, None: []}, (), True)";
    interp
        .run_with(&format!("expected = {expected}\nprint(v == expected, repr(v[1][1]))"), [("v", value.clone())])
        .unwrap();
    assert_eq!(interp.take_stdout().text(), "True -0.0\n");
    // And back, unchanged.
    assert_eq!(interp.eval("v").unwrap(), value);
    // A buffer, which marshal cannot carry, still arrives as a memoryview.
    interp.run_with("print(type(b).__name__, bytes(b))", [("b", Value::Buffer(vec![1, 2]))]).unwrap();
    assert_eq!(interp.take_stdout().text(), "memoryview b'\\x01\\x02'\n");
}
