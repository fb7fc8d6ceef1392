//! Parsing untrusted files where a crash costs only that job: a profile or a conversion runs
//! in a child process (`okrflow file-job`, see [`child_main`]) with limits on memory, time and stack,
//! and the parent turns the child's death into a reason a person understands ("needed more
//! than the 2 GB of memory allowed for profiling"). A parser that overflows its stack, a
//! workbook that asks for 550 GB or a reader that loops forever kills the child, never okrflow.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::{convert, Conversion, FileKind, Profile};
use crate::units::format_bytes;

/// What one profile may use, and how often a job whose process died is tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileLimits {
    /// Heap and other private memory of the child (RLIMIT_DATA).
    pub memory_bytes: u64,
    /// Wall-clock time before the child is killed.
    pub time: Duration,
    /// The stack of the thread that parses.
    pub stack_bytes: u64,
    /// Tries of a job whose process died without a known cause (killed, crashed); a job that
    /// hit a limit fails at once, since it would hit it again.
    pub max_attempts: u32,
    /// Columns profiled per table; the rest are counted and named in a note.
    pub max_columns: usize,
    /// Characters kept of any text in a profile (values, names); longer ones are cut with "…".
    pub max_text_chars: usize,
}

impl Default for ProfileLimits {
    fn default() -> Self {
        ProfileLimits {
            memory_bytes: 2_000_000_000,
            time: Duration::from_secs(300),
            stack_bytes: 16_000_000,
            max_attempts: 3,
            max_columns: 1_000,
            max_text_chars: 200,
        }
    }
}

/// What a child process is asked to do with a stored file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    Profile,
    /// Convert into `<dir>/<id>` (through `<id>.part`), an Excel `sheet` or the first.
    Convert {
        to: Conversion,
        sheet: Option<String>,
        dir: PathBuf,
        id: String,
    },
}

/// How a job in a child process ended.
#[derive(Debug, PartialEq)]
pub enum ChildOutcome {
    /// The job finished: its answer (a profile, a conversion, or a message about the file).
    Done(Envelope),
    /// A limit was reached; the reason names it. Trying again would reach it again.
    Limit(String),
    /// The process died for a reason it did not say (a signal, an unexpected exit): worth
    /// another try, up to [`ProfileLimits::max_attempts`].
    Died(String),
}

/// The one line a child prints on standard output.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum Envelope {
    Profile(Profile),
    Converted {
        bytes: u64,
        sha256: String,
        sheet: Option<String>,
    },
    /// The file could not be read as asked: the caller's to fix.
    Failed(String),
    /// The output could not be written: the server's.
    WriteFailed(String),
}

/// Most bytes read of a child's standard output: profiles are bounded far below this.
const MAX_OUTPUT: u64 = 256 << 20;
/// The tail of its standard error kept to explain a death.
const STDERR_TAIL: usize = 4096;
/// The longest failure message kept on a file.
const MAX_MESSAGE_CHARS: usize = 1_000;

/// Runs `job` on the file at `path` in a child process `exe file-job …` under `limits`. A
/// conversion's partial output is removed here whatever happened to the child.
pub async fn run_in_child(exe: &Path, path: &Path, kind: FileKind, job: &Job, limits: &ProfileLimits) -> ChildOutcome {
    let outcome = run(exe, path, kind, job, limits).await;
    if let Job::Convert { dir, id, .. } = job {
        if !matches!(outcome, ChildOutcome::Done(Envelope::Converted { .. })) {
            let _ = std::fs::remove_file(dir.join(format!("{id}.part")));
            let _ = std::fs::remove_file(dir.join(id));
        }
    }
    outcome
}

async fn run(exe: &Path, path: &Path, kind: FileKind, job: &Job, limits: &ProfileLimits) -> ChildOutcome {
    let mut command = tokio::process::Command::new(exe);
    command.arg("file-job");
    if let Job::Convert { to, sheet, dir, id } = job {
        command.arg("--convert-to").arg(to.as_str()).arg("--out-dir").arg(dir).arg("--out-id").arg(id);
        if let Some(sheet) = sheet {
            // One argument: a sheet named "-2024" must not read as a flag.
            command.arg(format!("--sheet={sheet}"));
        }
    }
    command
        .arg("--kind")
        .arg(kind.as_str())
        .arg("--memory-bytes")
        .arg(limits.memory_bytes.to_string())
        .arg("--stack-bytes")
        .arg(limits.stack_bytes.to_string())
        .arg("--time-secs")
        .arg(limits.time.as_secs().max(1).to_string())
        .arg("--max-columns")
        .arg(limits.max_columns.to_string())
        .arg("--max-text-chars")
        .arg(limits.max_text_chars.to_string())
        .arg(path)
        // glibc reserves address space per thread arena; two keep the child's footprint honest.
        .env("MALLOC_ARENA_MAX", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return ChildOutcome::Died(format!("could not start the profiler process '{}': {e}", exe.display())),
    };
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let read_out = async move {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(MAX_OUTPUT).read_to_end(&mut out).await;
        out
    };
    let read_err = async move {
        // Only the tail explains a death: keep at most two tails' worth while reading.
        let (mut err, mut chunk) = (Vec::new(), vec![0u8; 8192]);
        while let Ok(n) = stderr.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            err.extend_from_slice(&chunk[..n]);
            if err.len() > 2 * STDERR_TAIL {
                err.drain(..err.len() - STDERR_TAIL);
            }
        }
        let from = err.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(&err[from..]).into_owned()
    };
    let run = async { tokio::join!(child.wait(), read_out, read_err) };
    let (status, out, err) = match tokio::time::timeout(limits.time, run).await {
        Ok(done) => done,
        Err(_) => {
            let _ = child.kill().await;
            return ChildOutcome::Limit(format!(
                "took longer than the {} allowed for profiling",
                crate::units::format_duration(limits.time.as_secs())
            ));
        }
    };
    let status = match status {
        Ok(status) => status,
        Err(e) => return ChildOutcome::Died(format!("lost the profiler process: {e}")),
    };
    explain(status, &out, &err, limits)
}

/// The outcome of a finished child, from its exit status, output and the tail of its stderr.
fn explain(status: std::process::ExitStatus, out: &[u8], err: &str, limits: &ProfileLimits) -> ChildOutcome {
    if status.success() {
        // The envelope is the last line: anything a library printed before it is ignored.
        let line = out.split(|b| *b == b'\n').rfind(|l| !l.is_empty()).unwrap_or_default();
        return match serde_json::from_slice::<Envelope>(line) {
            Ok(Envelope::Failed(mut message)) => {
                // A parser's message may quote the file: as bounded as a profile's texts.
                super::profile::cut_text(&mut message, MAX_MESSAGE_CHARS);
                ChildOutcome::Done(Envelope::Failed(message))
            }
            Ok(envelope) => ChildOutcome::Done(envelope),
            Err(e) => ChildOutcome::Died(format!("the profiler process answered something unreadable: {e}")),
        };
    }
    // Rust prints these before aborting; the limits are why they happen here.
    if err.contains("memory allocation of") || err.contains("capacity overflow") || err.contains("out of memory") {
        return ChildOutcome::Limit(format!(
            "needed more than the {} of memory allowed for profiling",
            format_bytes(limits.memory_bytes)
        ));
    }
    if err.contains("has overflowed its stack") {
        return ChildOutcome::Limit(format!(
            "is nested too deeply to parse: the parser needed more than the {} of stack allowed",
            format_bytes(limits.stack_bytes)
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if status.signal() == Some(libc::SIGXCPU) {
            return ChildOutcome::Limit(format!(
                "used more processor time than profiling allows ({} on each core)",
                crate::units::format_duration(limits.time.as_secs() * 2)
            ));
        }
        if let Some(signal) = status.signal() {
            let last = last_line(err).map(|l| format!(": {l}")).unwrap_or_default();
            return ChildOutcome::Died(format!("the profiler process was killed by signal {signal}{last}"));
        }
    }
    let last = last_line(err).map(|l| format!(": {l}")).unwrap_or_default();
    ChildOutcome::Died(format!("the profiler process stopped with {status}{last}"))
}

fn last_line(err: &str) -> Option<&str> {
    err.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// The child's side (`okrflow file-job`): limits itself, runs the job on `path` on a thread
/// with the given stack (a profile is bounded), and prints one JSON line. A parser's panic is
/// the file's failure (a message), not the process's.
pub fn child_main(path: &Path, kind: FileKind, job: Job, limits: &ProfileLimits) -> std::io::Result<()> {
    limit_self(limits);
    let path: PathBuf = path.to_path_buf();
    let bounds = limits.clone();
    let worker = std::thread::Builder::new().name("file-job".into()).stack_size(limits.stack_bytes as usize).spawn(
        move || match job {
            Job::Profile => match super::profile::profile(&path, kind) {
                Ok(mut p) => {
                    super::profile::bound(&mut p, bounds.max_columns, bounds.max_text_chars);
                    Envelope::Profile(p)
                }
                Err(message) => Envelope::Failed(message),
            },
            Job::Convert { to, sheet, dir, id } => match convert::convert(&path, kind, sheet.as_deref(), to, &dir, &id)
            {
                Ok(out) => Envelope::Converted { bytes: out.bytes, sha256: out.sha256, sheet: out.sheet },
                Err(convert::ConvertError::Input(message)) => Envelope::Failed(message),
                Err(convert::ConvertError::Output(message)) => Envelope::WriteFailed(message),
            },
        },
    )?;
    let envelope = match worker.join() {
        Ok(envelope) => envelope,
        Err(panic) => {
            Envelope::Failed(format!("the {} parser stopped unexpectedly: {}", kind.description(), panic_text(&panic)))
        }
    };
    let line = serde_json::to_string(&envelope).map_err(std::io::Error::other)?;
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Memory (RLIMIT_DATA: heap and private mappings, not the mapped file) and processor time
/// (RLIMIT_CPU, a backstop for the parent's wall-clock limit).
fn limit_self(limits: &ProfileLimits) {
    #[cfg(unix)]
    {
        let set = |resource, value: u64| {
            let limit = libc::rlimit { rlim_cur: value as libc::rlim_t, rlim_max: value as libc::rlim_t };
            // SAFETY: setrlimit reads the struct we pass and changes only this process's limits.
            if unsafe { libc::setrlimit(resource, &limit) } != 0 {
                eprintln!("warning: could not set a resource limit: {}", std::io::Error::last_os_error());
            }
        };
        set(libc::RLIMIT_DATA, limits.memory_bytes);
        // Processor time counts every thread: polars uses all cores, so the backstop allows
        // twice the wall-clock limit on each of them.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        set(libc::RLIMIT_CPU, limits.time.as_secs().saturating_mul(2).saturating_mul(cores).max(1));
    }
    // A profile outlives nothing: when okrflow dies (even by SIGKILL), so does its child.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a signal for this process; no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    #[cfg(not(unix))]
    let _ = limits;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    fn limits() -> ProfileLimits {
        ProfileLimits { memory_bytes: 200_000_000, ..ProfileLimits::default() }
    }

    #[test]
    fn a_child_that_ran_out_of_memory_is_explained_as_the_limit() {
        let status = std::process::ExitStatus::from_raw(libc::SIGABRT);
        let outcome = explain(status, b"", "memory allocation of 550000000000 bytes failed\n", &limits());
        assert_eq!(
            outcome,
            ChildOutcome::Limit("needed more than the 200.0 MB of memory allowed for profiling".into())
        );
    }

    #[test]
    fn a_stack_overflow_says_the_file_is_nested_too_deeply() {
        let status = std::process::ExitStatus::from_raw(libc::SIGABRT);
        let err = "\nthread 'profile' has overflowed its stack\nfatal runtime error: stack overflow, aborting\n";
        let ChildOutcome::Limit(reason) = explain(status, b"", err, &limits()) else { panic!() };
        assert!(reason.contains("nested too deeply") && reason.contains("16.0 MB"), "{reason}");
    }

    #[test]
    fn an_unexplained_death_is_worth_another_try() {
        let status = std::process::ExitStatus::from_raw(libc::SIGKILL);
        let ChildOutcome::Died(reason) = explain(status, b"", "", &limits()) else { panic!() };
        assert!(reason.contains("signal 9"), "{reason}");
    }

    #[test]
    fn a_finished_child_hands_over_its_profile_or_message() {
        let ok = std::process::ExitStatus::from_raw(0);
        let line = serde_json::to_vec(&Envelope::Failed("invalid JSON: line 2".into())).unwrap();
        assert_eq!(
            explain(ok, &line, "", &limits()),
            ChildOutcome::Done(Envelope::Failed("invalid JSON: line 2".into()))
        );
        let p = Profile::Text { lines: 3, words: 4, encoding: "UTF-8".into() };
        let line = serde_json::to_vec(&Envelope::Profile(p.clone())).unwrap();
        assert_eq!(explain(ok, &line, "", &limits()), ChildOutcome::Done(Envelope::Profile(p)));
        assert!(matches!(explain(ok, b"garbage", "", &limits()), ChildOutcome::Died(_)));
    }
}
