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

/// The candidate closest to `input`, ignoring ASCII case, if it is close enough to be a
/// plausible typo (distance at most a third of the input's length, and at least 2 allowed), or
/// if it contains the input / is contained in it (inputs of 4 characters or more).
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    let limit = (input.chars().count() / 3).max(2);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let candidate_lower = candidate.to_ascii_lowercase();
        let d = edit_distance(&input_lower, &candidate_lower);
        let contained = input_lower.len() >= 4
            && (candidate_lower.contains(input_lower.as_str())
                || input_lower.contains(candidate_lower.as_str()));
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

    #[test]
    fn containment_ignores_case_like_the_distance() {
        // Upper-case candidates, as for environment variable names: too far apart for the
        // distance, but the input contains a known name.
        let vars = ["DYN_SYSTEM_PORT", "DYN_HTTP_PORT"];
        assert_eq!(
            closest("DYN_SYSTEM_PORT_FOR_THE_STATUS_SERVER", vars),
            Some("DYN_SYSTEM_PORT")
        );
        assert_eq!(
            closest("dyn_http_port_number_override", vars),
            Some("DYN_HTTP_PORT")
        );
    }
}
