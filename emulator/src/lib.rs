//! The meter side of meterfleet: COSEM objects, the meter, persistence, faults and the fleet runtime (being built).
