//! The memory allocator of every service binary (order-service,
//! inventory-service, the launcher, the bench that re-executes itself as
//! them), chosen here once: each `main.rs` declares
//! `#[global_allocator] static ALLOCATOR: support::allocator::Allocator = support::allocator::Allocator;`.
//!
//! jemalloc rather than glibc's malloc: after 1,000 live clients that
//! stopped reading had come and gone, glibc kept ~50 MB of what they had
//! used 30 s later (its per-thread arenas, fragmented by many small
//! long-lived buffers, are trimmed only from the top), and mimalloc ~45 MB
//! (with an idle RSS twice glibc's); jemalloc gave all but 3–8 MB back
//! (its dirty pages decay to the system within 10 s) at the same idle RSS.
//! The figures: docs/reliability.md, memory per live client.
//! Calling `malloc_trim` instead would need `unsafe` code, which the
//! workspace forbids.
//!
//! It also serves C code's `malloc` and `free` (the
//! `unprefixed_malloc_on_supported_platforms` feature): SQLite, compiled
//! in, allocates and frees a few hundred times per order, and glibc's
//! allocator took about 60,000 instructions per order for it against
//! jemalloc's 20,000 or so (bench/README.md, "Where one order's CPU goes").

pub use tikv_jemallocator::Jemalloc as Allocator;
