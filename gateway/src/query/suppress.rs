//! Small-cell suppression: a cell computed from fewer than `k` records is withheld by the region
//! that holds the records (DESIGN section 5).

use crate::query::Cell;

/// Withholds the count and sum of every cell with fewer than `k` records.
pub fn suppress(cells: &mut [Cell], k: u64) {
    for c in cells {
        if c.count.is_some_and(|n| n >= 0 && (n as u64) < k) {
            c.count = None;
            c.sum = None;
            c.suppressed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_below_k_lose_count_and_sum() {
        let mk = |n| Cell {
            group: Default::default(),
            count: Some(n),
            sum: Some(n * 2),
            suppressed: false,
        };
        let mut cells = vec![mk(4), mk(5)];
        suppress(&mut cells, 5);
        assert_eq!(
            cells[0],
            Cell {
                group: Default::default(),
                count: None,
                sum: None,
                suppressed: true
            }
        );
        assert_eq!(cells[1].count, Some(5));
    }
}
