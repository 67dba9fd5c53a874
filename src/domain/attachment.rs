//! Documents attached to an application: their kinds, the file types the council accepts (judged
//! by content, never by name), and what becomes of the uploader's file name.

use serde::{Deserialize, Serialize};

/// What a document is for. Each service lists the kinds it requires before approval.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    InsuranceCertificate,
    SitePlan,
    WasteCarrierLicence,
    TrafficManagementPlan,
}

impl AttachmentKind {
    pub const ALL: [AttachmentKind; 4] = [
        AttachmentKind::InsuranceCertificate,
        AttachmentKind::SitePlan,
        AttachmentKind::WasteCarrierLicence,
        AttachmentKind::TrafficManagementPlan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::InsuranceCertificate => "insurance_certificate",
            AttachmentKind::SitePlan => "site_plan",
            AttachmentKind::WasteCarrierLicence => "waste_carrier_licence",
            AttachmentKind::TrafficManagementPlan => "traffic_management_plan",
        }
    }

    pub fn parse(text: &str) -> Option<AttachmentKind> {
        AttachmentKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

super::parsed_from_text!(AttachmentKind, "attachment kind");

/// The file types accepted, as their content shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Pdf,
    Png,
    Jpeg,
}

/// Bytes needed from the start of a file to tell its type.
pub const SNIFF_BYTES: usize = 8;

impl FileType {
    /// The type of a file that starts with `head` (its first `SNIFF_BYTES` bytes, or all of a
    /// shorter file); `None` for anything else, whatever it is called.
    pub fn sniff(head: &[u8]) -> Option<FileType> {
        match infer::get(head)?.mime_type() {
            "application/pdf" => Some(FileType::Pdf),
            "image/png" => Some(FileType::Png),
            "image/jpeg" => Some(FileType::Jpeg),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::Png => "image/png",
            FileType::Jpeg => "image/jpeg",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileType::Pdf => "pdf",
            FileType::Png => "png",
            FileType::Jpeg => "jpg",
        }
    }
}

/// Longest stored file name, extension included.
pub const MAX_FILENAME_CHARS: usize = 100;

/// The name a file is stored and offered under: the last part of the uploader's name (no folders),
/// letters, digits, spaces, dots, hyphens and underscores only, and the extension of its real
/// type, so a PNG called `plan.pdf` downloads as `plan.png`. Never empty, never hidden.
pub fn stored_filename(uploaded: &str, file_type: FileType) -> String {
    let base = uploaded.rsplit(['/', '\\']).next().unwrap_or_default();
    let stem = match base.rsplit_once('.') {
        Some((stem, _extension)) if !stem.is_empty() => stem,
        _ => base,
    };
    let mut clean = String::new();
    for c in stem.chars() {
        let keep = c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_');
        let c = if keep && !c.is_control() { c } else { '_' };
        if !(c == '_' && clean.ends_with('_')) {
            clean.push(c);
        }
    }
    let extension = file_type.extension();
    let stem: String = clean
        .trim_matches(|c: char| c == '.' || c == ' ' || c == '_')
        .chars()
        .take(MAX_FILENAME_CHARS - extension.len() - 1)
        .collect();
    let stem = stem.trim_end_matches(['.', ' ']);
    let stem = if stem.is_empty() { "document" } else { stem };
    format!("{stem}.{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.7\n";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF";

    #[test]
    fn types_are_judged_by_content() {
        assert_eq!(FileType::sniff(PDF), Some(FileType::Pdf));
        assert_eq!(FileType::sniff(PNG), Some(FileType::Png));
        assert_eq!(FileType::sniff(JPEG), Some(FileType::Jpeg));
        for refused in [
            &b"MZ\x90\0\x03\0\0\0"[..], // a Windows executable
            b"\x7fELF\x02\x01\x01\0",   // a Linux one
            b"PK\x03\x04\x14\0\0\0",    // a zip (and every Office file)
            b"GIF89a\x01\0",            // an image, but not one we take
            b"<html><script>",          // text
            b"",
            b"%PD",
        ] {
            assert_eq!(FileType::sniff(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn file_names_are_cleaned_and_get_their_real_extension() {
        let cases = [
            ("site plan.pdf", FileType::Pdf, "site plan.pdf"),
            ("plan.pdf", FileType::Png, "plan.png"),
            ("photo.PNG", FileType::Jpeg, "photo.jpg"),
            ("../../etc/passwd", FileType::Pdf, "passwd.pdf"),
            (
                "C:\\Users\\jo\\insurance.pdf",
                FileType::Pdf,
                "insurance.pdf",
            ),
            (".htaccess", FileType::Pdf, "htaccess.pdf"),
            ("", FileType::Pdf, "document.pdf"),
            ("a\"b;c\r\nd<e>.pdf", FileType::Pdf, "a_b_c_d_e.pdf"),
            ("évaluation 2026.pdf", FileType::Pdf, "évaluation 2026.pdf"),
            ("report.tar.gz", FileType::Pdf, "report.tar.pdf"),
            ("...", FileType::Png, "document.png"),
        ];
        for (uploaded, file_type, expected) in cases {
            assert_eq!(
                stored_filename(uploaded, file_type),
                expected,
                "{uploaded:?}"
            );
        }
        let long = "x".repeat(500) + ".pdf";
        let stored = stored_filename(&long, FileType::Pdf);
        assert_eq!(stored.chars().count(), MAX_FILENAME_CHARS);
        assert!(stored.ends_with(".pdf"));
    }

    #[test]
    fn kinds_round_trip() {
        for kind in AttachmentKind::ALL {
            assert_eq!(AttachmentKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AttachmentKind::parse("passport"), None);
    }
}
