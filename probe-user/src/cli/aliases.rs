//! Argus's program names: run as `ra`, `rasort`, `racount`, `racluster`,
//! `ragrep`, `ranonymize` or `ragraph` (a link to the `ocellus` binary), ocellus runs the
//! matching subcommand with the same arguments. `ocellus install-aliases DIR`
//! makes the links.

use super::EXIT_USAGE;
use std::path::Path;
use std::process::ExitCode;

/// The Argus names and the subcommands they run.
pub const ALIASES: &[(&str, &str)] = &[
    ("ra", "read"),
    ("rasort", "sort"),
    ("racount", "count"),
    ("racluster", "cluster"),
    ("ragrep", "grep"),
    ("ranonymize", "anonymize"),
    ("ragraph", "graph"),
];

/// The subcommand for a program name (`argv[0]`), if it is an Argus name.
pub fn command_for(argv0: &str) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    ALIASES.iter().find(|(a, _)| *a == name).map(|(_, c)| *c)
}

/// `ocellus install-aliases DIR`: symbolic links DIR/ra etc. to this binary.
pub fn install(args: Vec<String>) -> ExitCode {
    let [dir] = args.as_slice() else {
        eprintln!("ocellus install-aliases: usage: ocellus install-aliases DIR (makes DIR/ra, DIR/rasort, ... link to ocellus)");
        return ExitCode::from(EXIT_USAGE);
    };
    if dir == "-h" || dir == "--help" {
        println!("Usage: ocellus install-aliases DIR\n\nMakes DIR/ra, rasort, racount, racluster, ragrep, ranonymize and ragraph links to this binary.");
        return ExitCode::SUCCESS;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ocellus install-aliases: cannot find the ocellus binary: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    for (name, _) in ALIASES {
        let link = Path::new(dir).join(name);
        if let Ok(meta) = std::fs::symlink_metadata(&link) {
            if !meta.file_type().is_symlink() {
                eprintln!(
                    "ocellus install-aliases: {} exists and is not a link; left alone",
                    link.display()
                );
                return ExitCode::from(EXIT_USAGE);
            }
            let _ = std::fs::remove_file(&link);
        }
        if let Err(e) = std::os::unix::fs::symlink(&exe, &link) {
            eprintln!("ocellus install-aliases: {}: {e}", link.display());
            return ExitCode::from(EXIT_USAGE);
        }
        println!("{} -> {}", link.display(), exe.display());
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argus_names_map_to_subcommands() {
        assert_eq!(command_for("/usr/local/bin/rasort"), Some("sort"));
        assert_eq!(command_for("ra"), Some("read"));
        assert_eq!(command_for("/opt/bin/ragraph"), Some("graph"));
        assert_eq!(command_for("./ocellus"), None);
        assert_eq!(command_for("rasorted"), None);
    }
}
