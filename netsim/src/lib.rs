//! Deterministic in-memory network harness with virtual time.
