//! The simulated payment provider's pay page: where `next_url` sends the resident when no real
//! provider is configured. It stands in for GOV.UK Pay's hosted card page, so, like that page,
//! it is not part of this API's document (and answers 404 when a real provider is configured).

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::domain::payment::format_pence;
use crate::http::ApiError;
use crate::payments::PaymentProvider;
use crate::payments::simulated::{Choice, Simulated};
use crate::state::AppState;

/// Mounts the page (outside the documented routes).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/simulated-pay/{id}", web::get().to(pay_page))
        .route("/simulated-pay/{id}/{choice}", web::post().to(choose));
}

fn simulator(state: &AppState) -> Result<&Simulated, ApiError> {
    match &*state.payments {
        PaymentProvider::Simulated(simulated) => Ok(simulated),
        PaymentProvider::GovUkPay(_) => Err(ApiError::NotFound),
    }
}

/// The page: what is being paid, and three buttons.
async fn pay_page(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let simulated = simulator(&state)?;
    let payment = simulated
        .open(&id)
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?
        .ok_or(ApiError::NotFound)?;
    let what = format!(
        "{} for {}: {}",
        escape(&payment.description),
        escape(&payment.reference),
        format_pence(payment.amount)
    );
    let body = if payment.state.is_finished() {
        format!(
            "<p>{what}</p><p>This payment has ended ({}).</p>",
            payment.state.as_str()
        )
    } else {
        let button = |choice: &str, label: &str| {
            format!(
                "<form method=\"post\" action=\"/simulated-pay/{}/{choice}\"><button type=\"submit\">{label}</button></form>",
                escape(&payment.id)
            )
        };
        format!(
            "<p>{what}</p><p>No card is needed: this is the simulated payment provider.</p>{}{}{}",
            button("pay", "Pay"),
            button("decline", "Decline (the card is refused)"),
            button("cancel", "Cancel")
        )
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Simulated payment</title></head><body><h1>Simulated payment</h1>{body}</body></html>"
        )))
}

/// The resident's choice: the payment finishes, the service hears of it by webhook, and the
/// resident goes back to the frontend.
async fn choose(
    state: web::Data<AppState>,
    path: web::Path<(String, Choice)>,
) -> Result<HttpResponse, ApiError> {
    let (id, choice) = path.into_inner();
    let simulated = simulator(&state)?;
    let return_url = simulated
        .choose(&id, choice)
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, return_url))
        .finish())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
