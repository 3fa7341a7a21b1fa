//! CSV as `{{DataTable|src=file.csv}}` reads it: a delimiter, a quote character that
//! may be doubled inside a quoted field, one pass over the text.

/// Rows and columns that make a table; a larger file is cut there (a table of more is
/// not something a page shows).
const MAX_ROWS: usize = 10_000;
const MAX_COLUMNS: usize = 200;

pub fn parse(text: &str, delimiter: char, quote: char) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == quote {
                if chars.peek() == Some(&quote) {
                    field.push(quote);
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == quote && field.is_empty() {
            quoted = true;
        } else if c == delimiter {
            if row.len() < MAX_COLUMNS {
                row.push(std::mem::take(&mut field));
            }
            field.clear();
        } else if c == '\n' || c == '\r' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            if row.len() < MAX_COLUMNS {
                row.push(std::mem::take(&mut field));
            }
            rows.push(std::mem::take(&mut row));
            field.clear();
            if rows.len() >= MAX_ROWS {
                return rows;
            }
        } else {
            field.push(c);
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn quoted_fields_and_line_ends() {
        let rows = parse(
            "Name;Score\r\n\"Alice; Jr.\";42\n'x';\"a \"\"b\"\"\"\n",
            ';',
            '"',
        );
        assert_eq!(rows[0], vec!["Name", "Score"]);
        assert_eq!(rows[1], vec!["Alice; Jr.", "42"]);
        assert_eq!(rows[2], vec!["'x'", "a \"b\""]);
        assert_eq!(parse("O;Brien", ',', '\''), vec![vec!["O;Brien"]]);
        assert_eq!(
            parse("'O;Brien';99", ';', '\''),
            vec![vec!["O;Brien", "99"]]
        );
    }
}
