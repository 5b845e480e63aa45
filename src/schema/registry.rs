//! The schema files (embedded at build time) → the checked [`Registry`], and the variant of a
//! (dataset, provider) looked up in it. Every rule a schema file must follow is checked here,
//! once, at startup, before any request.

use super::error::SchemaError;
use super::variant::{Column, ColumnType, METADATA_COLUMNS, PATH_COLUMNS, Variant};
use crate::model::{Dataset, Provider};
use arrow_schema::{Field, Schema};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The embedded schema files, by name.
pub const FILES: [(&str, &str); 4] = [
    (
        "followers.linkedin.toml",
        include_str!("../../schemas/followers.linkedin.toml"),
    ),
    (
        "followers.instagram.toml",
        include_str!("../../schemas/followers.instagram.toml"),
    ),
    (
        "following.toml",
        include_str!("../../schemas/following.toml"),
    ),
    ("metadata.toml", include_str!("../../schemas/metadata.toml")),
];

/// All variants plus the metadata columns.
#[derive(Debug)]
pub struct Registry {
    pub(super) variants: Vec<Arc<Variant>>,
    /// Columns added to every row.
    pub metadata: Vec<Column>,
    by_key: HashMap<(Dataset, Provider), usize>,
}

impl Registry {
    /// Loads and checks the embedded schema files.
    pub fn load() -> Result<Registry, SchemaError> {
        Registry::from_files(&FILES)
    }

    /// Loads and checks schema files given as (name, text); `metadata.toml` must be among them.
    pub fn from_files(files: &[(&str, &str)]) -> Result<Registry, SchemaError> {
        let mut parsed = Vec::new();
        let mut metadata = None;
        for (name, text) in files {
            let f: VariantFile = toml::from_str(text).map_err(|e| SchemaError::Syntax {
                file: (*name).to_owned(),
                message: e.to_string().trim_end().replace('\n', " "),
            })?;
            let columns = parse_columns(name, &f)?;
            if f.dataset.is_none() {
                metadata = Some(columns);
            } else {
                parsed.push(((*name).to_owned(), f, columns));
            }
        }
        let metadata = metadata.ok_or_else(|| SchemaError::Syntax {
            file: "metadata.toml".to_owned(),
            message: "missing: a file without `dataset` must list the metadata columns".to_owned(),
        })?;
        let meta_names: Vec<&str> = metadata.iter().map(|c| c.name.as_str()).collect();
        let in_path: Vec<&str> = metadata
            .iter()
            .filter(|c| c.in_path)
            .map(|c| c.name.as_str())
            .collect();
        if meta_names != METADATA_COLUMNS || in_path != PATH_COLUMNS {
            return Err(SchemaError::Syntax {
                file: "metadata.toml".to_owned(),
                message: format!(
                    "columns must be exactly {METADATA_COLUMNS:?} in that order, and {PATH_COLUMNS:?} in_path"
                ),
            });
        }
        let mut variants = Vec::new();
        let mut by_key = HashMap::new();
        for (file, f, columns) in parsed {
            let v = variant(file, f, columns, &metadata)?;
            let idx = variants.len();
            for p in Provider::ALL {
                if v.provider.is_none_or(|vp| vp == p) {
                    by_key.insert((v.dataset, p), idx);
                }
            }
            variants.push(Arc::new(v));
        }
        for d in Dataset::ALL {
            for p in Provider::ALL {
                if !by_key.contains_key(&(d, p)) {
                    return Err(SchemaError::MissingVariant {
                        dataset: d,
                        provider: p,
                    });
                }
            }
        }
        Ok(Registry {
            variants,
            metadata,
            by_key,
        })
    }

    /// The variant of a (dataset, provider).
    pub fn variant(&self, dataset: Dataset, provider: Provider) -> Arc<Variant> {
        let idx = self.by_key.get(&(dataset, provider)).copied().unwrap_or(0);
        self.variants[idx].clone()
    }

    /// Every variant, in file order.
    pub fn variants(&self) -> &[Arc<Variant>] {
        &self.variants
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    dataset: Option<String>,
    provider: Option<String>,
    list_object: Option<String>,
    item_object: Option<String>,
    key: Option<String>,
    columns: Vec<ColumnFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnFile {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    required: bool,
    #[serde(default)]
    in_path: bool,
    description: String,
}

/// A file's columns, each type known.
fn parse_columns(name: &str, f: &VariantFile) -> Result<Vec<Column>, SchemaError> {
    f.columns
        .iter()
        .map(|c| {
            Ok(Column {
                name: c.name.clone(),
                ty: ColumnType::parse(&c.ty).ok_or_else(|| SchemaError::UnsupportedType {
                    file: name.to_owned(),
                    column: c.name.clone(),
                    ty: c.ty.clone(),
                })?,
                required: c.required,
                in_path: c.in_path,
                description: c.description.clone(),
            })
        })
        .collect()
}

/// One variant file checked: its dataset and provider, unique columns, no date32, its key a
/// required utf8 column, at most 64 API columns.
fn variant(
    file: String,
    f: VariantFile,
    columns: Vec<Column>,
    metadata: &[Column],
) -> Result<Variant, SchemaError> {
    let unknown = |key, value: &str| SchemaError::UnknownName {
        file: file.clone(),
        key,
        value: value.to_owned(),
    };
    let ds_name = f.dataset.unwrap_or_default();
    let dataset: Dataset = ds_name.parse().map_err(|()| unknown("dataset", &ds_name))?;
    let provider = match &f.provider {
        None => None,
        Some(p) => Some(p.parse::<Provider>().map_err(|()| unknown("provider", p))?),
    };
    let mut seen = std::collections::HashSet::new();
    for c in columns.iter().chain(metadata.iter()) {
        if !seen.insert(c.name.as_str()) || c.name == "object" {
            return Err(SchemaError::DuplicateColumn {
                file: file.clone(),
                column: c.name.clone(),
            });
        }
    }
    if let Some(c) = columns.iter().find(|c| c.ty == ColumnType::Date32) {
        return Err(SchemaError::UnsupportedType {
            file,
            column: c.name.clone(),
            ty: "date32 (only the metadata columns may use it)".to_owned(),
        });
    }
    let key = f.key.clone().unwrap_or_default();
    if !columns
        .iter()
        .any(|c| c.name == key && c.required && c.ty == ColumnType::Utf8)
    {
        return Err(SchemaError::Key { file, key });
    }
    if let Some(c) = columns.iter().find(|c| c.in_path) {
        return Err(SchemaError::Syntax {
            file,
            message: format!(
                "column {:?}: only the metadata columns may be in_path (hive partition columns)",
                c.name
            ),
        });
    }
    if columns.len() > 64 {
        return Err(SchemaError::Syntax {
            file,
            message: "at most 64 API columns per variant".to_owned(),
        });
    }
    let fields: Vec<Field> = columns
        .iter()
        .chain(metadata.iter().filter(|c| !c.in_path))
        .map(Column::field)
        .collect();
    Ok(Variant {
        file,
        dataset,
        provider,
        list_object: f.list_object.unwrap_or_default(),
        item_object: f.item_object.unwrap_or_default(),
        key,
        columns,
        schema: Arc::new(Schema::new(fields)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::variant::FILE_METADATA_COLUMNS;
    use arrow_schema::{DataType, TimeUnit};

    /// The embedded files load and cover every (dataset, provider).
    #[test]
    fn embedded_files_load() {
        let r = Registry::load().expect("embedded schemas are valid");
        let li = r.variant(Dataset::Followers, Provider::Linkedin);
        assert_eq!(li.list_object, "UserFollowersList");
        assert_eq!(li.schema.fields().len(), 7 + 3);
        for c in PATH_COLUMNS {
            assert!(
                li.schema.field_with_name(c).is_err(),
                "{c} is in the path only"
            );
        }
        let names: Vec<&str> = li
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names[7..], FILE_METADATA_COLUMNS);
        let ig = r.variant(Dataset::Followers, Provider::Instagram);
        assert!(
            ig.schema
                .field_with_name("profile_picture_url")
                .expect("col")
                .is_nullable()
        );
        assert!(
            !ig.schema
                .field_with_name("is_private")
                .expect("col")
                .is_nullable()
        );
        let fo = r.variant(Dataset::Following, Provider::Instagram);
        assert_eq!(
            fo.schema
                .field_with_name("created_at")
                .expect("col")
                .data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        assert!(r.dictionary().contains("profile_picture_url_large"));
        assert_eq!(li.key, "id");
        assert_eq!(fo.key, "member_id");
    }

    fn with_replaced(file: &str, text: &str) -> Result<Registry, SchemaError> {
        let files: Vec<(&str, &str)> = FILES
            .iter()
            .map(|(n, t)| if *n == file { (*n, text) } else { (*n, *t) })
            .collect();
        Registry::from_files(&files)
    }

    /// Each failure of a schema file is caught with a message naming it.
    #[test]
    fn bad_files_are_rejected() {
        let e = with_replaced("following.toml", "dataset = ").expect_err("syntax");
        assert!(
            e.to_string()
                .starts_with("schema file following.toml is not valid"),
            "{e}"
        );
        let e = with_replaced(
            "following.toml",
            "dataset = \"following\"\n[[columns]]\nname = \"x\"\ntype = \"decimal\"\nrequired = true\ndescription = \"\"\n",
        )
        .expect_err("type");
        assert_eq!(
            e.to_string(),
            "schema file following.toml: column \"x\" has unsupported type \"decimal\"; supported: utf8, bool, int64, timestamp_ms, date32"
        );
        let e = with_replaced(
            "following.toml",
            "dataset = \"following\"\n[[columns]]\nname = \"run_id\"\ntype = \"utf8\"\nrequired = true\ndescription = \"\"\n",
        )
        .expect_err("dup");
        assert!(matches!(e, SchemaError::DuplicateColumn { .. }), "{e}");
        let following = FILES[2].1;
        let e = with_replaced(
            "following.toml",
            &following.replace("key = \"member_id\"", ""),
        )
        .expect_err("no key");
        assert_eq!(
            e.to_string(),
            "schema file following.toml: key = \"\" is not allowed; name a required utf8 column of the file, the one that identifies an item across days"
        );
        let e = with_replaced(
            "following.toml",
            &following.replace("key = \"member_id\"", "key = \"created_at\""),
        )
        .expect_err("not utf8");
        assert!(
            matches!(e, SchemaError::Key { ref key, .. } if key == "created_at"),
            "{e}"
        );
        let files: Vec<(&str, &str)> = FILES
            .iter()
            .filter(|(n, _)| *n != "following.toml")
            .copied()
            .collect();
        let e = Registry::from_files(&files).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "no schema file for dataset following and provider linkedin"
        );
    }
}
