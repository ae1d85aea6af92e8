//! Terminal output: tables, and escaping of hostile strings.

/// Escapes control characters (ANSI escapes, carriage returns, …) so that a string from an
/// event cannot rewrite the terminal it is shown on.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c.is_control() && c != '\n') || invisible(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that reorder or hide text on a terminal (bidirectional overrides and isolates,
/// zero-width marks): a user agent or bucket name holding them could make a line read as
/// something else ("Trojan Source").
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// One line of a table cell: control characters escaped, newlines too, long values cut.
pub fn cell(s: &str, max: usize) -> String {
    let clean = sanitize(s).replace('\n', "\\n");
    if clean.chars().count() > max {
        let cut: String = clean.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        clean
    }
}

/// Like [`cell`], but keeps the end (file paths: the name matters more than the directory).
pub fn cell_tail(s: &str, max: usize) -> String {
    let clean = sanitize(s).replace('\n', "\\n");
    let n = clean.chars().count();
    if n > max {
        let tail: String = clean.chars().skip(n - max.saturating_sub(1)).collect();
        format!("…{tail}")
    } else {
        clean
    }
}

/// Prints rows as aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_control() {
        assert_eq!(sanitize("a\u{1b}[31mred\r"), "a\\u{1b}[31mred\\r");
        assert_eq!(cell("x\ny", 10), "x\\ny");
        assert_eq!(cell("abcdef", 4), "abc…");
        assert_eq!(cell_tail("/a/b/file.json", 10), "…file.json");
    }

    #[test]
    fn escapes_text_that_reorders_or_hides() {
        assert_eq!(sanitize("evil\u{202E}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(sanitize("a\u{200B}b\u{2066}c"), "a\\u{200b}b\\u{2066}c");
        assert_eq!(sanitize("東京 café"), "東京 café");
    }
}
