//! postpress-etl: exports postpress social-graph lists to hive-partitioned Parquet.
pub mod sim;
