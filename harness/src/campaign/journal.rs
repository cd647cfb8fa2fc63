//! The campaign journal: a file the campaign appends to as it goes, one JSON line per record,
//! so that a campaign killed at any moment restarts where it stood (`upgrade --resume`).
//!
//! The first line says what the campaign is (the command's arguments and the image's SHA-256);
//! then, per meter, the phases that decide where it resumes (initiated, verified, activation
//! invoked, confirmed) and the outcome each pass ended with. Each record is one `write` of a
//! whole line before the campaign goes on, so a killed process loses none and leaves whole
//! lines; the file is synced to disk within [`SYNC_EVERY`] of a write (one `fdatasync` for
//! all the records of that time, so a campaign of thousands of meters does not wait on the
//! disk per record), so a power cut loses at most that, and a last line it tears is ignored
//! on reading. The blocks themselves are never
//! journalled: the meter's bit-string says which it stored, and a resumed transfer sends only
//! the others.

use crate::transfer::{Outcome, Phase};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The schema of the journal's first line.
pub const SCHEMA: &str = "meterfleet-campaign-journal/1";

/// What the campaign is: enough to run it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`SCHEMA`].
    pub schema: String,
    /// The command's arguments, as the command writes them.
    pub command: serde_json::Value,
    /// The SHA-256 of the image, hex.
    pub image_sha256: String,
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum Record {
    /// A meter reached a phase.
    Phase {
        /// The meter.
        meter: String,
        /// The phase.
        phase: Phase,
        /// When (Unix seconds).
        at: f64,
    },
    /// A meter's attempt in a pass ended.
    Outcome {
        /// The meter.
        meter: String,
        /// The pass.
        pass: u32,
        /// How it ended.
        outcome: Outcome,
    },
}

/// The SHA-256 of `image`, hex, as a journal's header names the image.
pub fn image_digest(image: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(image))
}

/// The phases the journal keeps: those a resumed transfer starts from.
pub const JOURNALLED: [Phase; 4] = [
    Phase::Initiate,
    Phase::Verify,
    Phase::Activate,
    Phase::Confirm,
];

/// Where each meter stood when the journal was last written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standing {
    /// The furthest phase each meter reached.
    pub reached: HashMap<String, Phase>,
    /// The last outcome of each meter that ended an attempt, and its pass.
    pub ended: HashMap<String, (u32, Outcome)>,
    /// Records read.
    pub records: usize,
}

/// A journal open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Arc<Mutex<std::fs::File>>,
    /// Set by a write, cleared by the sync that follows it.
    dirty: Arc<AtomicBool>,
    /// Ends the syncing thread (dropped with the journal).
    _stop: std::sync::mpsc::Sender<()>,
}

/// How long a record written may wait to be synced to disk.
pub const SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl Journal {
    /// Starts a new journal at `path` with `header`; an existing file is an error (resume it,
    /// or remove it).
    pub fn create(path: &Path, header: &Header) -> Result<Journal, String> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        // Only its owner reads it: the command it keeps may carry a password.
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                format!(
                    "{}: {e} (a journal there belongs to another campaign: resume it with --resume, or remove it)",
                    path.display()
                )
            })?;
        let journal = Journal::over(path, file);
        journal.append(&serde_json::to_string(header).expect("headers serialize"))?;
        journal.sync()?;
        Ok(journal)
    }

    /// Opens the journal at `path` to go on with it: its header and where every meter stood.
    pub fn resume(path: &Path) -> Result<(Journal, Header, Standing), String> {
        let at = |line: usize, e: &dyn std::fmt::Display| format!("{}:{line}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut lines = text.split_inclusive('\n').enumerate();
        let header: Header = match lines.next() {
            Some((_, line)) if line.ends_with('\n') => {
                serde_json::from_str(line).map_err(|e| at(1, &e))?
            }
            _ => return Err(at(1, &"no header: not a campaign journal")),
        };
        if header.schema != SCHEMA {
            return Err(at(
                1,
                &format!("schema {:?}, expected {SCHEMA:?}", header.schema),
            ));
        }
        let mut standing = Standing::default();
        for (i, line) in lines {
            if !line.ends_with('\n') {
                // Torn by a power cut while being written: never acknowledged.
                break;
            }
            let record: Record = serde_json::from_str(line).map_err(|e| at(i + 1, &e))?;
            standing.take(record);
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // A torn last line is cut off, so the next record starts on a line of its own.
        let whole: usize = text
            .split_inclusive('\n')
            .take_while(|l| l.ends_with('\n'))
            .map(str::len)
            .sum();
        file.set_len(whole as u64)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((Journal::over(path, file), header, standing))
    }

    /// Appends `record`, synced to disk; a journal that cannot be written is logged (the
    /// campaign goes on, and a resume starts from what was written).
    pub fn record(&self, record: &Record) {
        let line = serde_json::to_string(record).expect("records serialize");
        if let Err(e) = self.append(&line) {
            tracing::error!("{e}");
        }
    }

    /// Records that `meter` reached `phase`, when the journal keeps that phase.
    pub fn reached(&self, meter: &str, phase: Phase) {
        if JOURNALLED.contains(&phase) {
            self.record(&Record::Phase {
                meter: meter.to_string(),
                phase,
                at: crate::transfer::unix_seconds(std::time::SystemTime::now()),
            });
        }
    }

    /// A journal appending to `file`, with the thread that syncs it.
    fn over(path: &Path, file: std::fs::File) -> Journal {
        let file = Arc::new(Mutex::new(file));
        let dirty = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (syncing, flag) = (file.clone(), dirty.clone());
        let shown = path.display().to_string();
        std::thread::spawn(move || loop {
            let last = !matches!(
                stopped.recv_timeout(SYNC_EVERY),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            );
            if flag.swap(false, Ordering::AcqRel) {
                if let Err(e) = syncing.lock().expect("journal lock").sync_data() {
                    tracing::error!("journal {shown}: {e}");
                }
            }
            if last {
                break;
            }
        });
        Journal {
            path: path.to_path_buf(),
            file,
            dirty,
            _stop: stop,
        }
    }

    fn append(&self, line: &str) -> Result<(), String> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let written = self.file.lock().expect("journal lock").write_all(&bytes);
        self.dirty.store(true, Ordering::Release);
        written.map_err(|e| format!("journal {}: {e}", self.path.display()))
    }

    /// Syncs what was written to disk now.
    pub fn sync(&self) -> Result<(), String> {
        self.dirty.store(false, Ordering::Release);
        let file = self.file.lock().expect("journal lock");
        file.sync_data()
            .map_err(|e| format!("journal {}: {e}", self.path.display()))
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Journal {
    /// What is still unsynced goes to disk before the journal is closed.
    fn drop(&mut self) {
        if self.dirty.load(Ordering::Acquire) {
            if let Err(e) = self.sync() {
                tracing::error!("{e}");
            }
        }
    }
}

impl Standing {
    fn take(&mut self, record: Record) {
        self.records += 1;
        match record {
            Record::Phase { meter, phase, .. } => {
                let furthest = self.reached.entry(meter).or_insert(phase);
                *furthest = (*furthest).max(phase);
            }
            Record::Outcome {
                meter,
                pass,
                outcome,
            } => {
                self.ended.insert(meter, (pass, outcome));
            }
        }
    }

    /// Whether `meter` is done: upgraded, or verified and left (or scheduled) for activation.
    pub fn done(&self, meter: &str) -> bool {
        self.ended
            .get(meter)
            .is_some_and(|(_, o)| !matches!(o, Outcome::Failed { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::{Evidence, Step};

    fn header() -> Header {
        Header {
            schema: SCHEMA.into(),
            command: serde_json::json!({"target": "fleet.toml"}),
            image_sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn a_journal_reads_back_where_every_meter_stood() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let journal = Journal::create(&path, &header()).unwrap();
        journal.reached("m-1", Phase::Initiate);
        assert!(
            journal.dirty.load(Ordering::Acquire),
            "written, not yet synced"
        );
        std::thread::sleep(SYNC_EVERY * 3);
        assert!(
            !journal.dirty.load(Ordering::Acquire),
            "synced within SYNC_EVERY"
        );
        journal.reached("m-1", Phase::FirstBlock);
        journal.reached("m-2", Phase::Initiate);
        journal.reached("m-2", Phase::Verify);
        journal.record(&Record::Outcome {
            meter: "m-2".into(),
            pass: 1,
            outcome: Outcome::Upgraded {
                evidence: Evidence::TransferStatusSix,
            },
        });
        journal.record(&Record::Outcome {
            meter: "m-1".into(),
            pass: 1,
            outcome: Outcome::Failed {
                step: Step::Connect,
                reason: "gone".into(),
            },
        });
        drop(journal);
        assert!(
            Journal::create(&path, &header()).is_err(),
            "never overwritten"
        );
        let (_, read, standing) = Journal::resume(&path).unwrap();
        assert_eq!(read, header());
        assert_eq!(standing.reached["m-1"], Phase::Initiate, "blocks not kept");
        assert_eq!(standing.reached["m-2"], Phase::Verify);
        assert!(standing.done("m-2") && !standing.done("m-1"));
        assert_eq!(standing.records, 5);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_off_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        Journal::create(&path, &header())
            .unwrap()
            .reached("m-1", Phase::Initiate);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"record\":\"phase\",\"meter\":\"m-1\",\"pha");
        std::fs::write(&path, &text).unwrap();
        let (journal, _, standing) = Journal::resume(&path).unwrap();
        assert_eq!(standing.records, 1);
        journal.reached("m-1", Phase::Verify);
        drop(journal);
        let (_, _, standing) = Journal::resume(&path).unwrap();
        assert_eq!(
            standing.reached["m-1"],
            Phase::Verify,
            "appended after the cut"
        );

        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"record\":\"nonsense\"}\n");
        std::fs::write(&path, &text).unwrap();
        let e = Journal::resume(&path).unwrap_err();
        assert!(e.contains("j.jsonl:4:"), "{e}");
    }
}
