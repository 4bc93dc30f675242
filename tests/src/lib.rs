//! End-to-end tests across the leukoscope crates live in `tests/`.
