//! The binary record encoding (see FORMAT.md).
