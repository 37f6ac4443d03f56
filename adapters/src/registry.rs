//! All mappings of a directory, by adapter id.

use std::collections::BTreeMap;
use std::path::Path;

use crate::mapping::{Mapping, MappingError};

/// Mappings loaded from a directory of `*.toml` files, keyed by adapter id.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    mappings: BTreeMap<String, Mapping>,
}

impl Registry {
    /// Loads every `*.toml` file in `dir` (not recursive). Fails on the first bad mapping or on
    /// two mappings with one id.
    pub fn load_dir(dir: &Path) -> Result<Registry, MappingError> {
        let io_err = |e: std::io::Error| MappingError {
            file: Some(dir.to_path_buf()),
            line: None,
            message: e.to_string(),
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut reg = Registry::default();
        for p in paths {
            let m = Mapping::from_path(&p)?;
            if reg.mappings.contains_key(&m.id) {
                return Err(MappingError {
                    file: Some(p),
                    line: None,
                    message: format!("duplicate adapter id '{}'", m.id),
                });
            }
            reg.mappings.insert(m.id.clone(), m);
        }
        Ok(reg)
    }

    /// The mapping with this adapter id.
    pub fn get(&self, id: &str) -> Option<&Mapping> {
        self.mappings.get(id)
    }

    /// All mappings, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.values()
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.mappings.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }
}
