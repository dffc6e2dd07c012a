//! rt-shutdown (work in progress).
