//! Micro benchmarks of the two CPU stages of a page: decode (page JSON bytes → `RecordBatch`,
//! metadata columns included) and Parquet encode (the job's writer properties, into memory).
//!
//! Inputs are the simulator's own items (`postpress_sim::expected_item`), so the bytes are
//! what the job reads in production-like runs. Run with `cargo bench --bench micro`; `make bench`
//! does and folds the figures into `bench/results.md`. Besides criterion's own reports, the
//! bytes and records of one iteration of every benchmark are written to
//! `$CRITERION_HOME/micro-sizes.json` (default `target/criterion`), so throughput can be
//! given both in MB/s and records/s.
//!
//! Outside `cargo bench` (`cargo test --all-targets` runs bench binaries without `--bench`)
//! nothing is measured: the test suite only checks that this builds.
#![allow(missing_docs)]

use arrow_array::RecordBatch;
use criterion::{BenchmarkId, Criterion, Throughput};
use parquet::arrow::ArrowWriter;
use postpress_etl::model::{Dataset, Provider};
use postpress_etl::schema::Registry;
use postpress_etl::schema::decode::PageDecoder;
use postpress_etl::schema::{CONSTANT_COLUMNS, POSITION_COLUMN};
use postpress_etl::sink::parquet::{ColumnHints, FileIdentity, WriterOptions, writer_properties};
use postpress_sim as sim;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

const SEED: u64 = 42;
/// Rows per encode iteration: one row group below the default `row_group_rows` (131072).
const ENCODE_ROWS: u64 = 100_000;

struct Case {
    name: &'static str,
    provider: Provider,
    dataset: Dataset,
}

const CASES: [Case; 3] = [
    Case {
        name: "linkedin_followers",
        provider: Provider::Linkedin,
        dataset: Dataset::Followers,
    },
    Case {
        name: "instagram_followers",
        provider: Provider::Instagram,
        dataset: Dataset::Followers,
    },
    Case {
        name: "following",
        provider: Provider::Linkedin,
        dataset: Dataset::Following,
    },
];

fn sim_provider(p: Provider) -> sim::Provider {
    match p {
        Provider::Linkedin => sim::Provider::Linkedin,
        Provider::Instagram => sim::Provider::Instagram,
    }
}

fn sim_dataset(d: Dataset) -> sim::Dataset {
    match d {
        Dataset::Followers => sim::Dataset::Followers,
        Dataset::Following => sim::Dataset::Following,
    }
}

fn account(c: &Case) -> String {
    format!("acc_{}_0000", c.provider.as_str())
}

/// A full page as the simulator serves it: `limit` items from `offset`, a cursor.
fn page_json(c: &Case, offset: u64, limit: u64) -> Vec<u8> {
    let (p, d) = (sim_provider(c.provider), sim_dataset(c.dataset));
    let acc = account(c);
    let items: Vec<serde_json::Value> = (offset..offset + limit)
        .map(|i| sim::expected_item(SEED, p, d, &acc, i))
        .collect();
    let page = serde_json::json!({
        "object": d.list_object(),
        "items": items,
        "cursor": "eyJvIjoxMDAsInAiOjF9.c2lnbmF0dXJl",
    });
    serde_json::to_vec(&page).expect("a JSON value serialises")
}

fn decoder(registry: &Registry, c: &Case) -> PageDecoder {
    PageDecoder::new(
        registry.variant(c.dataset, c.provider),
        &account(c),
        "20261126T000000Z-000000",
    )
}

fn identity(c: &Case) -> FileIdentity {
    FileIdentity {
        pairs: vec![
            ("dataset".into(), c.dataset.to_string()),
            ("provider".into(), c.provider.to_string()),
            ("account_id".into(), account(c)),
            ("snapshot_date".into(), "2026-11-26".into()),
            ("run_id".into(), "20261126T000000Z-000000".into()),
        ],
    }
}

fn encode(batches: &[RecordBatch], c: &Case, opts: &WriterOptions) -> Vec<u8> {
    let props = writer_properties(&batches[0].schema(), opts, &identity(c));
    let mut out = Vec::with_capacity(16 << 20);
    let mut w =
        ArrowWriter::try_new(&mut out, batches[0].schema(), Some(props)).expect("writer opens");
    for b in batches {
        w.write(b).expect("batch encodes");
    }
    w.close().expect("footer written");
    out
}

/// Bytes of JSON and records handled by one iteration, per benchmark id.
#[derive(Default)]
struct Sizes(BTreeMap<String, (u64, u64, u64)>);

impl Sizes {
    fn note(&mut self, id: String, json_bytes: u64, records: u64, output_bytes: u64) {
        self.0.insert(id, (json_bytes, records, output_bytes));
    }

    fn write(&self) {
        let dir = std::env::var_os("CRITERION_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/criterion"));
        let doc: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(k, (b, r, o))| {
                (
                    k.clone(),
                    serde_json::json!({"json_bytes": b, "records": r, "output_bytes": o}),
                )
            })
            .collect();
        let path = dir.join("micro-sizes.json");
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::write(
                &path,
                serde_json::to_vec_pretty(&doc).expect("a JSON map serialises"),
            )
        });
        if let Err(e) = written {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
}

fn bench_decode(cr: &mut Criterion, registry: &Registry, sizes: &mut Sizes) {
    let mut g = cr.benchmark_group("decode");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for c in &CASES {
        let limit = u64::from(c.provider.max_page_size(c.dataset));
        let body = page_json(c, 0, limit);
        let dec = decoder(registry, c);
        let check = dec.decode(&body, 0, 0, 0).expect("the page decodes");
        assert_eq!(check.batch.num_rows() as u64, limit);
        sizes.note(format!("decode/{}", c.name), body.len() as u64, limit, 0);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(c.name), &body, |b, body| {
            b.iter(|| {
                let page = dec
                    .decode(black_box(body), 1, 100, 1_790_000_000_000)
                    .expect("the page decodes");
                black_box(page.batch.num_rows())
            });
        });
    }
    g.finish();
}

fn bench_encode(cr: &mut Criterion, registry: &Registry, sizes: &mut Sizes) {
    let opts = WriterOptions {
        codec: postpress_etl::model::Compression::Zstd,
        max_rows_per_file: NonZeroUsize::new(1_000_000).expect("nonzero"),
        row_group_rows: NonZeroUsize::new(131_072).expect("nonzero"),
        hints: ColumnHints {
            constant: &CONSTANT_COLUMNS,
            counter: Some(POSITION_COLUMN),
        },
    };
    let mut g = cr.benchmark_group("encode");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for c in CASES.iter().filter(|c| c.name != "instagram_followers") {
        let limit = u64::from(c.provider.max_page_size(c.dataset));
        let dec = decoder(registry, c);
        let mut json_bytes = 0u64;
        // Page by page, as the job writes them.
        let batches: Vec<RecordBatch> = (0..ENCODE_ROWS / limit)
            .map(|p| {
                let body = page_json(c, p * limit, limit);
                json_bytes += body.len() as u64;
                dec.decode(&body, p, (p * limit) as i64, 1_790_000_000_000)
                    .expect("the page decodes")
                    .batch
            })
            .collect();
        let out = encode(&batches, c, &opts);
        let id = format!("{}_zstd", c.name);
        sizes.note(
            format!("encode/{id}"),
            json_bytes,
            ENCODE_ROWS,
            out.len() as u64,
        );
        g.throughput(Throughput::Elements(ENCODE_ROWS));
        g.bench_with_input(BenchmarkId::from_parameter(&id), &batches, |b, batches| {
            b.iter(|| black_box(encode(batches, c, &opts).len()));
        });
    }
    g.finish();
}

fn main() {
    // Only `cargo bench` passes --bench; under `cargo test` this binary measures nothing.
    if !std::env::args().any(|a| a == "--bench") {
        println!("micro benchmarks: not run outside `cargo bench`");
        return;
    }
    let registry = Registry::load().expect("the embedded schemas load");
    let mut sizes = Sizes::default();
    let mut cr = Criterion::default().configure_from_args();
    bench_decode(&mut cr, &registry, &mut sizes);
    bench_encode(&mut cr, &registry, &mut sizes);
    cr.final_summary();
    sizes.write();
}
