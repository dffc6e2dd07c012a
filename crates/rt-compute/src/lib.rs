//! rt-compute (work in progress).
