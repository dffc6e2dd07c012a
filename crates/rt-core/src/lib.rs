//! rt-core (work in progress).
