//! rt-config (work in progress).
