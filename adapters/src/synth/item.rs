//! What the planner generates and the writer writes: raw values of rows, items and their nested
//! elements, before they are rendered in the mapping's format.

use std::collections::BTreeMap;

/// A raw value as it will be written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Text(String),
    List(Vec<String>),
    Null,
}

/// Raw values of one row, item or nested element, by path index.
pub(crate) type Unit = BTreeMap<usize, Raw>;

/// One generated row or item with its nested elements.
#[derive(Debug, Default)]
pub(crate) struct Item {
    pub values: Unit,
    /// Nested elements by `each` path index.
    pub elements: Vec<(usize, Vec<Unit>)>,
}
