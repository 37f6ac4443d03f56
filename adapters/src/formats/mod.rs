//! The four declarative formats. Each reads rows or items and hands [`crate::engine::Frame`]s to
//! the engine; none knows about record types.

pub(crate) mod csv;
pub(crate) mod fixed_width;
pub(crate) mod json;
mod json_value;
pub(crate) mod xml;
