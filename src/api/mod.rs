//! The postpress API as a typed client: requests, the error envelope and its classification,
//! retries with backoff, rate limits, and the cursor state machine.
//!
//! It must not know about Arrow, Parquet or storage: a page body is handed to a caller-supplied
//! parser and whatever it returns is passed back.

pub mod client;
pub mod error;
pub mod limit;
pub mod paginate;
pub mod retry;
pub mod secret;
