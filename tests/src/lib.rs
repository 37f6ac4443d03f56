//! Workspace-level tests. The dashboard's browser test lives in `tests/browser/` (run by
//! `.ci/run`); the multi-gateway, crash and bad-input tests live in `gateway/tests/`, because only
//! the package that defines the `pesgw` binary can name it through `CARGO_BIN_EXE_pesgw`.
