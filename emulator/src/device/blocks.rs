//! Where a meter keeps the image it receives: its own buffer (a single meter, persisted), or a
//! process-wide store of canonical blocks shared by a fleet, plus only the blocks in which this
//! meter's copy differs. 10,000 meters receiving the same 1 MiB image then hold it once, and
//! check it once: the format, CRC and signature checks of the canonical image are remembered
//! beside its blocks for every meter whose copy is the canonical one.

use dlms::image::{self, ImageError, ImageInfo};
use p256::ecdsa::VerifyingKey;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The canonical blocks of one image, as the first meter to receive each block got it.
#[derive(Debug)]
pub struct Canonical {
    size: usize,
    block_size: usize,
    blocks: Vec<OnceLock<Box<[u8]>>>,
    /// What checking the whole canonical image found, with each key it was checked against
    /// (`None`: its format and CRC only).
    checks: Mutex<Vec<(Option<VerifyingKey>, ImageCheck)>>,
}

/// What checking a complete image found: its header, or the check it failed.
pub type ImageCheck = Result<CheckedImage, ImageError>;

/// The header of an image whose checks passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedImage {
    /// Target firmware part.
    pub part: u8,
    /// Version identifier.
    pub identifier: Vec<u8>,
    /// What must run before it: (firmware part, the least version identifier).
    pub prerequisites: Vec<(u8, Vec<u8>)>,
    /// The signature trailer.
    pub signature: Vec<u8>,
}

impl From<ImageInfo<'_>> for CheckedImage {
    fn from(info: ImageInfo<'_>) -> Self {
        CheckedImage {
            part: info.part,
            identifier: info.identifier.to_vec(),
            prerequisites: info
                .prerequisites
                .iter()
                .map(|(part, least)| (*part, least.to_vec()))
                .collect(),
            signature: info.signature.to_vec(),
        }
    }
}

/// Checks `bytes` as an image: its format and CRC, and its signature with `key` if given.
fn check_image(bytes: &[u8], key: Option<&VerifyingKey>) -> ImageCheck {
    match key {
        Some(key) => image::verify(bytes, key),
        None => image::parse(bytes),
    }
    .map(CheckedImage::from)
}

/// What identifies an image in the store: identifier, size and block size.
type ImageKey = (Vec<u8>, u32, u32);

/// The process-wide store: one [`Canonical`] per image, freed when no meter holds it any more.
#[derive(Debug, Default)]
pub struct BlockStore {
    images: Mutex<HashMap<ImageKey, Weak<Canonical>>>,
}

impl BlockStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(BlockStore::default())
    }

    /// The canonical blocks of an image, created on first use.
    pub fn image(&self, identifier: &[u8], size: u32, block_size: u32) -> Arc<Canonical> {
        let mut images = self.images.lock().expect("block store lock");
        let key = (identifier.to_vec(), size, block_size);
        if let Some(existing) = images.get(&key).and_then(Weak::upgrade) {
            return existing;
        }
        images.retain(|_, w| w.strong_count() > 0);
        let count = size.div_ceil(block_size) as usize;
        let canonical = Arc::new(Canonical {
            size: size as usize,
            block_size: block_size as usize,
            blocks: (0..count).map(|_| OnceLock::new()).collect(),
            checks: Mutex::new(Vec::new()),
        });
        images.insert(key, Arc::downgrade(&canonical));
        canonical
    }

    /// The images the store holds now.
    pub fn image_count(&self) -> usize {
        self.images
            .lock()
            .expect("block store lock")
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

/// The bytes of the image a meter is receiving.
#[derive(Debug, Clone)]
pub enum ImageData {
    /// The meter's own buffer of the whole image.
    Owned(Vec<u8>),
    /// Canonical blocks shared with other meters, and this meter's blocks that differ.
    Shared {
        /// The shared blocks.
        canonical: Arc<Canonical>,
        /// This meter's blocks that differ from the canonical ones.
        own: BTreeMap<u32, Box<[u8]>>,
    },
}

/// Two buffers are equal when they hold the same image, however it is stored.
impl PartialEq for ImageData {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.to_vec() == other.to_vec()
    }
}

impl Eq for ImageData {}

impl Default for ImageData {
    fn default() -> Self {
        ImageData::Owned(Vec::new())
    }
}

impl ImageData {
    /// A buffer for an image of `size` bytes: shared through `store` if given.
    pub fn new(store: Option<&BlockStore>, identifier: &[u8], size: u32, block_size: u32) -> Self {
        match store {
            Some(s) => ImageData::Shared {
                canonical: s.image(identifier, size, block_size),
                own: BTreeMap::new(),
            },
            None => ImageData::Owned(vec![0; size as usize]),
        }
    }

    /// The image size.
    pub fn len(&self) -> usize {
        match self {
            ImageData::Owned(v) => v.len(),
            ImageData::Shared { canonical, .. } => canonical.size,
        }
    }

    /// True for an empty image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores block `n` (exactly its bytes: the last block may be short).
    pub fn write_block(&mut self, n: u32, block_size: usize, bytes: &[u8]) {
        match self {
            ImageData::Owned(v) => {
                let start = n as usize * block_size;
                v[start..start + bytes.len()].copy_from_slice(bytes);
            }
            ImageData::Shared { canonical, own } => {
                let Some(slot) = canonical.blocks.get(n as usize) else {
                    return;
                };
                let stored = slot.get_or_init(|| bytes.into());
                if **stored == *bytes {
                    own.remove(&n);
                } else {
                    own.insert(n, bytes.into());
                }
            }
        }
    }

    /// The whole image (blocks never received read as zeros).
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            ImageData::Owned(v) => v.clone(),
            ImageData::Shared { canonical, own } => {
                let mut out = vec![0; canonical.size];
                for (n, slot) in canonical.blocks.iter().enumerate() {
                    let block = own
                        .get(&(n as u32))
                        .map(|b| &**b)
                        .or_else(|| slot.get().map(|b| &**b));
                    if let Some(b) = block {
                        let start = n * canonical.block_size;
                        out[start..start + b.len()].copy_from_slice(b);
                    }
                }
                out
            }
        }
    }

    /// Checks the whole image (blocks never received read as the canonical ones, or zeros):
    /// its format and CRC, and its signature with `key` if given. A copy that is the canonical
    /// image, every block received and none differing, is checked once for all the meters
    /// holding it.
    pub fn check(&self, key: Option<&VerifyingKey>) -> ImageCheck {
        match self {
            ImageData::Shared { canonical, own }
                if own.is_empty() && canonical.blocks.iter().all(|b| b.get().is_some()) =>
            {
                let mut checks = canonical.checks.lock().expect("image checks lock");
                if let Some((_, found)) = checks.iter().find(|(k, _)| k.as_ref() == key) {
                    return found.clone();
                }
                let found = check_image(&self.to_vec(), key);
                checks.push((key.copied(), found.clone()));
                found
            }
            _ => check_image(&self.to_vec(), key),
        }
    }

    /// Bytes this meter holds on its own (the shared blocks not counted).
    pub fn own_bytes(&self) -> usize {
        match self {
            ImageData::Owned(v) => v.len(),
            ImageData::Shared { own, .. } => own.values().map(|b| b.len()).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meters_sharing_an_image_hold_only_their_differences() {
        let store = BlockStore::new();
        let mut a = ImageData::new(Some(&store), b"img", 10, 4);
        let mut b = ImageData::new(Some(&store), b"img", 10, 4);
        a.write_block(0, 4, &[1, 2, 3, 4]);
        a.write_block(2, 4, &[9, 9]);
        b.write_block(0, 4, &[1, 2, 3, 4]);
        b.write_block(2, 4, &[7, 7]);
        b.write_block(1, 4, &[5, 5, 5, 5]);
        assert_eq!(a.own_bytes(), 0);
        assert_eq!(
            b.own_bytes(),
            2,
            "only b's last block differs from the canonical one"
        );
        assert_eq!(a.to_vec(), [1, 2, 3, 4, 5, 5, 5, 5, 9, 9]);
        assert_eq!(b.to_vec(), [1, 2, 3, 4, 5, 5, 5, 5, 7, 7]);
        assert_eq!(store.image_count(), 1);
        drop((a, b));
        assert_eq!(store.image_count(), 0, "freed with its last meter");
    }

    #[test]
    fn the_canonical_image_is_checked_once_for_every_meter_holding_it() {
        let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let bytes = image::build(&key, 1, b"V2", &[0x5A; 100]).unwrap();
        let (size, block) = (bytes.len() as u32, 32);
        let store = BlockStore::new();
        let receive = |bytes: &[u8]| {
            let mut data = ImageData::new(Some(&store), b"V2", size, block);
            for (n, chunk) in bytes.chunks(block as usize).enumerate() {
                data.write_block(n as u32, block as usize, chunk);
            }
            data
        };
        let (a, b) = (receive(&bytes), receive(&bytes));
        let mut damaged = bytes.clone();
        damaged[20] ^= 1;
        let c = receive(&damaged);
        let trusted = Some(key.verifying_key());
        let good = a.check(trusted).unwrap();
        assert_eq!((good.part, &good.identifier[..]), (1, &b"V2"[..]));
        assert_eq!(b.check(trusted), Ok(good));
        let ImageData::Shared { canonical, .. } = &a else {
            panic!("shared")
        };
        assert_eq!(canonical.checks.lock().unwrap().len(), 1, "checked once");
        assert!(
            c.check(trusted).is_err(),
            "its own copy, checked on its own"
        );
        assert!(a.check(None).is_ok(), "without a key: the format and CRC");
        let other = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
        assert_eq!(
            a.check(Some(other.verifying_key())),
            Err(ImageError::BadSignature)
        );
        assert_eq!(canonical.checks.lock().unwrap().len(), 3, "one per key");
    }

    #[test]
    fn an_owned_buffer_behaves_the_same() {
        let mut a = ImageData::new(None, b"img", 10, 4);
        a.write_block(2, 4, &[9, 9]);
        assert_eq!(a.to_vec(), [0, 0, 0, 0, 0, 0, 0, 0, 9, 9]);
        assert_eq!(a.own_bytes(), 10);
    }
}
