//! Persistence of one meter in a directory: `state.json` (everything but the image bytes) and
//! `image.bin` (the image received so far). Both are replaced atomically (write, sync, rename),
//! the image first, so a crash leaves either the old state or the new one, and a block is only
//! acknowledged after it is stored.

use crate::state::MeterState;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A meter's state directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)
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
    /// Opens (creating if needed) a state directory.
    pub fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(DirStore {
            dir: dir.to_path_buf(),
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
        state.transfer.data = crate::blocks::ImageData::Owned(match std::fs::read(&image_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", image_path.display())),
        });
        Ok(Some(state))
    }

    /// Stores the state.
    pub fn save(&self, state: &MeterState) -> std::io::Result<()> {
        replace(&self.dir.join("image.bin"), &state.transfer.data.to_vec())?;
        let json = serde_json::to_vec_pretty(state).expect("meter state serializes");
        replace(&self.dir.join("state.json"), &json)
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
    fn a_corrupt_state_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), "{\n  \"transfer\": 7\n}").unwrap();
        let err = DirStore::open(dir.path()).unwrap().load().unwrap_err();
        assert!(err.contains("state.json: line 2"), "{err}");
    }
}
