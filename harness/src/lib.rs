//! The client side of meterfleet: sessions, the image transfer driver, campaigns and conformance cases (being built).
