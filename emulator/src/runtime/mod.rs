//! The fleet runtime at the edge, on tokio: listeners and connections for one meter or a
//! gateway (`net`), scenarios of populations with seeded faults (`scenario`), whole fleets
//! (`fleet`) and their control endpoint (`control`). It depends on the meter (`device`),
//! never the other way round.

pub mod control;
pub mod fleet;
pub mod net;
pub mod scenario;
