//! Persistence of one meter in a directory:
//!
//! - `blocks.journal`: each accepted block, appended and synced before the meter acknowledges
//!   it (a record: transfer generation, block number, length, CRC-32, the bytes);
//! - `state.json`: everything but the image bytes, replaced atomically (write, sync, rename)
//!   whenever the state changes otherwise;
//! - `image.bin`: the image received so far, rewritten only to fold the journal in (when the
//!   journal grows large or the image is complete), after `state.json` and before the journal
//!   is emptied.
//!
//! Whatever the crash point, what `state.json` marks received is in `image.bin` or in the
//! journal under the current transfer's generation, so no acknowledged block is lost; records
//! of another generation, or cut short, are ignored.

use crate::journal::BlockJournal;
use crate::state::MeterState;
use crc::{Crc, CRC_32_ISO_HDLC};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The journal is folded into `image.bin` once it holds this many bytes.
const FOLD_AT: u64 = 8 * 1024 * 1024;
/// A record's header: generation (8), block number (4), length (4), CRC-32 (4), little-endian.
const HEADER: usize = 20;
const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// A meter's state directory, locked for this process while it is open.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
    /// The lock file, held (an exclusive advisory lock) as long as a store is alive: two
    /// meters on one directory would overwrite each other's state.
    _lock: std::sync::Arc<std::fs::File>,
}

fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)?;
    // The rename itself is durable only once the directory is.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The CRC of a record: its header fields and bytes.
fn record_crc(generation: u64, number: u32, bytes: &[u8]) -> u32 {
    let mut digest = CRC32.digest();
    digest.update(&generation.to_le_bytes());
    digest.update(&number.to_le_bytes());
    digest.update(&(bytes.len() as u32).to_le_bytes());
    digest.update(bytes);
    digest.finalize()
}

/// The journal file of a state directory, appended to by the meter.
#[derive(Debug)]
pub struct DirJournal {
    file: std::fs::File,
}

impl BlockJournal for DirJournal {
    fn append(&mut self, generation: u64, number: u32, bytes: &[u8]) -> Result<(), String> {
        let mut record = Vec::with_capacity(HEADER + bytes.len());
        record.extend_from_slice(&generation.to_le_bytes());
        record.extend_from_slice(&number.to_le_bytes());
        record.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        record.extend_from_slice(&record_crc(generation, number, bytes).to_le_bytes());
        record.extend_from_slice(bytes);
        self.file
            .write_all(&record)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| e.to_string())
    }
}

/// The records of `journal` for `generation`, in order, up to the first that is cut short or
/// corrupt (a crash in the middle of an append).
fn records(journal: &[u8], generation: u64) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    let mut rest = journal;
    while rest.len() >= HEADER {
        let field = |at: usize, n: usize| &rest[at..at + n];
        let gen = u64::from_le_bytes(field(0, 8).try_into().expect("8 bytes"));
        let number = u32::from_le_bytes(field(8, 4).try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(field(12, 4).try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(field(16, 4).try_into().expect("4 bytes"));
        let Some(bytes) = rest.get(HEADER..HEADER + len) else {
            break;
        };
        if record_crc(gen, number, bytes) != crc {
            break;
        }
        if gen == generation {
            out.push((number, bytes));
        }
        rest = &rest[HEADER + len..];
    }
    out
}

/// A state file is input like any other: what the meter would act on must be within its
/// limits and consistent, or it is refused with the field named.
fn check(state: &MeterState) -> Result<(), String> {
    let t = &state.transfer;
    if t.size > crate::profile::MAX_IMAGE_SIZE {
        return Err(format!(
            "field transfer.size: {} bytes is above the {} an emulated meter holds",
            t.size,
            crate::profile::MAX_IMAGE_SIZE
        ));
    }
    if t.received.len() != t.block_count() as usize {
        return Err(format!(
            "field transfer.received: {} bits for {} blocks of {} bytes",
            t.received.len(),
            t.block_count(),
            t.block_size
        ));
    }
    Ok(())
}

impl DirStore {
    /// Opens (creating if needed) a state directory, and locks it: a directory another
    /// process holds is an error.
    pub fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => format!(
                "{}: another meterfleet process keeps its meter here",
                dir.display()
            ),
            std::fs::TryLockError::Error(e) => format!("{}: {e}", path.display()),
        })?;
        Ok(DirStore {
            dir: dir.to_path_buf(),
            _lock: std::sync::Arc::new(lock),
        })
    }

    /// The stored state, or `None` for a new directory.
    pub fn load(&self) -> Result<Option<MeterState>, String> {
        let state_path = self.dir.join("state.json");
        let text = match std::fs::read_to_string(&state_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", state_path.display())),
        };
        let mut state: MeterState = serde_json::from_str(&text)
            .map_err(|e| format!("{}: line {}: {e}", state_path.display(), e.line()))?;
        check(&state).map_err(|e| format!("{}: {e}", state_path.display()))?;
        let image_path = self.dir.join("image.bin");
        let mut image = match std::fs::read(&image_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", image_path.display())),
        };
        let t = &mut state.transfer;
        if image.len() != t.size as usize {
            // image.bin holds another transfer: only the journal speaks for this one.
            image = vec![0; t.size as usize];
            t.received.fill(false);
        }
        let journal = self.read_journal()?;
        let block_size = t.block_size as usize;
        for (number, bytes) in records(&journal, t.generation) {
            let start = number as usize * block_size;
            let fits = number < t.block_count() && bytes.len() <= block_size;
            if let Some(slot) = image.get_mut(start..start + bytes.len()).filter(|_| fits) {
                slot.copy_from_slice(bytes);
                t.received.set(number as usize, true);
            }
        }
        t.data = crate::blocks::ImageData::Owned(image);
        Ok(Some(state))
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.join("blocks.journal")
    }

    fn read_journal(&self) -> Result<Vec<u8>, String> {
        let path = self.journal_path();
        let mut bytes = Vec::new();
        match std::fs::File::open(&path) {
            Ok(mut f) => f
                .read_to_end(&mut bytes)
                .map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(bytes)
    }

    /// The journal the meter appends its accepted blocks to.
    pub fn journal(&self) -> Result<DirJournal, String> {
        let path = self.journal_path();
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map(|file| DirJournal { file })
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Stores the state; folds the journal into `image.bin` when it has grown large or the
    /// image is complete.
    pub fn save(&self, state: &MeterState) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(state).expect("meter state serializes");
        replace(&self.dir.join("state.json"), &json)?;
        let journal = std::fs::metadata(self.journal_path()).map_or(0, |m| m.len());
        let image_path = self.dir.join("image.bin");
        let image_len = std::fs::metadata(&image_path).map_or(0, |m| m.len());
        let t = &state.transfer;
        if journal >= FOLD_AT || (journal > 0 && t.complete()) || image_len != u64::from(t.size) {
            replace(&image_path, &t.data.to_vec())?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(self.journal_path())
                .and_then(|f| f.set_len(0).and_then(|()| f.sync_all()))
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), None);
        let mut state = MeterState::default();
        state.transfer.size = 3;
        state.transfer.data = crate::blocks::ImageData::Owned(vec![1, 2, 3]);
        state.invocation_counter = 42;
        store.save(&state).unwrap();
        assert_eq!(store.load().unwrap(), Some(state));
    }

    /// A state at initiate: 1,000 bytes in blocks of 100, generation `generation`.
    fn initiated(generation: u64) -> MeterState {
        let mut state = MeterState::default();
        let t = &mut state.transfer;
        t.status = dlms::cosem::image_transfer::ImageTransferStatus::Initiated;
        t.size = 1000;
        t.block_size = 100;
        t.received = bitvec::bitvec![u8, bitvec::order::Msb0; 0; 10];
        t.data = crate::blocks::ImageData::Owned(vec![0; 1000]);
        t.generation = generation;
        state
    }

    #[test]
    fn journalled_blocks_come_back_after_a_crash_without_a_state_save() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        store.save(&initiated(3)).unwrap();
        let mut journal = store.journal().unwrap();
        journal.append(3, 0, &[0xA0; 100]).unwrap();
        journal.append(3, 9, &[0xA9; 100]).unwrap();
        // An earlier transfer's record, which the load ignores.
        journal.append(2, 5, &[0xEE; 100]).unwrap();
        // Killed here: state.json still says no block arrived.
        let state = store.load().unwrap().unwrap();
        let t = &state.transfer;
        let bits: Vec<usize> = t.received.iter_ones().collect();
        assert_eq!(bits, vec![0, 9]);
        let data = t.data.to_vec();
        assert_eq!((data[0], data[950], data[500]), (0xA0, 0xA9, 0));
    }

    #[test]
    fn a_record_cut_short_by_a_crash_is_ignored_with_everything_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        store.save(&initiated(1)).unwrap();
        let mut journal = store.journal().unwrap();
        journal.append(1, 1, &[1; 100]).unwrap();
        journal.append(1, 2, &[2; 100]).unwrap();
        let path = dir.path().join("blocks.journal");
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 30).unwrap();
        let state = store.load().unwrap().unwrap();
        assert_eq!(
            state.transfer.received.iter_ones().collect::<Vec<_>>(),
            vec![1]
        );
    }

    #[test]
    fn a_complete_image_is_folded_into_image_bin_and_the_journal_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let mut state = initiated(1);
        store.save(&state).unwrap();
        let mut journal = store.journal().unwrap();
        for n in 0..10u32 {
            journal.append(1, n, &[n as u8; 100]).unwrap();
            state.transfer.data.write_block(n, 100, &[n as u8; 100]);
            state.transfer.received.set(n as usize, true);
        }
        store.save(&state).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("blocks.journal"))
                .unwrap()
                .len(),
            0
        );
        assert_eq!(std::fs::read(dir.path().join("image.bin")).unwrap()[950], 9);
        assert_eq!(store.load().unwrap().unwrap(), state);
    }

    #[test]
    fn a_state_file_beyond_the_limits_is_refused_with_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let mut state = MeterState::default();
        state.transfer.size = u32::MAX;
        std::fs::write(
            dir.path().join("state.json"),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
        let err = store.load().unwrap_err();
        assert!(err.contains("field transfer.size"), "{err}");
        state.transfer.size = 1000;
        state.transfer.block_size = 100;
        std::fs::write(
            dir.path().join("state.json"),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
        let err = store.load().unwrap_err();
        assert!(
            err.contains("field transfer.received: 0 bits for 10 blocks"),
            "{err}"
        );
    }

    #[test]
    fn a_directory_is_one_meter_s_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirStore::open(dir.path()).unwrap();
        let e = DirStore::open(dir.path()).unwrap_err();
        assert!(
            e.contains("another meterfleet process keeps its meter here"),
            "{e}"
        );
        drop(first);
        DirStore::open(dir.path()).unwrap();
    }

    #[test]
    fn a_corrupt_state_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), "{\n  \"transfer\": 7\n}").unwrap();
        let err = DirStore::open(dir.path()).unwrap().load().unwrap_err();
        assert!(err.contains("state.json: line 2"), "{err}");
    }
}
