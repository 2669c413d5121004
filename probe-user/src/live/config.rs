//! The probe's configuration file (`ocellus probe --config FILE`), the way
//! Argus reads `/etc/argus.conf`: every key is the long name of a command-line
//! option, so every setting has a flag equivalent, and a flag given on the
//! command line wins over the file.
//!
//! ```toml
//! iface = ["eth1", "eth2"]   # --iface eth1 --iface eth2
//! capture = "xdp"            # --capture xdp
//! queues = 4                 # --queues 4
//! busy-poll = true           # --busy-poll
//! write = "/var/lib/ocellus/ring/"
//! ```
//!
//! The file is turned into the command-line arguments it stands for, each
//! value checked by the option's own parser, and those arguments are added
//! after the real command line for the options it did not give.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, Command};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A configuration file that cannot be used. Each is one line naming the
/// file and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {what}")]
    Read { file: PathBuf, what: String },
    #[error("{file}:{line}: {what}")]
    Syntax {
        file: PathBuf,
        line: usize,
        what: String,
    },
    #[error("{file}: unknown key `{key}` (keys are the long options of `ocellus probe`, e.g. iface, capture, xdp-mode, write)")]
    UnknownKey { file: PathBuf, key: String },
    #[error("{file}: key `{key}`: {what}")]
    BadValue {
        file: PathBuf,
        key: String,
        what: String,
    },
}

/// Options that make no sense in a file.
const NOT_IN_FILE: &[&str] = &["help", "version", "config"];

/// Reads `path` and returns the arguments it adds to `cli` (the command line,
/// program name first) for `cmd`: `--key=value` for each key whose option
/// `cli` does not give.
pub fn file_args(cmd: &Command, cli: &[String], path: &Path) -> Result<Vec<String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        file: path.to_path_buf(),
        what: e.to_string(),
    })?;
    text_args(cmd, cli, path, &text)
}

/// [`file_args`] on text already read (`path` names it in errors).
pub fn text_args(
    cmd: &Command,
    cli: &[String],
    path: &Path,
    text: &str,
) -> Result<Vec<String>, ConfigError> {
    let file = || path.to_path_buf();
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        ConfigError::Syntax {
            file: file(),
            line,
            what: e.message().replace('\n', " ").trim().to_string(),
        }
    })?;
    // What the command line itself gave (its errors are reported later, by
    // the real parse).
    let given = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(cli)
        .ok();
    let mut out = Vec::new();
    for (key, value) in &table {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
            .filter(|_| !NOT_IN_FILE.contains(&key.as_str()))
            .ok_or_else(|| ConfigError::UnknownKey {
                file: file(),
                key: key.clone(),
            })?;
        let bad = |what: String| ConfigError::BadValue {
            file: file(),
            key: key.clone(),
            what,
        };
        let on_cli = given.as_ref().is_some_and(|m| {
            m.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine)
        });
        let flag = format!("--{key}");
        if !arg.get_action().takes_values() {
            let on = bool::deserialize(value.clone())
                .map_err(|_| bad(format!("expected true or false, got {}", show(value))))?;
            if on && !on_cli {
                out.push(flag);
            }
            continue;
        }
        let many = matches!(arg.get_action(), ArgAction::Append)
            || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(a) if many => a.iter().collect(),
            toml::Value::Array(_) => {
                return Err(bad(format!("takes one value, got a list {}", show(value))))
            }
            v => vec![v],
        };
        let mut strs = Vec::with_capacity(values.len());
        for v in values {
            let s = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    return Err(bad(format!(
                        "expected a string or a number, got {}",
                        show(other)
                    )))
                }
            };
            check_value(arg, &s).map_err(bad)?;
            strs.push(s);
        }
        if !on_cli {
            out.extend(strs.into_iter().map(|s| format!("{flag}={s}")));
        }
    }
    Ok(out)
}

fn show(v: &toml::Value) -> String {
    format!("{} {}", v.type_str(), toml_text(v))
}

fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_text).collect::<Vec<_>>().join(", ")
        ),
        toml::Value::Table(_) => "{...}".into(),
    }
}

/// Runs the option's own value parser on `s`; the error as one line.
fn check_value(arg: &Arg, s: &str) -> Result<(), String> {
    let probe = Arg::new("v")
        .long("v")
        .value_name("V")
        .action(ArgAction::Set)
        .allow_hyphen_values(true)
        .value_parser(arg.get_value_parser().clone());
    match Command::new("config")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from([format!("--v={s}")])
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let possible: Vec<String> = arg
                .get_possible_values()
                .iter()
                .map(|p| p.get_name().to_string())
                .collect();
            if !possible.is_empty() {
                return Err(format!(
                    "invalid value {s:?} (possible values: {})",
                    possible.join(", ")
                ));
            }
            let r = e.render().to_string();
            let first = r.lines().next().unwrap_or("invalid value");
            Err(first
                .trim_start_matches("error: ")
                .replace(" for '--v <V>'", ""))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> Command {
        Command::new("t")
            .arg(
                Arg::new("iface")
                    .long("iface")
                    .short('i')
                    .action(ArgAction::Append),
            )
            .arg(
                Arg::new("capture")
                    .long("capture")
                    .default_value("auto")
                    .value_parser(["xdp", "pcap", "auto"]),
            )
            .arg(
                Arg::new("queues")
                    .long("queues")
                    .value_parser(clap::value_parser!(u32)),
            )
            .arg(
                Arg::new("busy_poll")
                    .long("busy-poll")
                    .action(ArgAction::SetTrue),
            )
            .arg(Arg::new("config").long("config"))
    }

    fn run(cli: &[&str], text: &str) -> Result<Vec<String>, String> {
        let cli: Vec<String> = cli.iter().map(|s| s.to_string()).collect();
        text_args(&cmd(), &cli, Path::new("/etc/o.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn keys_become_flags_unless_given() {
        let t = "iface = [\"a\", \"b\"]\ncapture = \"pcap\"\nqueues = 2\nbusy-poll = true\n";
        assert_eq!(
            run(&["t"], t).unwrap(),
            [
                "--busy-poll",
                "--capture=pcap",
                "--iface=a",
                "--iface=b",
                "--queues=2"
            ]
        );
        // Flags win: the file's iface list is not added to -i x, nor its capture.
        assert_eq!(
            run(&["t", "-i", "x", "--capture", "xdp", "--busy-poll"], t).unwrap(),
            ["--queues=2"]
        );
    }

    #[test]
    fn errors_are_one_line_and_name_the_key_and_file() {
        let cases = [
            (
                "colour = 1\n",
                "/etc/o.toml: unknown key `colour` (keys are the long options",
            ),
            (
                "capture = \"tap\"\n",
                "/etc/o.toml: key `capture`: invalid value \"tap\" (possible values: xdp, pcap, auto)",
            ),
            ("queues = -3\n", "/etc/o.toml: key `queues`: invalid value '-3'"),
            ("queues = \"many\"\n", "/etc/o.toml: key `queues`: invalid value 'many'"),
            ("queues = [1, 2]\n", "/etc/o.toml: key `queues`: takes one value"),
            ("busy-poll = \"yes\"\n", "/etc/o.toml: key `busy-poll`: expected true or false, got string \"yes\""),
            ("iface = true\n", "/etc/o.toml: key `iface`: expected a string or a number, got boolean true"),
            ("config = \"x\"\n", "/etc/o.toml: unknown key `config`"),
            ("a = 1\nqueues = = 2\n", "/etc/o.toml:2: "),
        ];
        for (text, want) in cases {
            let e = run(&["t"], text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: got {e:?}, want {want:?}...");
            assert!(!e.contains('\n'), "{text:?}: {e:?} is not one line");
        }
    }
}
