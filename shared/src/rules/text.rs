//! Phrase matching for the rules: case-insensitive, on whole words, hyphens kept inside words.

/// Lower-cases `text` and turns everything but letters, digits and inner hyphens into single
/// spaces, padded so a phrase can be searched as `" phrase "`.
pub fn normalize(text: &str) -> String {
    let mut normalized = String::with_capacity(text.len() + 2);
    normalized.push(' ');
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '-' {
            normalized.push(c);
        } else if !normalized.ends_with(' ') {
            normalized.push(' ');
        }
    }
    if !normalized.ends_with(' ') {
        normalized.push(' ');
    }
    normalized
}

/// The phrases of `phrases` that occur in already normalized text, in list order.
pub fn phrases_in<'a>(normalized: &str, phrases: &[&'a str]) -> Vec<&'a str> {
    phrases
        .iter()
        .copied()
        .filter(|phrase| normalized.contains(&format!(" {phrase} ")))
        .collect()
}

/// Whether some word of the normalized text is a number, or a number with a unit (`300ms`).
pub fn has_number(normalized: &str) -> bool {
    normalized
        .split(' ')
        .any(|word| word.chars().next().is_some_and(|c| c.is_ascii_digit()))
}

/// Fixed pixel sizes such as `12px` or `12 px`.
pub fn has_pixel_size(normalized: &str) -> bool {
    let words: Vec<&str> = normalized.split(' ').filter(|w| !w.is_empty()).collect();
    words.iter().enumerate().any(|(index, word)| {
        let digits = word.trim_end_matches("px");
        (word.ends_with("px") && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
            || (*word == "px" && index > 0 && words[index - 1].chars().all(|c| c.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_whole_words_only() {
        let text = normalize("Breakfast is served FAST, and user-friendly.");
        assert_eq!(
            phrases_in(&text, &["fast", "user-friendly", "friendly", "served fast"]),
            ["fast", "user-friendly", "served fast"]
        );
        assert!(phrases_in(&normalize("breakfast"), &["fast"]).is_empty());
    }

    #[test]
    fn numbers_and_pixel_sizes() {
        assert!(has_number(&normalize("returns 3 items")));
        assert!(has_number(&normalize("within 200ms")));
        assert!(!has_number(&normalize("returns items")));
        assert!(has_pixel_size(&normalize("a 12px margin")));
        assert!(has_pixel_size(&normalize("width: 300 px")));
        assert!(!has_pixel_size(&normalize("the px unit")));
    }
}
