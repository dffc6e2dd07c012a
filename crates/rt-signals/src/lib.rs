//! rt-signals (work in progress).
