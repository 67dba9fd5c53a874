//! Vehicle crossings (dropped kerbs).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::shared::*;
use super::{Details, ServiceRules};
use crate::domain::validation::ValidationErrors;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    Owner,
    /// Not the owner, but with the owner's written consent.
    OwnersConsent,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VehicleType {
    Car,
    Van,
    Motorcycle,
    Other,
}

/// A vehicle crossing / dropped kerb (Highways Act 1980 s.184).
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VehicleCrossingDetails {
    #[validate(nested)]
    #[schema(inline)]
    pub property: Address,
    #[schema(inline)]
    pub ownership: Ownership,
    /// Width of the crossing at the kerb, in metres.
    #[validate(range(min = 2.4, max = 9.0))]
    pub crossing_width_m: f64,
    #[schema(inline)]
    pub vehicle_type: VehicleType,
    /// Needed where the road is classified or the property is a flat or listed building.
    #[validate(length(min = 1, max = 30))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planning_permission_reference: Option<String>,
}

impl Details for VehicleCrossingDetails {
    fn check(&self, _: &ServiceRules, _: NaiveDate, _: &mut ValidationErrors) {}
}
