//! One process-wide allocator setting, made by `main` (library code leaves the process's
//! allocator alone): for finalize's large, short-lived buffers, at the start of the `finalize`
//! command and, through `RunOptions::before_tables`, before an unsharded run builds its tables;
//! and for `erase`, which rewrites whole files.
//! The fetch does without it: set from a run's start it cost 4 MiB of peak memory on one
//! account of 1,000,000 followers (60 MiB against 56).
//!
//! glibc raises its mmap threshold each time a large block is freed, up to 32 MiB; after that,
//! the row groups a big account reads and writes (4–20 MiB each), the key index and its
//! growth come from the heap arenas, which keep them after they are freed: measured on one
//! account of 1,000,000 followers, peak RSS moved between 200 and 265 MiB from run to run for
//! 144 MiB of live heap (heaptrack). A fixed threshold of 4 MiB serves those blocks by mmap and
//! returns them on free: 157 to 166 MiB over four runs, no slower (1 MiB gave 140 MiB but took
//! 20 to 35% longer).

/// Sets the allocator's mmap threshold (glibc; a no-op elsewhere), for the whole process.
pub fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Blocks of at least this size are mmapped and returned to the system when freed.
        const MMAP_THRESHOLD: i32 = 4 << 20;
        // SAFETY: mallopt only changes an allocator parameter; glibc documents it as callable
        // at any time from any thread. A failure (0) leaves the default, which is only slower
        // to give memory back.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        if ok == 0 {
            tracing::debug!("mallopt(M_MMAP_THRESHOLD) was refused.");
        }
    }
}
