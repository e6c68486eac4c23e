//! Acceptance-test keys: `AT-n`, numbered per project; how a key is written and how it is found
//! in what CI reports (a property's value, a tag, a test's name).

/// The key of a project's `number`-th acceptance test.
pub fn test_key(number: u32) -> String {
    format!("AT-{number}")
}

/// The number of a key written exactly as `AT-n` (any case, `@` of a Cucumber tag allowed),
/// or None.
pub fn parse_test_key(text: &str) -> Option<u32> {
    let text = text.trim();
    let text = text.strip_prefix('@').unwrap_or(text);
    let digits = text
        .get(..3)
        .filter(|prefix| prefix.eq_ignore_ascii_case("AT-"))
        .map(|_| &text[3..])?;
    number_of(digits)
}

/// Every key a test's name carries, in order and once each: `AT-n` (as a word) or `at_n_`
/// (how a key survives in a function name, e.g. `test_at_12_export`).
pub fn keys_in_name(name: &str) -> Vec<u32> {
    let bytes = name.as_bytes();
    let mut found = Vec::new();
    let mut index = 0;
    while index + 3 < bytes.len() {
        let starts_word = index == 0 || !bytes[index - 1].is_ascii_alphanumeric();
        let prefix = &bytes[index..index + 3];
        let separator = match prefix {
            [a, t, b'-'] | [a, t, b'_']
                if a.eq_ignore_ascii_case(&b'a') && t.eq_ignore_ascii_case(&b't') =>
            {
                prefix[2]
            }
            _ => {
                index += 1;
                continue;
            }
        };
        let digits_start = index + 3;
        let digits_end = bytes[digits_start..]
            .iter()
            .position(|byte| !byte.is_ascii_digit())
            .map_or(bytes.len(), |offset| digits_start + offset);
        let after = bytes.get(digits_end).copied();
        // `AT-12` ends where the word ends; `at_12_` is closed by its underscore (or the end).
        let closed = match separator {
            b'-' => after.is_none_or(|byte| !byte.is_ascii_alphanumeric()),
            _ => matches!(after, None | Some(b'_')),
        };
        if starts_word_or_underscore(bytes, index, starts_word)
            && closed
            && let Some(number) = number_of(&name[digits_start..digits_end])
            && !found.contains(&number)
        {
            found.push(number);
        }
        index = digits_end.max(index + 1);
    }
    found
}

/// `at_12_` may follow an underscore (`test_at_12_`); `AT-12` starts a word.
fn starts_word_or_underscore(bytes: &[u8], index: usize, starts_word: bool) -> bool {
    starts_word || (bytes[index + 2] == b'_' && bytes[index - 1] == b'_')
}

/// 1 to 9 digits, no leading zero.
fn number_of(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 || digits.starts_with('0') {
        return None;
    }
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_written_and_read_back() {
        assert_eq!(test_key(12), "AT-12");
        assert_eq!(parse_test_key("AT-12"), Some(12));
        assert_eq!(parse_test_key(" at-7 "), Some(7));
        assert_eq!(parse_test_key("@AT-3"), Some(3));
        for not_a_key in [
            "AT-",
            "AT-0",
            "AT-012",
            "AT-12x",
            "AT12",
            "BT-1",
            "",
            "AT-1234567890",
        ] {
            assert_eq!(parse_test_key(not_a_key), None, "{not_a_key}");
        }
    }

    #[test]
    fn keys_are_found_in_names_as_words_or_snake_case() {
        assert_eq!(keys_in_name("AT-12 exports a CSV"), [12]);
        assert_eq!(keys_in_name("test_at_12_exports_csv"), [12]);
        assert_eq!(keys_in_name("tests/export.rs::at_3_and_at_4_"), [3, 4]);
        assert_eq!(keys_in_name("[AT-1][AT-2] both, AT-1 again"), [1, 2]);
        assert_eq!(keys_in_name("test_at_5"), [5]);
        for none in [
            "FLAT-12",
            "AT-12b",
            "format_12_",
            "cat_3_",
            "AT-0",
            "that_1_",
        ] {
            assert!(keys_in_name(none).is_empty(), "{none}");
        }
    }
}
