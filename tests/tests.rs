//! The one integration test binary (one link step for arrow + parquet + reqwest).

mod util;

mod cli;
mod ops;
mod run;
mod s3;
mod sink;
mod tables;
mod tables_check;
mod tables_input;
mod tables_s3;
