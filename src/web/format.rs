//! How the pages show things: money in major units, times (in UTC, turned
//! into the viewer's zone by the page script), durations, proposals as
//! cards, and bar charts drawn as SVG on the server.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::views::Proposal;

/// A form field as typed, or `None` when left blank.
pub fn given(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty()).then_some(text)
}

/// The currencies a form offers: those the policy accepts, and the one a
/// proposal already has (filed in another currency over REST).
pub fn currency_choices(policy: &crate::domain::policy::ApprovalPolicy, current: Option<&str>) -> Vec<String> {
    let mut choices: Vec<String> = policy.peer_limits.keys().cloned().collect();
    if let Some(current) = current
        && !choices.iter().any(|c| c == current)
    {
        choices.push(current.to_owned());
    }
    choices
}

/// A currency's decimals, and `1050, "EUR"` → `10.50 EUR`: as the
/// domain writes them in its messages.
pub use crate::domain::policy::{major_units as money, minor_digits};

/// An amount as a form's field shows it to be typed again: `1050, "EUR"`
/// → `10.50` (empty: none).
pub fn amount_field(minor: Option<i64>, currency: Option<&str>) -> String {
    amount_of(minor, currency)
        .and_then(|text| text.split_once(' ').map(|(number, _)| number.to_owned()))
        .unwrap_or_default()
}

/// An amount as typed, in minor units. Either mark may separate the
/// decimals, as people write them (`25.50`, `25,50`, `1,000.50`,
/// `1.000,50`, `1 000,50`); the other, or a space, groups thousands. Never
/// guesses by dropping a mark: `25,00` is 25.00, not 2500. A lone mark
/// followed by exactly three digits (`1,000`, `1.000`) groups thousands in
/// a currency without decimals and separates the decimals in one with
/// three (as the pages show `1.234 KWD`); in a currency with two it could
/// be either, a thousand or a typo, and is refused.
pub fn parse_amount(text: &str, currency: &str) -> Result<i64, String> {
    let digits = minor_digits(currency) as usize;
    let unreadable = || "must be an amount such as 25.00 or 25,00".to_owned();
    let text = text.trim();
    let is_mark = |c: char| matches!(c, '.' | ',' | ' ' | '\u{a0}' | '\u{202f}');
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || is_mark(c)) {
        return Err(unreadable());
    }
    // The decimal mark: the last `.` or `,`, when it is the only one of its
    // kind (`1,000,000` has none).
    let decimal = match text.rfind(['.', ',']) {
        Some(at) if text.matches(&text[at..=at]).count() == 1 => {
            let lone_thousands = text.len() - at - 1 == 3 && !text[..at].contains(['.', ',']);
            match (lone_thousands, digits) {
                (false, _) | (true, 3) => Some(at),
                (true, 0) => None,
                (true, _) => {
                    let plain = text.replace([',', '.'], "");
                    return Err(format!(
                        "is ambiguous (a thousands mark, or a third digit after the decimal mark where {currency} has \
                         {digits}): write it without a thousands mark ({plain}) or with at most {digits} digits after \
                         the decimal mark"
                    ));
                }
            }
        }
        _ => None,
    };
    let (whole, fraction) = match decimal {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, ""),
    };
    // The whole part: digits, grouped or not; groups after the first have
    // three digits (two are allowed before the last, as in 1,00,000).
    let groups: Vec<&str> = whole.split(is_mark).collect();
    let grouped_right = groups.len() == 1
        || (!groups[0].is_empty()
            && groups[0].len() <= 3
            && groups[groups.len() - 1].len() == 3
            && groups[1..groups.len() - 1].iter().all(|g| (2..=3).contains(&g.len())));
    let whole: String = groups.concat();
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !grouped_right || !all_digits(&whole) || !all_digits(fraction) || whole.len() > 15 {
        return Err(unreadable());
    }
    if decimal.is_some() && fraction.is_empty() {
        return Err(unreadable());
    }
    if fraction.len() > digits {
        return Err(format!("{currency} has {digits} digits after the decimal mark"));
    }
    let fraction = format!("{fraction:0<digits$}");
    format!("{whole}{fraction}")
        .parse()
        .map_err(|_| "is too large".to_owned())
}

/// An amount typed in major units, in minor units: none when nothing was
/// typed; a field error (on `field`, or on `currency` when it has none)
/// when it cannot be read.
pub fn typed_amount(
    errors: &mut crate::domain::fields::FieldErrors,
    field: &str,
    amount: Option<&str>,
    currency: Option<&str>,
) -> Option<i64> {
    let amount = amount?;
    let Some(currency) = currency else {
        errors.add("currency", "choose the currency of the amount");
        return None;
    };
    parse_amount(amount, currency)
        .map_err(|message| errors.add(field, message))
        .ok()
}

/// A moment as the page shows it: machine-readable for the script that
/// writes it in the viewer's zone, and readable without the script.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub iso: String,
    pub text: String,
}

pub fn stamp(at: DateTime<Utc>) -> Stamp {
    Stamp {
        iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        text: at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// `95.0` → `1 min 35 s`.
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as i64;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
    }
}

/// A proposal as lists show it.
#[derive(Debug, Clone)]
pub struct Card {
    pub id: Uuid,
    pub summary: String,
    pub category: String,
    pub policy_ref: String,
    pub status: &'static str,
    pub amount: Option<String>,
    pub proposer: String,
    pub proposer_team: Option<String>,
    pub endorsements: i32,
    pub required: i32,
    pub filed: Stamp,
    pub expires: Stamp,
    pub decided: Option<Stamp>,
    /// In an inbox: the viewer was asked to co-sign it.
    pub asked: bool,
    /// Signer groups still without an endorser, e.g. "senior".
    pub missing_groups: String,
}

pub fn card(proposal: &Proposal) -> Card {
    Card {
        id: proposal.id,
        summary: proposal.summary.clone(),
        category: proposal.category.clone(),
        policy_ref: proposal.policy_ref.clone(),
        status: proposal.status.as_str(),
        amount: amount_of(proposal.amount_minor, proposal.currency.as_deref()),
        proposer: proposal.proposer_name.clone(),
        proposer_team: proposal.proposer_team.clone(),
        endorsements: proposal.endorsements,
        required: proposal.required_cosigners,
        filed: stamp(proposal.created_at),
        expires: stamp(proposal.expires_at),
        decided: proposal.decided_at.map(stamp),
        asked: false,
        missing_groups: proposal.missing_groups.join(", "),
    }
}

pub fn amount_of(minor: Option<i64>, currency: Option<&str>) -> Option<String> {
    match (minor, currency) {
        (Some(minor), Some(currency)) => Some(money(minor, currency)),
        _ => None,
    }
}

/// A horizontal bar chart, scaled here and drawn by `chart.html`: labels
/// and values are text, each bar a small SVG (readable, and responsive).
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value_text: String,
    /// Width in per mille of the largest bar's.
    pub width: u32,
}

/// Bars for `(label, value, value as text)`, scaled to the largest value.
pub fn chart(title: &str, values: impl IntoIterator<Item = (String, f64, String)>) -> Chart {
    let values: Vec<_> = values.into_iter().collect();
    let largest = values.iter().map(|(_, value, _)| *value).fold(0.0_f64, f64::max);
    let bars = values
        .into_iter()
        .map(|(label, value, value_text)| {
            let width = if largest > 0.0 {
                ((value / largest) * 1000.0)
                    .round()
                    .max(if value > 0.0 { 4.0 } else { 0.0 }) as u32
            } else {
                0
            };
            Bar {
                label,
                value_text,
                width,
            }
        })
        .collect();
    Chart {
        title: title.to_owned(),
        bars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_and_writes_in_major_units() {
        assert_eq!(money(1050, "EUR"), "10.50 EUR");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        assert_eq!(money(1200, "JPY"), "1200 JPY");
        assert_eq!(money(1234, "KWD"), "1.234 KWD");
        assert_eq!(parse_amount("10.5", "EUR"), Ok(1050));
        assert_eq!(parse_amount("1,000.00", "EUR"), Ok(100_000));
        assert_eq!(parse_amount(" 25.00 ", "EUR"), Ok(2500));
        assert_eq!(parse_amount("1200", "JPY"), Ok(1200));
        assert!(parse_amount("1.5", "JPY").is_err());
        assert!(parse_amount("-3", "EUR").is_err());
        assert!(parse_amount("ten", "EUR").is_err());
        assert!(parse_amount("", "EUR").is_err());
    }

    #[test]
    fn a_decimal_comma_is_read_as_decimals_never_dropped() {
        for (typed, minor) in [
            ("25,00", 2500),
            ("25,5", 2550),
            ("49,99", 4999),
            ("0,05", 5),
            ("1.000,50", 100_050),
            ("1,000.50", 100_050),
            ("1 000,50", 100_050),
            ("1\u{a0}000,50", 100_050),
            ("1.000.000", 100_000_000),
            ("1,000,000.00", 100_000_000),
            ("1,00,000", 10_000_000),
            ("1 000", 100_000),
            ("12", 1200),
        ] {
            assert_eq!(parse_amount(typed, "EUR"), Ok(minor), "{typed}");
        }
        // A thousand or a typo: refused, never read as 1,000 nor as 1.00.
        for ambiguous in ["1,000", "1.000", "10.505"] {
            let refused = parse_amount(ambiguous, "EUR").unwrap_err();
            assert!(refused.starts_with("is ambiguous"), "{ambiguous}: {refused}");
        }
        assert_eq!(parse_amount("1.000", "JPY"), Ok(1000));
        assert_eq!(parse_amount("1,000,000", "JPY"), Ok(1_000_000));
        assert!(parse_amount("1,5", "JPY").is_err());
        assert_eq!(parse_amount("1.234", "KWD"), Ok(1234));
        assert_eq!(parse_amount("1,234.5", "KWD"), Ok(1_234_500));
        assert_eq!(parse_amount("12,5", "KWD"), Ok(12_500));
        for refused in [
            "25,", "25.", ",50", "1,0000", "1,000,50", "1.0000,5", "25,00,", "25..0", "2 5", "25,005", "1,2,3",
        ] {
            assert!(parse_amount(refused, "EUR").is_err(), "{refused}");
        }
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(95.0), "1 min 35 s");
        assert_eq!(duration(7260.0), "2 h 1 min");
    }

    #[test]
    fn bars_scale_to_the_largest_value() {
        let drawn = chart(
            "t",
            [
                ("a".to_owned(), 10.0, "10".to_owned()),
                ("b".to_owned(), 5.0, "5".to_owned()),
            ],
        );
        assert_eq!(drawn.bars[0].width, 1000);
        assert_eq!(drawn.bars[1].width, 500);
        assert_eq!(chart("t", []).bars.len(), 0);
    }
}
