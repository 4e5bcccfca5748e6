//! CSV as the reports write it: RFC 4180 (CRLF line ends), UTF-8, and
//! every text cell a spreadsheet would run as a formula neutralised.

/// A text cell as a spreadsheet will not run it: one starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'`.
pub fn safe_cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

pub fn number<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// An RFC 4180 writer: records end in CRLF.
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// The currencies a CSV has columns for: those the policy accepts, and any
/// other the data holds.
pub fn currency_columns<'a>(
    configured: impl Iterator<Item = &'a str>,
    found: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut all: Vec<&str> = configured.chain(found).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Rows as CSV records.
pub fn csv_rows<R: AsRef<[u8]>>(records: impl IntoIterator<Item = Vec<R>>) -> csv::Result<Vec<u8>> {
    let mut out = csv_writer();
    for record in records {
        out.write_record(&record)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// A header and records as one CSV document.
pub fn csv_text(header: &[String], records: impl Iterator<Item = Vec<String>>) -> csv::Result<Vec<u8>> {
    csv_rows(std::iter::once(header.to_vec()).chain(records))
}
