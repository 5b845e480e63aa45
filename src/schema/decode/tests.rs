//! Decoder edge cases, and the check that `schemas/` and the decoder agree with what the API
//! (as the simulator serves it from the docs) sends.

use super::{DecodeFailure, PageDecoder};
use crate::model::{Dataset, Provider};
use crate::schema::Registry;
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use postpress_sim as sim;

fn decoder(dataset: Dataset, provider: Provider) -> PageDecoder {
    let r = Registry::load().expect("schemas");
    PageDecoder::new(r.variant(dataset, provider), "acc_1", "run_1")
}

fn invalid(d: &PageDecoder, body: &str) -> String {
    match d.decode(body.as_bytes(), 3, 0, 0) {
        Err(DecodeFailure::Invalid(e)) => e.to_string(),
        Err(DecodeFailure::Unparseable(m)) => panic!("unparseable, expected invalid: {m}"),
        Ok(_) => panic!("decoded, expected invalid: {body}"),
    }
}

const LI: &str = r#"{"object":"UserFollower","id":"a","urn":"u","name":"N","headline":"","profile_url":"p","profile_picture_url":"q","profile_picture_url_large":"r"}"#;

/// Every item the simulator generates from the docs decodes, and every documented field is a
/// column with the served value; the item key each schema file declares is the API's and is
/// decoded: the schema files and the decoder stay in step with the API.
#[test]
fn schemas_and_decoder_match_the_documented_items() {
    let cases = [
        (
            Dataset::Followers,
            Provider::Linkedin,
            sim::Dataset::Followers,
            sim::Provider::Linkedin,
            "UserFollowersList",
        ),
        (
            Dataset::Followers,
            Provider::Instagram,
            sim::Dataset::Followers,
            sim::Provider::Instagram,
            "UserFollowersList",
        ),
        (
            Dataset::Following,
            Provider::Linkedin,
            sim::Dataset::Following,
            sim::Provider::Linkedin,
            "UserRelationsList",
        ),
        (
            Dataset::Following,
            Provider::Instagram,
            sim::Dataset::Following,
            sim::Provider::Instagram,
            "UserRelationsList",
        ),
    ];
    for (ds, p, sds, sp, list) in cases {
        let items: Vec<serde_json::Value> = (0..300)
            .map(|i| sim::expected_item(7, sp, sds, "acc_1", i))
            .collect();
        let body = serde_json::json!({"object": list, "items": items, "cursor": "c"}).to_string();
        let d = decoder(ds, p);
        let page = d
            .decode(body.as_bytes(), 0, 1000, 5)
            .unwrap_or_else(|_| panic!("{ds} {p} decodes"));
        let batch = &page.batch;
        assert_eq!(batch.num_rows(), 300);
        assert_eq!(page.cursor.as_deref(), Some("c"));
        for (i, item) in items.iter().enumerate() {
            for (k, v) in item.as_object().expect("object") {
                if k == "object" {
                    continue;
                }
                let Some(col) = batch.column_by_name(k) else {
                    // Only the simulator's deliberately unknown extras may lack a column.
                    assert!(page.unknown_fields > 0, "{ds} {p}: field {k} has no column");
                    continue;
                };
                let got = cell(col.as_ref(), i, k);
                assert_eq!(&got, v, "{ds} {p} item {i} field {k}");
            }
        }
        assert_key_declared_and_decoded(ds, p, sds, &items, batch);
        let pos = batch
            .column_by_name("position")
            .expect("position")
            .as_primitive::<Int64Type>();
        assert_eq!(pos.value(0), 1000);
        assert_eq!(pos.value(299), 1299);
    }
}

/// One decoded cell as JSON, for comparison with the served item.
fn cell(col: &dyn arrow_array::Array, i: usize, k: &str) -> serde_json::Value {
    if col.is_null(i) {
        serde_json::Value::Null
    } else if let Some(s) = col.as_string_opt::<i32>() {
        s.value(i).into()
    } else if let Some(b) = col.as_boolean_opt() {
        b.value(i).into()
    } else if let Some(t) = col.as_primitive_opt::<TimestampMillisecondType>() {
        t.value(i).into()
    } else {
        panic!("unexpected column type for {k}")
    }
}

/// The item key declared in schemas/ is the one the API (the simulator's ground truth)
/// identifies items by, and the decoder fills it with each item's key.
fn assert_key_declared_and_decoded(
    ds: Dataset,
    p: Provider,
    sds: sim::Dataset,
    items: &[serde_json::Value],
    batch: &arrow_array::RecordBatch,
) {
    let key = Registry::load()
        .expect("schemas")
        .variant(ds, p)
        .key
        .clone();
    assert_eq!(
        key,
        sds.key_field(),
        "{ds} {p}: schemas/ declares key {key:?}"
    );
    let keys = batch
        .column_by_name(&key)
        .unwrap_or_else(|| panic!("{ds} {p}: key column {key:?}"))
        .as_string::<i32>();
    for (i, item) in items.iter().enumerate() {
        assert_eq!(
            Some(keys.value(i)),
            sim::item_key(sds, item),
            "{ds} {p} item {i} key"
        );
    }
}

/// Absent and null optional fields both read as null; unknown fields are counted by name.
#[test]
fn optional_and_unknown_fields() {
    let d = decoder(Dataset::Followers, Provider::Instagram);
    let body = r#"{"object":"UserFollowersList","cursor":null,"items":[
        {"object":"UserFollower","id":"1","messaging_id":"m","username":"u","name":"","is_private":false,"is_verified":true},
        {"object":"UserFollower","id":"2","messaging_id":"m","username":"u","name":"n","profile_picture_url":null,"is_private":true,"is_verified":false,"pronouns":"they","badge":{"k":[1,2]}},
        {"id":"3","messaging_id":"m","username":"u","name":"\u00e9\n\"q\"","profile_picture_url":"x","is_private":true,"is_verified":false,"pronouns":"she"}],"extra":1}"#;
    let page = d.decode(body.as_bytes(), 0, 0, 0).expect("decodes");
    let pic = page
        .batch
        .column_by_name("profile_picture_url")
        .expect("col")
        .as_string::<i32>();
    assert!(pic.is_null(0) && pic.is_null(1));
    assert_eq!(pic.value(2), "x");
    let name = page
        .batch
        .column_by_name("name")
        .expect("col")
        .as_string::<i32>();
    assert_eq!(name.value(0), "");
    assert_eq!(name.value(2), "é\n\"q\"");
    assert_eq!(page.cursor, None);
    assert_eq!(page.unknown_fields, 4);
    assert_eq!(page.unknown_names.get("pronouns"), Some(&2));
    assert_eq!(page.unknown_names.get("extra"), Some(&1));
}

/// Each schema violation fails with the account, page, item index and field.
#[test]
fn violations_name_item_and_field() {
    let d = decoder(Dataset::Followers, Provider::Linkedin);
    let page = |items: &str| {
        format!(r#"{{"object":"UserFollowersList","items":[{LI},{items}],"cursor":"c"}}"#)
    };
    assert_eq!(
        invalid(&d, &page(&LI.replace(r#""name":"N","#, ""))),
        "account acc_1 followers page 3 item 1 field \"name\": required field is missing"
    );
    assert_eq!(
        invalid(&d, &page(&LI.replace(r#""name":"N""#, r#""name":null"#))),
        "account acc_1 followers page 3 item 1 field \"name\": required field is null"
    );
    assert_eq!(
        invalid(&d, &page(&LI.replace(r#""name":"N""#, r#""name":123"#))),
        "account acc_1 followers page 3 item 1 field \"name\": is a number, expected a string"
    );
    assert_eq!(
        invalid(
            &d,
            &page(&LI.replace(r#""object":"UserFollower""#, r#""object":"UserRelation""#))
        ),
        "account acc_1 followers page 3 item 1 field \"object\": is Some(\"UserRelation\"), expected \"UserFollower\""
    );
    assert_eq!(
        invalid(&d, &page("42")),
        "account acc_1 followers page 3 item 1: item is a number, expected an object"
    );
    assert_eq!(
        invalid(
            &d,
            &format!(r#"{{"object":"UserRelationsList","items":[{LI}],"cursor":null}}"#)
        ),
        "account acc_1 followers page 3: object is \"UserRelationsList\", expected \"UserFollowersList\""
    );
    assert_eq!(
        invalid(&d, r#"{"object":"UserFollowersList","items":[]}"#),
        "account acc_1 followers page 3: no \"cursor\" field (null ends the list)"
    );
    assert!(
        invalid(
            &d,
            r#"{"object":"UserFollowersList","items":{},"cursor":null}"#
        )
        .contains("page 3")
    );
    let ig = decoder(Dataset::Followers, Provider::Instagram);
    let body = r#"{"object":"UserFollowersList","cursor":null,"items":[{"id":"1","messaging_id":"m","username":"u","name":"","is_private":"yes","is_verified":true}]}"#;
    assert_eq!(
        invalid(&ig, body),
        "account acc_1 followers page 3 item 0 field \"is_private\": is a string, expected a boolean"
    );
}

/// Cut or garbled bodies are "unparseable" (retried), not schema violations.
#[test]
fn truncated_bodies_are_unparseable() {
    let d = decoder(Dataset::Followers, Provider::Linkedin);
    let full = format!(r#"{{"object":"UserFollowersList","items":[{LI},{LI}],"cursor":"c"}}"#);
    for cut in [10, full.len() / 2, full.len() - 1] {
        assert!(
            matches!(
                d.decode(&full.as_bytes()[..cut], 0, 0, 0),
                Err(DecodeFailure::Unparseable(_))
            ),
            "cut at {cut}"
        );
    }
    assert!(matches!(
        d.decode(b"<html>502</html>", 0, 0, 0),
        Err(DecodeFailure::Unparseable(_))
    ));
    assert!(matches!(
        d.decode(b"", 0, 0, 0),
        Err(DecodeFailure::Unparseable(_))
    ));
}

/// created_at (Unix ms) becomes a UTC timestamp; a whole float is accepted, a fraction is not.
#[test]
fn created_at_is_a_timestamp() {
    let d = decoder(Dataset::Following, Provider::Linkedin);
    let item = |c: &str| {
        format!(
            r#"{{"object":"UserRelation","first_name":"a","last_name":"b","headline":"","public_identifier":"p","public_profile_url":"u","created_at":{c},"member_id":"m","member_urn":"mu","connection_urn":"cu"}}"#
        )
    };
    let body = format!(
        r#"{{"object":"UserRelationsList","items":[{},{}],"cursor":null}}"#,
        item("1747400000000"),
        item("1.7474e12")
    );
    let page = d.decode(body.as_bytes(), 0, 0, 0).expect("decodes");
    let c = page
        .batch
        .column_by_name("created_at")
        .expect("col")
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(c.value(0), 1_747_400_000_000);
    assert_eq!(c.value(1), 1_747_400_000_000);
    assert_eq!(c.timezone(), Some("UTC"));
    let body = format!(
        r#"{{"object":"UserRelationsList","items":[{}],"cursor":null}}"#,
        item("1.5")
    );
    assert!(invalid(&d, &body).contains("field \"created_at\": is a fractional number"));
}
