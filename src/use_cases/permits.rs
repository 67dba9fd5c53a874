//! Issued permits: the document the holder keeps on site, and the check anyone holding it (an
//! enforcement officer on the street) can make with its verification code, which shows no
//! personal data.

use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;

use super::{Error, owned_application};
use crate::auth::signed::Signer;
use crate::db::applications::{self as store, Application};
use crate::db::ids::{AccountId, ApplicationId};
use crate::domain::application::Status;
use crate::domain::deadlines::uk_today;
use crate::domain::services::ServiceKind;
use crate::permit_pdf::PermitDocument;

/// One of `owner`'s permits, ready to render: 404 if the application is not theirs, 409 until
/// it has been issued.
pub async fn document(
    conn: &mut AsyncPgConnection,
    signer: &Signer,
    public_url: &str,
    owner: AccountId,
    id: ApplicationId,
) -> Result<PermitDocument, Error> {
    let application = owned_application(conn, owner, id).await?;
    let Some(issued_at) = application.issued_at else {
        return Err(Error::Conflict(format!(
            "a permit exists once the application is issued (it is {})",
            application.status.as_str()
        )));
    };
    let kind = ServiceKind::from_code(&application.service_code).ok_or(Error::NotFound)?;
    let service = store::active_service(conn, &application.service_code)
        .await?
        .map_or_else(|| application.service_code.clone(), |s| s.name);
    let details = application.details.parse().unwrap_or_default();
    let issued_on = uk_today(issued_at);
    let code = signer.permit_code(&application.reference);
    let site = kind
        .site(&details)
        .map(|a| {
            let mut lines = vec![a.line1];
            lines.extend(a.line2);
            lines.push(format!("{} {}", a.town, a.postcode));
            lines
        })
        .unwrap_or_default();
    Ok(PermitDocument {
        check_url: format!(
            "{}/api/v1/permits/{}?code={code}",
            public_url.trim_end_matches('/'),
            application.reference
        ),
        reference: application.reference.clone(),
        service,
        site,
        issued_on,
        valid_from: kind.permit_valid_from(&details, issued_on),
        valid_to: application.licence_expires_on,
        status: status_words(&application).to_owned(),
        conditions: kind
            .permit_conditions()
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        verification_code: code,
    })
}

/// What a permit check shows: the permit's facts, and nothing about its holder.
#[derive(Debug)]
pub struct PermitCheck {
    pub reference: String,
    pub service: String,
    pub status: Status,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    /// `None` once the holder's data has been erased.
    pub site_postcode: Option<String>,
}

/// Checks the permit `reference` against the `code` printed on it. An unknown reference, one
/// never issued and a wrong code are the same 404, so the check reveals nothing without the code.
pub async fn check(
    conn: &mut AsyncPgConnection,
    signer: &Signer,
    reference: &str,
    code: &str,
) -> Result<PermitCheck, Error> {
    // The code is checked first and whatever the reference, so timing says nothing either.
    let code_matches = signer.permit_code_matches(reference, code);
    let application = store::find_issued(conn, reference).await?;
    let (Some(application), true) = (application, code_matches) else {
        return Err(Error::NotFound);
    };
    let kind = ServiceKind::from_code(&application.service_code).ok_or(Error::NotFound)?;
    let details = application.details.parse().unwrap_or_default();
    let issued_on = uk_today(application.issued_at.ok_or(Error::NotFound)?);
    Ok(PermitCheck {
        valid_from: kind.permit_valid_from(&details, issued_on),
        site_postcode: kind.site(&details).map(|a| a.postcode),
        reference: application.reference,
        service: application.service_code,
        status: application.status,
        valid_to: application.licence_expires_on,
    })
}

/// The permit's standing in words, for the document.
fn status_words(application: &Application) -> &'static str {
    match application.status {
        Status::Issued => "issued: in force for the dates below",
        Status::Closed => "closed: no longer in force",
        _ => application.status.describe(),
    }
}
