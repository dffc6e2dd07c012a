//! "Did you mean" suggestions by edit distance.

/// Levenshtein distance between two strings, by characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `input`, if it is close enough to be a plausible typo
/// (distance at most a third of the input's length, and at least 1 allowed), or if one
/// candidate contains the input / is contained in it.
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    let limit = (input.chars().count() / 3).max(2);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let d = edit_distance(&input_lower, &candidate.to_ascii_lowercase());
        let contained = input_lower.len() >= 4
            && (candidate.contains(input_lower.as_str()) || input_lower.contains(candidate));
        if (d <= limit || contained) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            edit_distance("max_blocking_thread", "max_blocking_threads"),
            1
        );
    }

    #[test]
    fn closest_key() {
        let keys = [
            "num_worker_threads",
            "max_blocking_threads",
            "compute_threads",
        ];
        assert_eq!(
            closest("num_workers_threads", keys),
            Some("num_worker_threads")
        );
        assert_eq!(closest("compute_thread", keys), Some("compute_threads"));
        assert_eq!(
            closest("MAX_BLOCKING_THREADS", keys),
            Some("max_blocking_threads")
        );
        assert_eq!(closest("zzz", keys), None);
    }
}
