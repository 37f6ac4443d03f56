//! Masking of protected values for display: only the first and last characters stay.

use pes_schemas::{Record, RecordBody};

/// Masks a protected value: `张三丰` -> `张*丰`, `110105199001011234` -> `1****************4`.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".to_string(),
        2 => format!("{}*", chars[0]),
        n => {
            let mut s = String::with_capacity(value.len());
            s.push(chars[0]);
            s.extend(std::iter::repeat_n('*', n - 2));
            s.push(chars[n - 1]);
            s
        }
    }
}

/// Replaces every letter, digit and CJK character with `*`, keeping delimiters and punctuation:
/// the shape of a raw row stays visible, its content does not.
pub fn mask_shape(raw: &str) -> String {
    raw.chars()
        .map(|c| if c.is_alphanumeric() { '*' } else { c })
        .collect()
}

/// A copy of the record with its protected fields masked, for display.
pub fn masked(record: &Record) -> Record {
    let mut r = record.clone();
    if let RecordBody::Person(p) = &mut r.body {
        if let Some(prot) = &mut p.protected {
            prot.name = mask(&prot.name);
            prot.id_number = mask(&prot.id_number);
            prot.phone = prot.phone.as_deref().map(mask);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_first_and_last_characters() {
        assert_eq!(mask("张三丰"), "张*丰");
        assert_eq!(mask("李四"), "李*");
        assert_eq!(mask("110105199001011234"), "1****************4");
        assert_eq!(mask("𠮷"), "*");
    }
}
