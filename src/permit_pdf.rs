//! The issued permit as a one-page A4 PDF, the document the holder keeps on site: the council, the
//! reference, the service, the site, the dates, the conditions, and the verification code with
//! the address where an officer checks it. Written with `pdf-writer` in the standard Helvetica
//! font (nothing embedded); text is in the page as plain strings, so the PDF is searchable.

use chrono::NaiveDate;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// What the permit says.
#[derive(Debug, Clone)]
pub struct PermitDocument {
    pub reference: String,
    pub service: String,
    /// The site's address lines; empty once the applicant's data has been erased.
    pub site: Vec<String>,
    pub issued_on: NaiveDate,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub status: String,
    pub conditions: Vec<String>,
    pub verification_code: String,
    /// Where the permit can be checked (the public check address with its code).
    pub check_url: String,
}

const A4: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;
/// Characters per line of body text at 10.5 pt Helvetica across the page.
const WRAP: usize = 92;

pub fn render(permit: &PermitDocument) -> Vec<u8> {
    let (catalog, pages, page, regular, bold, contents) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
        Ref::new(6),
    );
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page]).count(1);
    let mut page_writer = pdf.page(page);
    page_writer
        .media_box(Rect::new(0.0, 0.0, A4.0, A4.1))
        .parent(pages)
        .contents(contents);
    page_writer
        .resources()
        .fonts()
        .pair(Name(b"F1"), regular)
        .pair(Name(b"F2"), bold);
    page_writer.finish();
    for (id, name) in [(regular, &b"Helvetica"[..]), (bold, b"Helvetica-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }

    let mut page_text = Writer::new();
    page_text.line(b"F2", 20.0, "Norfolk County Council");
    page_text.line(b"F1", 13.0, &format!("Highways: {}", permit.service));
    page_text.gap(10.0);
    page_text.line(b"F2", 16.0, &format!("Permit {}", permit.reference));
    page_text.gap(6.0);
    let date = |d: NaiveDate| d.format("%-d %B %Y").to_string();
    let facts = [
        ("Status", permit.status.clone()),
        ("Issued on", date(permit.issued_on)),
        ("Valid from", date(permit.valid_from)),
        (
            "Valid until",
            permit
                .valid_to
                .map_or_else(|| "the end of the works".to_owned(), date),
        ),
    ];
    for (label, value) in facts {
        page_text.line(b"F1", 11.0, &format!("{label}: {value}"));
    }
    page_text.gap(6.0);
    page_text.line(b"F2", 12.0, "Site");
    if permit.site.is_empty() {
        page_text.line(
            b"F1",
            10.5,
            "(not shown: the holder's data has been erased)",
        );
    }
    for line in &permit.site {
        page_text.line(b"F1", 10.5, line);
    }
    page_text.gap(6.0);
    page_text.line(b"F2", 12.0, "Conditions");
    for (n, condition) in permit.conditions.iter().enumerate() {
        for (i, part) in wrap(&format!("{}. {condition}", n + 1), WRAP)
            .iter()
            .enumerate()
        {
            let indent = if i == 0 { "" } else { "    " };
            page_text.line(b"F1", 10.5, &format!("{indent}{part}"));
        }
    }
    page_text.gap(10.0);
    page_text.line(
        b"F2",
        12.0,
        &format!("Verification code: {}", permit.verification_code),
    );
    page_text.line(b"F1", 10.0, "Council officers can check this permit at:");
    for part in wrap(&permit.check_url, WRAP) {
        page_text.line(b"F1", 10.0, &part);
    }
    page_text.gap(6.0);
    page_text.line(
        b"F1",
        9.0,
        "Keep this permit on site. It does not permit any work not described above.",
    );
    pdf.stream(contents, &page_text.finish());
    pdf.finish()
}

/// Lines of text down the page, top to bottom.
struct Writer {
    content: Content,
    y: f32,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            content: Content::new(),
            y: A4.1 - MARGIN,
        }
    }

    fn line(&mut self, font: &[u8], size: f32, text: &str) {
        self.y -= size * 1.35;
        self.content
            .begin_text()
            .set_font(Name(font), size)
            .next_line(MARGIN, self.y)
            .show(Str(&win_ansi(text)))
            .end_text();
    }

    fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    fn finish(self) -> Vec<u8> {
        self.content.finish().to_vec()
    }
}

/// `text` in the fonts' WinAnsi encoding: Latin-1 and the usual punctuation; anything else `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '€' => 0x80,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            c if (c as u32) < 0x80 && !c.is_control() => c as u8,
            c if (0xA0..=0xFF).contains(&(c as u32)) => c as u32 as u8,
            _ => b'?',
        })
        .collect()
}

/// `text` broken at spaces into lines of at most `width` characters (a longer word is cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_owned();
        while word.chars().count() > width {
            let cut: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(cut);
        }
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_encoded_for_the_standard_fonts() {
        assert_eq!(win_ansi("Siân £45 – ok"), b"Si\xe2n \xa345 \x96 ok");
        assert_eq!(win_ansi("Łódź 東"), b"?\xf3d? ?");
    }

    #[test]
    fn long_text_wraps_at_spaces_and_long_words_are_cut() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), Vec::<String>::new());
    }

    #[test]
    fn a_permit_renders_as_a_pdf() {
        let pdf = render(&PermitDocument {
            reference: "SKP-2026-000042".into(),
            service: "Skip permit".into(),
            site: vec!["1 Market Place".into(), "Norwich NR2 1NH".into()],
            issued_on: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            valid_from: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
            valid_to: NaiveDate::from_ymd_opt(2026, 12, 20),
            status: "issued".into(),
            conditions: vec!["Keep it lit.".into()],
            verification_code: "ABCDE12345".into(),
            check_url: "https://api.example/api/v1/permits/SKP-2026-000042?code=ABCDE12345".into(),
        });
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.ends_with(b"%%EOF\n") || pdf.ends_with(b"%%EOF"));
    }
}
