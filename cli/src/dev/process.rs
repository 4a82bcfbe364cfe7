//! The child processes of `gateway dev` (cargo and the gateway): started in their own
//! process group, their output forwarded line by line as events, their exit reported as
//! an event once all their output has been, and stopped with SIGTERM to the group (then
//! SIGKILL when they do not go).
//!
//! Their own process group keeps a terminal's Ctrl-C away from them: `gateway dev` gets it
//! and stops them in order (a gateway that vanished on its own would look like a crash),
//! and signalling the group reaches cargo's rustc processes too.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Starts `command` with piped output. Each line goes to `tx` as `line(stream, text)`;
/// when the process has exited and its output is drained, `exit(status)` follows.
/// Returns the process id.
pub fn spawn<E: Send + 'static>(
    mut command: Command,
    tx: Sender<E>,
    line: fn(Stream, String) -> E,
    exit: fn(Option<ExitStatus>) -> E,
) -> std::io::Result<u32> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child: Child = command.spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let forward = |reader: Option<Box<dyn Read + Send>>, stream: Stream, tx: Sender<E>| {
        std::thread::spawn(move || {
            let Some(reader) = reader else { return };
            for text in BufReader::new(reader).lines() {
                let Ok(text) = text else { break };
                if tx.send(line(stream, text)).is_err() {
                    break;
                }
            }
        })
    };
    let out = forward(
        stdout.map(|s| Box::new(s) as Box<dyn Read + Send>),
        Stream::Stdout,
        tx.clone(),
    );
    let err = forward(
        stderr.map(|s| Box::new(s) as Box<dyn Read + Send>),
        Stream::Stderr,
        tx.clone(),
    );
    std::thread::spawn(move || {
        let _ = out.join();
        let _ = err.join();
        let status = child.wait().ok();
        let _ = tx.send(exit(status));
    });
    Ok(pid)
}

/// Asks the process group of `pid` to stop (SIGTERM), or makes it (SIGKILL). Only for a
/// process whose exit has not been reported yet: until it is waited for, its id is not
/// reused.
#[cfg(unix)]
pub fn signal(pid: u32, kill: bool) {
    use rustix::process::{Pid, Signal, kill_process_group};
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let _ = kill_process_group(pid, if kill { Signal::KILL } else { Signal::TERM });
}

#[cfg(not(unix))]
pub fn signal(_pid: u32, _kill: bool) {}
