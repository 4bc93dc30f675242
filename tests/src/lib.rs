//! End-to-end tests across the leukoscope crates; they live in `tests/`.
