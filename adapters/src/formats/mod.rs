//! The four declarative formats. Each reads rows or items and hands [`crate::engine::Frame`]s to
//! the engine; none knows about record types.

pub(crate) mod csv;
pub(crate) mod fixed_width;
pub(crate) mod json;
mod json_value;
pub(crate) mod xml;

/// Largest row, line or item accepted (64 MiB). A bigger one means a broken file (an unclosed
/// quote or bracket swallowing the rest), and holding it would defeat streaming.
pub(crate) const MAX_ITEM_BYTES: usize = 64 << 20;

/// Reads one line (up to and including `\n`) into `buf`, refusing lines over
/// [`MAX_ITEM_BYTES`]. Returns the bytes read (0 at the end).
pub(crate) fn read_line<R: std::io::BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    line_no: u64,
) -> Result<usize, crate::adapter::AdapterError> {
    use std::io::{BufRead, Read};
    let n = reader
        .by_ref()
        .take(MAX_ITEM_BYTES as u64 + 1)
        .read_until(b'\n', buf)?;
    if n > MAX_ITEM_BYTES {
        return Err(crate::adapter::AdapterError::Malformed {
            location: format!("line {line_no}"),
            message: format!("line longer than {MAX_ITEM_BYTES} bytes"),
        });
    }
    Ok(n)
}
