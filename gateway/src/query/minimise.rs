//! Data minimisation of person answers: a protected field (name, ID number, phone) leaves a
//! region only when the caller's grants (from its trust-list policy) name that field.

use pes_schemas::PROTECTED_FIELDS;
use serde_json::Value;

use super::grants::Grants;

/// Removes from a person record (as JSON, protected fields under `protected`) every protected
/// field the caller's grants do not name; with no grants nothing protected is kept. Unknown
/// keys under `protected` are dropped too (only listed fields can ever be granted).
pub fn minimise_person(mut record: Value, grants: Option<&Grants>) -> Value {
    let granted = |field: &str| {
        PROTECTED_FIELDS.contains(&field)
            && grants.is_some_and(|g| g.protected_fields.iter().any(|f| f == field))
    };
    if let Some(obj) = record.as_object_mut() {
        let keep = match obj.get_mut("protected").and_then(Value::as_object_mut) {
            Some(protected) => {
                protected.retain(|k, _| granted(k));
                !protected.is_empty()
            }
            None => false,
        };
        if !keep {
            obj.remove("protected");
        }
        // Never let a protected field ride at the top level either.
        for field in PROTECTED_FIELDS {
            obj.remove(field);
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn person() -> Value {
        serde_json::json!({
            "record_type": "person",
            "person_key": "k1",
            "sex": "1",
            "protected": {"name": "张三", "id_number": "11010519491231002X", "phone": "13800000000"},
        })
    }

    fn policy(fields: &[&str]) -> Grants {
        Grants {
            datasets: vec!["person".into()],
            purposes: vec!["case_management".into()],
            protected_fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn no_protected_field_leaves_without_a_grant() {
        let out = minimise_person(person(), Some(&policy(&[])));
        assert!(out.get("protected").is_none());
        assert_eq!(out["person_key"], "k1");
        assert!(minimise_person(person(), None).get("protected").is_none());
        let text = minimise_person(person(), None).to_string();
        assert!(!text.contains("张三") && !text.contains("1380000") && !text.contains("110105"));
    }

    #[test]
    fn only_granted_fields_are_kept() {
        let out = minimise_person(person(), Some(&policy(&["phone"])));
        assert_eq!(
            out["protected"],
            serde_json::json!({"phone": "13800000000"})
        );
    }

    proptest! {
        #[test]
        fn output_protected_keys_are_a_subset_of_the_grant(
            grant in proptest::sample::subsequence(vec!["name", "id_number", "phone", "email"], 0..4),
        ) {
            let out = minimise_person(person(), Some(&policy(&grant)));
            let kept: Vec<String> = out
                .get("protected")
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            for k in &kept {
                prop_assert!(grant.contains(&k.as_str()) && PROTECTED_FIELDS.contains(&k.as_str()));
            }
        }
    }
}
