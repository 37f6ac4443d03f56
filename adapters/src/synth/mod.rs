//! Synthetic exports (filled in next).
