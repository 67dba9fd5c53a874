//! Channels for electric-vehicle charging cables.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::shared::*;
use super::{Details, ServiceRules};
use crate::domain::validation::ValidationErrors;

/// A channel for an electric-vehicle charging cable across the footway, for businesses.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvCableChannelDetails {
    #[validate(length(min = 1, max = 160))]
    pub business_name: String,
    /// Companies House number: eight digits, or two letters and six digits.
    #[validate(custom(function = "valid_company_number"))]
    pub company_number: String,
    #[validate(nested)]
    #[schema(inline)]
    pub installation: Address,
    /// The approved channel product to be installed.
    #[validate(length(min = 1, max = 100))]
    pub channel_product: String,
    pub installation_date: NaiveDate,
    #[validate(nested)]
    #[schema(inline)]
    pub insurance: Insurance,
}

impl Details for EvCableChannelDetails {
    fn check(&self, rules: &ServiceRules, today: NaiveDate, errors: &mut ValidationErrors) {
        if self.installation_date < today {
            errors.add("details.installation_date", "must not be in the past");
        }
        check_insurance(&self.insurance, self.installation_date, rules, errors);
    }
}
