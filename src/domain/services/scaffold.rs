//! Scaffolding and hoarding licences.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::shared::*;
use super::{Details, ServiceRules};
use crate::domain::validation::ValidationErrors;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScaffoldKind {
    /// Scaffolding (s.169).
    Scaffolding,
    /// A hoarding or fence (s.172).
    Hoarding,
}

/// Size of the structure on the highway, in metres.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dimensions {
    #[validate(range(min = 0.5, max = 200.0))]
    pub length_m: f64,
    #[validate(range(min = 0.3, max = 10.0))]
    pub width_m: f64,
    /// Footway width left clear for pedestrians.
    #[validate(range(min = 0.0, max = 10.0))]
    pub footway_width_left_m: f64,
}

/// Scaffolding or a hoarding on the highway (Highways Act 1980 s.169 / s.172).
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaffoldLicenceDetails {
    #[schema(inline)]
    pub kind: ScaffoldKind,
    #[validate(nested)]
    #[schema(inline)]
    pub site: Address,
    #[validate(nested)]
    #[schema(inline)]
    pub dimensions: Dimensions,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    #[validate(nested)]
    #[schema(inline)]
    pub contractor: Contact,
    #[validate(nested)]
    #[schema(inline)]
    pub insurance: Insurance,
}

impl Details for ScaffoldLicenceDetails {
    fn check(&self, rules: &ServiceRules, today: NaiveDate, errors: &mut ValidationErrors) {
        check_period(
            self.start_date,
            self.end_date,
            rules.scaffold_max_days,
            today,
            errors,
        );
        check_insurance(&self.insurance, self.end_date, rules, errors);
    }
}
