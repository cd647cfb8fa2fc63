//! Who may read, write and invoke what: one rule, used both to enforce access and to report it
//! in the Association LN object list.

use crate::cosem::{Kind, Object};
use crate::profile::Rights;
use dlms::cosem::image_transfer::attribute::IMAGE_TRANSFER_ENABLED;
use dlms::cosem::schedule::EXECUTION_TIME;

/// Attribute access modes as the object list reports them.
pub mod mode {
    /// no-access
    pub const NONE: u8 = 0;
    /// read-only
    pub const READ: u8 = 1;
    /// write-only
    pub const WRITE: u8 = 2;
    /// read-and-write
    pub const READ_WRITE: u8 = 3;
}

fn upgrade_process(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::ImageTransfer | Kind::ActivationScheduler | Kind::ActivationScript
    )
}

/// Whether attribute `attr` of `object` can be written at all (whoever asks).
fn writable(kind: Kind, attr: i8) -> bool {
    matches!(
        (kind, attr),
        (Kind::Clock, 2)
            | (Kind::ImageTransfer, IMAGE_TRANSFER_ENABLED)
            | (Kind::ActivationScheduler, EXECUTION_TIME)
    )
}

/// The access mode of an attribute for a client with `rights`.
pub fn attribute_mode(rights: Rights, object: &Object, attr: i8) -> u8 {
    let may_write = writable(object.kind, attr)
        && match rights {
            Rights::ReadOnly => false,
            Rights::ReadAndUpgrade => upgrade_process(object.kind),
            Rights::Full => true,
        };
    if may_write {
        mode::READ_WRITE
    } else {
        mode::READ
    }
}

/// Whether a client with `rights` may invoke `method` of `object`.
pub fn method_allowed(rights: Rights, object: &Object, method: i8) -> bool {
    match object.kind {
        // reply_to_HLS_authentication is how a client proves itself: always allowed.
        Kind::AssociationLn => method == 1,
        kind if upgrade_process(kind) => rights != Rights::ReadOnly,
        _ => rights == Rights::Full,
    }
}
