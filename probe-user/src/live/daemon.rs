//! Running as a service: the PID file, going to the background, and giving up
//! root once the sockets and the XDP program are set up.
//!
//! Order in `ocellus probe --daemon --pid-file P --user U`:
//! 1. [`PidFile::check`]: refuse to start when `P` names a live process (a
//!    stale file, left by a probe that was killed, is replaced);
//! 2. open the sockets and attach XDP, as root;
//! 3. [`daemonize`]: fork; the parent waits until the child reports that it
//!    runs (or why it could not) and exits with that status;
//! 4. [`PidFile::write`] (owned by `U`, so `U` can empty it at exit);
//! 5. [`drop_privileges`] to `U`;
//! 6. capture until SIGTERM; the PID file is removed (or emptied, when the
//!    directory is not `U`'s) when the [`PidFile`] drops.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Why the service setup failed.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("PID file {path}: {what}")]
    PidFile { path: PathBuf, what: String },
    #[error("another probe is running with PID {pid} (PID file {path}); stop it first")]
    Running { pid: i32, path: PathBuf },
    #[error("--user {0}: no such user")]
    NoUser(String),
    #[error("--user {user}: {what}")]
    Drop { user: String, what: String },
    #[error("--daemon: {0}")]
    Fork(String),
}

fn last_os_error() -> String {
    std::io::Error::last_os_error().to_string()
}

/// A user to become: ids from the password database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Looks `name` up in the password database (a number is taken as a uid).
pub fn lookup_user(name: &str) -> Result<User, DaemonError> {
    let c = CString::new(name).map_err(|_| DaemonError::NoUser(name.to_string()))?;
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16384];
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: valid pointers to a passwd, a buffer of the given size, a result slot.
    let rc = unsafe {
        libc::getpwnam_r(
            c.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut res,
        )
    };
    if rc == 0 && !res.is_null() {
        return Ok(User {
            name: name.to_string(),
            uid: pw.pw_uid,
            gid: pw.pw_gid,
        });
    }
    if let Ok(uid) = name.parse::<u32>() {
        // SAFETY: as above, by uid.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut res) };
        let gid = if rc == 0 && !res.is_null() {
            pw.pw_gid
        } else {
            uid
        };
        return Ok(User {
            name: name.to_string(),
            uid,
            gid,
        });
    }
    Err(DaemonError::NoUser(name.to_string()))
}

/// Becomes `user`: supplementary groups cleared, then the group, then the
/// user (in that order: after setuid, setgid is no longer allowed). Checks
/// that root cannot be regained.
pub fn drop_privileges(user: &User) -> Result<(), DaemonError> {
    let err = |what: String| DaemonError::Drop {
        user: user.name.clone(),
        what,
    };
    // SAFETY: plain syscalls with valid arguments.
    unsafe {
        if libc::setgroups(1, &user.gid) != 0 {
            return Err(err(format!("setgroups: {}", last_os_error())));
        }
        if libc::setgid(user.gid) != 0 {
            return Err(err(format!("setgid({}): {}", user.gid, last_os_error())));
        }
        if libc::setuid(user.uid) != 0 {
            return Err(err(format!("setuid({}): {}", user.uid, last_os_error())));
        }
        if user.uid != 0 && libc::setuid(0) == 0 {
            return Err(err("root could be regained after setuid".into()));
        }
    }
    Ok(())
}

/// Whether process `pid` exists (signal 0; EPERM means it exists).
fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The PID file: checked before start, written once running, removed on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    written: bool,
}

impl PidFile {
    /// Refuses when `path` names a live process; a stale or empty file is fine
    /// (it is replaced by [`PidFile::write`]).
    pub fn check(path: &Path) -> Result<PidFile, DaemonError> {
        match std::fs::read_to_string(path) {
            Ok(s) => {
                let t = s.trim();
                if !t.is_empty() {
                    let pid: i32 = t.parse().map_err(|_| DaemonError::PidFile {
                        path: path.to_path_buf(),
                        what: format!("holds {t:?}, not a process id; remove it"),
                    })?;
                    // SAFETY: no arguments.
                    if alive(pid) && pid != unsafe { libc::getpid() } {
                        return Err(DaemonError::Running {
                            pid,
                            path: path.to_path_buf(),
                        });
                    }
                    eprintln!(
                        "ocellus probe: replacing the stale PID file {} (process {pid} is gone)",
                        path.display()
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DaemonError::PidFile {
                    path: path.to_path_buf(),
                    what: e.to_string(),
                })
            }
        }
        Ok(PidFile {
            path: path.to_path_buf(),
            written: false,
        })
    }

    /// Writes this process's id; the file is handed to `owner` so that it can
    /// empty it at exit after root is given up.
    pub fn write(&mut self, owner: Option<&User>) -> Result<(), DaemonError> {
        let err = |what: String| DaemonError::PidFile {
            path: self.path.clone(),
            what,
        };
        // SAFETY: no arguments.
        let pid = unsafe { libc::getpid() };
        let tmp = self.path.with_extension("pid.tmp");
        std::fs::write(&tmp, format!("{pid}\n")).map_err(|e| err(e.to_string()))?;
        if let Some(u) = owner {
            std::os::unix::fs::chown(&tmp, Some(u.uid), Some(u.gid))
                .map_err(|e| err(format!("chown to {}: {e}", u.name)))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| err(e.to_string()))?;
        self.written = true;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if !self.written {
            return;
        }
        // Without write access to the directory (root gave it up), an empty
        // file is what the next start reads as "not running".
        if std::fs::remove_file(&self.path).is_err() {
            let _ = std::fs::write(&self.path, b"");
        }
    }
}

/// The child's side of [`daemonize`]: tells the waiting parent how the start went.
pub struct Ready(Option<std::fs::File>);

impl Ready {
    /// Startup went well: the parent exits 0; stdin, stdout and stderr go to
    /// /dev/null.
    pub fn ok(mut self) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(b"\0");
            detach_stdio();
        }
    }
    /// Startup failed: the parent prints `msg` and exits 1.
    pub fn fail(mut self, msg: &str) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(msg.as_bytes());
        }
    }
    /// Not a daemon: nothing to report.
    pub fn foreground() -> Ready {
        Ready(None)
    }
}

fn detach_stdio() {
    let null = CString::new("/dev/null").unwrap_or_default();
    // SAFETY: open and dup2 on descriptors we own.
    unsafe {
        let fd = libc::open(null.as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            for t in 0..3 {
                libc::dup2(fd, t);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}

/// Goes to the background: forks, the child starts a new session. Call it
/// before any thread starts. The parent never returns: it waits for the child's
/// [`Ready`] and exits 0 (running) or 1 (with the child's message), without
/// running destructors (the child owns the sockets and XDP attachments now).
pub fn daemonize() -> Result<Ready, DaemonError> {
    let mut fds = [0i32; 2];
    // SAFETY: a two-int array for pipe2.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(DaemonError::Fork(format!("pipe: {}", last_os_error())));
    }
    // SAFETY: fresh descriptors from pipe2, owned here.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: single-threaded at this point (documented precondition).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(DaemonError::Fork(format!("fork: {}", last_os_error())));
    }
    if pid > 0 {
        drop(w);
        let mut msg = Vec::new();
        let _ = std::fs::File::from(r).read_to_end(&mut msg);
        let code = match msg.first() {
            Some(0) => {
                eprintln!("ocellus probe: running in the background as process {pid}");
                0
            }
            Some(_) => {
                eprintln!("ocellus probe: {}", String::from_utf8_lossy(&msg));
                1
            }
            None => {
                eprintln!("ocellus probe: the background process {pid} exited during startup");
                1
            }
        };
        // SAFETY: leave without destructors (they would detach the child's XDP).
        unsafe { libc::_exit(code) };
    }
    drop(r);
    // SAFETY: the child leaves the parent's session and terminal.
    unsafe {
        libc::setsid();
        libc::umask(0o022);
    }
    let _ = std::env::set_current_dir("/");
    Ok(Ready(Some(std::fs::File::from(w))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_file_naming_a_live_process_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.pid");
        // PID 1 is always alive.
        std::fs::write(&p, "1\n").unwrap();
        let e = PidFile::check(&p).unwrap_err();
        assert!(matches!(e, DaemonError::Running { pid: 1, .. }), "{e}");
        assert!(e.to_string().contains("PID 1"), "{e}");
    }

    #[test]
    fn a_stale_or_empty_pid_file_is_replaced_and_removed_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.pid");
        // A pid past pid_max cannot be alive.
        std::fs::write(&p, "2147483000\n").unwrap();
        let mut f = PidFile::check(&p).unwrap();
        f.write(None).unwrap();
        let me = std::process::id().to_string();
        assert_eq!(std::fs::read_to_string(&p).unwrap().trim(), me);
        drop(f);
        assert!(!p.exists());
        std::fs::write(&p, "").unwrap();
        assert!(PidFile::check(&p).is_ok());
        std::fs::write(&p, "garbage").unwrap();
        let e = PidFile::check(&p).unwrap_err().to_string();
        assert!(e.contains("not a process id"), "{e}");
    }

    #[test]
    fn unknown_users_are_named() {
        let e = lookup_user("no-such-user-ocellus").unwrap_err().to_string();
        assert_eq!(e, "--user no-such-user-ocellus: no such user");
        let root = lookup_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
    }
}
