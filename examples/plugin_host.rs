//! A plugin host: every plugin is an interpreter of its own.
//!
//! `cargo run --release --example plugin_host` loads the plugins in
//! `examples/plugins/`, each in its own interpreter with its own limits,
//! and gives each two host functions: `log` and `get_setting`. It then
//! sends every plugin each event (a dict), calling its `on_event`, and
//! collects the dicts they return. One plugin misbehaves on purpose (it
//! loops, raises, and returns something that cannot be copied); the others
//! are unaffected, and a plugin stopped by its time limit is started again
//! from the snapshot taken after it loaded, in milliseconds.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use isolate::{Error, Interpreter, Runtime, Snapshot, Value};
use serde_json::json;

struct Plugin {
    name: String,
    interpreter: Interpreter,
    /// The plugin as it was once loaded, to restart it from.
    loaded: Snapshot,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::new()?;
    let settings: Arc<BTreeMap<&str, &str>> = Arc::new([("language", "fr"), ("alert_after", "2")].into());

    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins");
    let mut paths: Vec<_> =
        std::fs::read_dir(&folder)?.map(|entry| entry.map(|e| e.path())).collect::<Result<_, _>>()?;
    paths.retain(|path| path.extension().is_some_and(|ext| ext == "py"));
    paths.sort();

    let mut plugins = Vec::new();
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let interpreter = plugin_interpreter(&runtime, &name, &settings).build()?;
        interpreter.run_script(&path.to_string_lossy(), &std::fs::read(&path)?)?;
        let loaded = interpreter.snapshot()?;
        println!("loaded {name}");
        plugins.push(Plugin { name, interpreter, loaded });
    }

    let events = [
        json!({"kind": "login", "user": "ada"}),
        json!({"kind": "login", "user": "grace"}),
        json!({"kind": "raise"}),
        json!({"kind": "hoard"}),
        json!({"kind": "loop"}),
        json!({"kind": "logout", "user": "ada"}),
    ];
    for event in &events {
        println!("event {event}");
        let argument = isolate::to_value(event)?;
        for plugin in &mut plugins {
            match plugin.interpreter.call("on_event", std::slice::from_ref(&argument)) {
                Ok(reply) => {
                    let reply: serde_json::Value = isolate::from_value(reply)?;
                    println!("  {:<12} {reply}", plugin.name);
                }
                Err(Error::RunFailed(exception)) => {
                    println!("  {:<12} raised {}: {}", plugin.name, exception.type_name(), exception.message());
                }
                Err(Error::InvalidValue(why)) => println!("  {:<12} returned no data: {why}", plugin.name),
                Err(err @ Error::LimitExceeded { .. }) => {
                    println!("  {:<12} stopped ({err}); restarted from its snapshot", plugin.name);
                    plugin.interpreter =
                        plugin_interpreter(&runtime, &plugin.name, &settings).snapshot(&plugin.loaded).build()?;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(())
}

/// A plugin's interpreter: its own limits, and the two host functions.
fn plugin_interpreter(
    runtime: &Runtime,
    name: &str,
    settings: &Arc<BTreeMap<&'static str, &'static str>>,
) -> isolate::InterpreterBuilder {
    let plugin = name.to_owned();
    let settings = settings.clone();
    runtime
        .interpreter()
        .timeout(Duration::from_millis(500))
        .memory_limit(256 << 20)
        .stdout(isolate::Output::inherit())
        .stderr(isolate::Output::inherit())
        .function("log", move |args| {
            let [Value::Str(message)] = args else { return Err("log takes one str".into()) };
            println!("  {plugin:<12} log: {message}");
            Ok(Value::None)
        })
        .function("get_setting", move |args| match args {
            [Value::Str(key)] => {
                settings.get(key.as_str()).map(|&value| value.into()).ok_or(format!("no setting {key:?}"))
            }
            _ => Err("get_setting takes one str".into()),
        })
}
