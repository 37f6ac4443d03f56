//! Collecting a whole decode run in memory: for `pesgw adapters check`, golden tests and small
//! samples. Never use this on a push (it holds every record).

use std::io::Read;

use pes_schemas::Record;
use serde::Serialize;

use crate::adapter::{Adapter, DecodeContext, DecodeSummary, Decoded, RowError};
use crate::mask::masked;

/// Everything one decode run produced, in input order.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Adapter id.
    pub adapter_id: String,
    /// Adapter version.
    pub adapter_version: String,
    /// Counts (also when a fault stopped the run: rows up to the fault).
    pub summary: DecodeSummary,
    /// Records, in order.
    pub records: Vec<Record>,
    /// Row errors, in order (a failed row's problems one after the other).
    pub errors: Vec<RowError>,
    /// The fault that stopped the run early, if any.
    pub fault: Option<String>,
}

impl CheckReport {
    /// Runs `adapter` over `input` and collects the result.
    pub fn run(
        adapter: &dyn Adapter,
        input: &mut dyn Read,
        ctx: &DecodeContext<'_>,
    ) -> CheckReport {
        let mut records = Vec::new();
        let mut errors = Vec::new();
        let result = adapter.decode(input, ctx, &mut |d| {
            match d {
                Decoded::Record(r) => records.push(*r),
                Decoded::RowError(e) => errors.push(*e),
                Decoded::FailedRow(f) => errors.extend(f.problems),
            }
            Ok(())
        });
        let (summary, fault) = match result {
            Ok(s) => (s, None),
            Err(e) => (
                DecodeSummary {
                    rows: 0,
                    records: records.len() as u64,
                    row_errors: errors.len() as u64,
                    failed_rows: 0,
                },
                Some(e.to_string()),
            ),
        };
        CheckReport {
            adapter_id: adapter.id().to_string(),
            adapter_version: adapter.version().to_string(),
            summary,
            records,
            errors,
            fault,
        }
    }

    /// A copy with protected fields masked, for display.
    pub fn masked(&self) -> CheckReport {
        CheckReport {
            records: self.records.iter().map(masked).collect(),
            ..self.clone()
        }
    }
}
