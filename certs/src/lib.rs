//! Development PKI for the federation (CA, gateway server and client certificates, CRL).
//!
//! Filled in by the federation issue; see `../shared/DESIGN.md` section 6.
