//! Sinks: sled tables materialized from streams, and the queries over them.
//!
//! Owns the telemetry, issue and file-index tables and their retention jobs. Each sink stores the
//! last applied stream sequence in the same sled batch as the rows it changes, so redelivery and
//! replay never count twice and a rebuild from history gives the same tables.
//!
//! Sinks never publish derived data and never talk to a browser: the gateway reads their
//! tables through the query functions here.
//!
//! The tables arrive with the telemetry and sync issues.
