//! What a caller is granted: the one input the query side takes from a trust-list policy.

/// What a caller may ask of this region and receive: the datasets, purposes and protected
/// fields its trust-list policy grants (for a local caller, what this region grants itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Datasets (record types) it may query.
    pub datasets: Vec<String>,
    /// Purposes it may state.
    pub purposes: Vec<String>,
    /// Protected fields (`name`, `id_number`, `phone`) it may receive.
    pub protected_fields: Vec<String>,
}
