//! Skip permits.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::shared::*;
use super::{Details, ServiceRules};
use crate::domain::validation::ValidationErrors;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipLocation {
    Carriageway,
    ParkingBay,
    Footway,
    Verge,
}

/// A skip on the highway (Highways Act 1980 s.139).
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipPermitDetails {
    #[validate(nested)]
    #[schema(inline)]
    pub site: Address,
    /// Where on the highway the skip will stand.
    #[schema(inline)]
    pub location: SkipLocation,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    #[validate(range(min = 2, max = 40))]
    pub skip_size_cubic_yards: u8,
    /// The skip company.
    #[validate(nested)]
    #[schema(inline)]
    pub operator: Contact,
    #[validate(nested)]
    #[schema(inline)]
    pub insurance: Insurance,
    /// The operator will light and guard the skip as the permit requires. Must be `true`.
    pub lighting_and_guarding_confirmed: bool,
}

impl Details for SkipPermitDetails {
    fn check(&self, rules: &ServiceRules, today: NaiveDate, errors: &mut ValidationErrors) {
        check_period(
            self.start_date,
            self.end_date,
            rules.skip_max_days,
            today,
            errors,
        );
        check_insurance(&self.insurance, self.end_date, rules, errors);
        if !self.lighting_and_guarding_confirmed {
            errors.add(
                "details.lighting_and_guarding_confirmed",
                "must be true: a skip on the highway must be lit and guarded",
            );
        }
    }
}
