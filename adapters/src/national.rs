//! The one seam between the adapters and `pes-schemas`: ID numbers, person keys, code lists and
//! record validation, plus the names mappings use for national code lists.

use std::collections::BTreeMap;

pub use pes_schemas::id_number::{IdNumber, IdNumberError};
pub use pes_schemas::person_key::PersonKeyer;
pub use pes_schemas::validate::{validate_record, validate_record_with, FieldError, SharedChecked};

use pes_schemas::codes;

/// Code-list name to version, as records carry it in `code_lists`.
pub fn code_list_versions() -> BTreeMap<String, String> {
    codes::code_list_versions()
}

/// Names a code table may give as its `target`.
pub const CODE_TABLE_TARGETS: [&str; 11] = [
    "division",
    "occupation",
    "education",
    "industry",
    "sex",
    "key_groups",
    "seeker_categories",
    "employment_forms",
    "platform_types",
    "service_kinds",
    "station_kinds",
];

/// Whether `code` is in the named national (or gateway-owned) code list; `None` for an unknown
/// list name.
pub fn in_code_list(list: &str, code: &str) -> Option<bool> {
    Some(match list {
        "division" => codes::division(code).is_some(),
        // Records carry an occupation or a group of the 2022 classification (`4-02-07`), so a
        // code table may map to either.
        "occupation" => codes::validate_occupation_or_group(code).is_ok(),
        "education" => codes::education(code).is_some(),
        "industry" => codes::industry(code).is_some(),
        "sex" => codes::sex(code).is_some(),
        other if codes::GATEWAY_LISTS.contains(&other) => {
            codes::gateway_list(other).is_some_and(|l| l.iter().any(|c| c.code == code))
        }
        _ => return None,
    })
}
