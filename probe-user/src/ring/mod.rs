//! Record files, ring directories and streams.
