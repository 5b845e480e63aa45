//! The one integration test binary (one link step for arrow + parquet + reqwest).

mod util;

mod breakers;
mod cli;
#[cfg(feature = "crash-points")]
mod crash_points;
mod durability;
mod lease_race;
mod lifecycle_erase;
mod lifecycle_lease;
mod lifecycle_prune;
mod lifecycle_s3;
mod lifecycle_suppress;
mod lifecycle_util;
mod ops;
mod regression;
mod report_files;
mod resume;
mod run;
mod s3;
mod s3_faults;
mod secrets;
mod sink;
mod tables;
mod tables_check;
mod tables_input;
mod tables_layout;
mod tables_s3;
mod views;
