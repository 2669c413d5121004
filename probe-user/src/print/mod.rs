//! Argus `ra`-style output.
