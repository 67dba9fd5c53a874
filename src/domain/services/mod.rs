//! The highway services residents and businesses apply for, and the `details` each one needs —
//! only what the council needs to decide (data minimisation). Names, fees and target times are
//! data in the `services` table; the shape and rules of each service's details are code, here.

use chrono::{Days, NaiveDate};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::PartialSchema;
use validator::Validate;

use super::attachment::AttachmentKind;
use super::validation::{ValidationErrors, from_json_value, from_validator};

/// Rules that depend on council policy, from configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceRules {
    /// Minimum public-liability cover, in pence (£5 million by default).
    pub min_insurance_cover_pence: i64,
    /// Longest period a skip may stay on the highway under one permit.
    pub skip_max_days: u32,
    /// Longest period of one scaffolding or hoarding licence.
    pub scaffold_max_days: u32,
}

/// The services with a details type. A catalogue row whose code is not here is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    SkipPermit,
    ScaffoldLicence,
    VehicleCrossing,
    EvCableChannel,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 4] = [
        ServiceKind::SkipPermit,
        ServiceKind::ScaffoldLicence,
        ServiceKind::VehicleCrossing,
        ServiceKind::EvCableChannel,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ServiceKind::SkipPermit => "skip-permit",
            ServiceKind::ScaffoldLicence => "scaffold-licence",
            ServiceKind::VehicleCrossing => "vehicle-crossing",
            ServiceKind::EvCableChannel => "ev-cable-channel",
        }
    }

    pub fn from_code(code: &str) -> Option<ServiceKind> {
        ServiceKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The documents an application must carry before it can be approved.
    pub fn required_attachments(self) -> &'static [AttachmentKind] {
        use AttachmentKind::*;
        match self {
            ServiceKind::SkipPermit => &[InsuranceCertificate, WasteCarrierLicence],
            ServiceKind::ScaffoldLicence => {
                &[InsuranceCertificate, SitePlan, TrafficManagementPlan]
            }
            ServiceKind::VehicleCrossing => &[SitePlan],
            ServiceKind::EvCableChannel => &[InsuranceCertificate, SitePlan],
        }
    }

    /// The address the permit covers, from stored `details` (absent once they are erased).
    pub fn site(self, details: &serde_json::Value) -> Option<Address> {
        let field = match self {
            ServiceKind::SkipPermit | ServiceKind::ScaffoldLicence => "site",
            ServiceKind::VehicleCrossing => "property",
            ServiceKind::EvCableChannel => "installation",
        };
        serde_json::from_value(details.get(field)?.clone()).ok()
    }

    /// The first day the permit allows work on the highway: the day applied for, or the day it
    /// was issued if that is later.
    pub fn permit_valid_from(self, details: &serde_json::Value, issued_on: NaiveDate) -> NaiveDate {
        let field = match self {
            ServiceKind::SkipPermit | ServiceKind::ScaffoldLicence => "start_date",
            ServiceKind::EvCableChannel => "installation_date",
            ServiceKind::VehicleCrossing => return issued_on,
        };
        details
            .get(field)
            .and_then(|d| d.as_str()?.parse::<NaiveDate>().ok())
            .map_or(issued_on, |start| start.max(issued_on))
    }

    /// The conditions printed on the permit, which the holder must keep to on site.
    pub fn permit_conditions(self) -> &'static [&'static str] {
        match self {
            ServiceKind::SkipPermit => &[
                "The skip must be lit at night and marked with traffic cones and reflective markings.",
                "The skip must not obstruct drains, access to premises or the free flow of traffic and pedestrians.",
                "The owner's name and telephone number must be clearly shown on the skip.",
                "Keep this permit available for inspection by a council officer.",
            ],
            ServiceKind::ScaffoldLicence => &[
                "Keep a clear footway of at least 1.2 metres, or the diversion agreed with the council.",
                "Scaffolding must be lit at night and fitted with protective fans and padding at head height.",
                "Follow the traffic management plan supplied with the application.",
                "Keep this licence available for inspection by a council officer.",
            ],
            ServiceKind::VehicleCrossing => &[
                "The crossing must be built by a contractor approved by Norfolk County Council.",
                "Give the council 10 working days' notice before work starts.",
                "Keep this permit available for inspection by a council officer.",
            ],
            ServiceKind::EvCableChannel => &[
                "Only the approved channel product may be installed, flush with the footway.",
                "Cables must be laid only in the channel and removed when not charging.",
                "Keep the channel clean and in good repair; report damage to the council.",
                "Keep this permit available for inspection by a council officer.",
            ],
        }
    }

    /// Parses and checks `details`; returns them in canonical form (as they will be stored).
    pub fn parse_details(
        self,
        details: serde_json::Value,
        rules: &ServiceRules,
        today: NaiveDate,
    ) -> Result<serde_json::Value, ValidationErrors> {
        match self {
            ServiceKind::SkipPermit => checked::<SkipPermitDetails>(details, rules, today),
            ServiceKind::ScaffoldLicence => {
                checked::<ScaffoldLicenceDetails>(details, rules, today)
            }
            ServiceKind::VehicleCrossing => {
                checked::<VehicleCrossingDetails>(details, rules, today)
            }
            ServiceKind::EvCableChannel => checked::<EvCableChannelDetails>(details, rules, today),
        }
    }

    /// JSON Schema (2020-12) of this service's `details`, generated from the Rust type.
    pub fn details_schema(self) -> serde_json::Value {
        let schema = match self {
            ServiceKind::SkipPermit => SkipPermitDetails::schema(),
            ServiceKind::ScaffoldLicence => ScaffoldLicenceDetails::schema(),
            ServiceKind::VehicleCrossing => VehicleCrossingDetails::schema(),
            ServiceKind::EvCableChannel => EvCableChannelDetails::schema(),
        };
        let mut value = serde_json::to_value(schema).expect("a schema serialises");
        value["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
        value
    }

    /// A valid `details`, with dates relative to `today`, for forms and tests.
    pub fn details_example(self, rules: &ServiceRules, today: NaiveDate) -> serde_json::Value {
        let start = today + Days::new(7);
        let insurance = || Insurance {
            insurer: "Broadland Mutual Insurance".into(),
            policy_number: "PL-123456".into(),
            cover_pence: rules.min_insurance_cover_pence,
            expires_on: today + Days::new(365),
        };
        let site = || Address {
            line1: "1 Market Place".into(),
            line2: None,
            town: "Norwich".into(),
            postcode: "NR2 1NH".into(),
        };
        let value = match self {
            ServiceKind::SkipPermit => serde_json::to_value(SkipPermitDetails {
                site: site(),
                location: SkipLocation::ParkingBay,
                start_date: start,
                end_date: start + Days::new(6),
                skip_size_cubic_yards: 6,
                operator: Contact {
                    name: "Norfolk Skips Ltd".into(),
                    phone: "01603 000000".into(),
                    email: "bookings@norfolk-skips.example".into(),
                },
                insurance: insurance(),
                lighting_and_guarding_confirmed: true,
            }),
            ServiceKind::ScaffoldLicence => serde_json::to_value(ScaffoldLicenceDetails {
                kind: ScaffoldKind::Scaffolding,
                site: site(),
                dimensions: Dimensions {
                    length_m: 12.0,
                    width_m: 1.5,
                    footway_width_left_m: 1.8,
                },
                start_date: start,
                end_date: start + Days::new(41),
                contractor: Contact {
                    name: "Anglia Scaffolding Ltd".into(),
                    phone: "01603 111111".into(),
                    email: "office@anglia-scaffolding.example".into(),
                },
                insurance: insurance(),
            }),
            ServiceKind::VehicleCrossing => serde_json::to_value(VehicleCrossingDetails {
                property: site(),
                ownership: Ownership::Owner,
                crossing_width_m: 3.6,
                vehicle_type: VehicleType::Car,
                planning_permission_reference: None,
            }),
            ServiceKind::EvCableChannel => serde_json::to_value(EvCableChannelDetails {
                business_name: "Norwich Deliveries Ltd".into(),
                company_number: "01234567".into(),
                installation: site(),
                channel_product: "Kerbo Charge cable channel".into(),
                installation_date: start,
                insurance: insurance(),
            }),
        };
        value.expect("an example serialises")
    }
}

/// The rules a details type adds beyond its field-by-field checks.
pub(super) trait Details: DeserializeOwned + Serialize + Validate {
    fn check(&self, rules: &ServiceRules, today: NaiveDate, errors: &mut ValidationErrors);
}

fn checked<T: Details>(
    details: serde_json::Value,
    rules: &ServiceRules,
    today: NaiveDate,
) -> Result<serde_json::Value, ValidationErrors> {
    let parsed: T = from_json_value(details, "details")?;
    let mut errors = match parsed.validate() {
        Ok(()) => ValidationErrors::default(),
        Err(e) => from_validator("details", &e),
    };
    parsed.check(rules, today, &mut errors);
    errors.into_result()?;
    Ok(serde_json::to_value(parsed).expect("details serialise"))
}

mod crossing;
mod ev_channel;
mod scaffold;
mod shared;
mod skip;

pub use crossing::*;
pub use ev_channel::*;
pub use scaffold::*;
pub use shared::*;
pub use skip::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> ServiceRules {
        ServiceRules {
            min_insurance_cover_pence: 500_000_000,
            skip_max_days: 28,
            scaffold_max_days: 182,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn fields(result: Result<serde_json::Value, ValidationErrors>) -> Vec<String> {
        result.unwrap_err().0.into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn every_example_is_valid() {
        for kind in ServiceKind::ALL {
            let example = kind.details_example(&rules(), today());
            let parsed = kind.parse_details(example.clone(), &rules(), today());
            assert_eq!(
                parsed.as_ref().ok(),
                Some(&example),
                "{}: {parsed:?}",
                kind.code()
            );
        }
    }

    #[test]
    fn schemas_are_2020_12_objects_that_refuse_extra_fields() {
        for kind in ServiceKind::ALL {
            let schema = kind.details_schema();
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            assert_eq!(schema["type"], "object", "{}", kind.code());
            assert_eq!(
                schema["additionalProperties"],
                false,
                "{}: {schema}",
                kind.code()
            );
            assert!(
                !schema.to_string().contains("$ref"),
                "{}: nested types are inlined",
                kind.code()
            );
        }
    }

    #[test]
    fn skip_permit_rules() {
        let kind = ServiceKind::SkipPermit;
        let mut details = kind.details_example(&rules(), today());
        details["start_date"] = json!("2026-11-22");
        details["end_date"] = json!("2026-11-21");
        details["insurance"]["cover_pence"] = json!(100);
        details["lighting_and_guarding_confirmed"] = json!(false);
        details["site"]["postcode"] = json!("NOT A CODE");
        details["operator"]["email"] = json!("nope");
        let mut got = fields(kind.parse_details(details, &rules(), today()));
        got.sort();
        assert_eq!(
            got,
            [
                "details.end_date",
                "details.insurance.cover_pence",
                "details.lighting_and_guarding_confirmed",
                "details.operator.email",
                "details.site.postcode",
                "details.start_date",
            ]
        );
    }

    #[test]
    fn whole_numbers_written_with_a_point_are_whole_numbers() {
        let kind = ServiceKind::SkipPermit;
        let example = kind.details_example(&rules(), today());
        let mut details = example.clone();
        details["skip_size_cubic_yards"] = json!(6.0);
        details["insurance"]["cover_pence"] = json!(500_000_000.0);
        assert_eq!(
            kind.parse_details(details, &rules(), today()).unwrap(),
            example
        );
        let mut details = example.clone();
        details["skip_size_cubic_yards"] = json!(6.5);
        assert_eq!(
            fields(kind.parse_details(details, &rules(), today())),
            ["details.skip_size_cubic_yards"]
        );
        // A fractional field takes a whole number as it is.
        let kind = ServiceKind::VehicleCrossing;
        let mut details = kind.details_example(&rules(), today());
        details["crossing_width_m"] = json!(4);
        assert!(kind.parse_details(details, &rules(), today()).is_ok());
    }

    #[test]
    fn periods_longer_than_the_maximum_are_refused() {
        let kind = ServiceKind::SkipPermit;
        let mut details = kind.details_example(&rules(), today());
        details["start_date"] = json!("2026-12-01");
        details["end_date"] = json!("2026-12-28");
        assert!(
            kind.parse_details(details.clone(), &rules(), today())
                .is_ok(),
            "28 days inclusive"
        );
        details["end_date"] = json!("2026-12-29");
        assert_eq!(
            fields(kind.parse_details(details, &rules(), today())),
            ["details.end_date"]
        );
    }

    #[test]
    fn unknown_fields_and_wrong_types_name_their_path() {
        let kind = ServiceKind::VehicleCrossing;
        let mut details = kind.details_example(&rules(), today());
        details["owner_date_of_birth"] = json!("1980-01-01");
        assert_eq!(
            fields(kind.parse_details(details, &rules(), today())),
            ["details.owner_date_of_birth"]
        );
        let mut details = kind.details_example(&rules(), today());
        details["property"]["country"] = json!("UK");
        assert_eq!(
            fields(kind.parse_details(details, &rules(), today())),
            ["details.property.country"]
        );
        let mut details = kind.details_example(&rules(), today());
        details["crossing_width_m"] = json!("wide");
        assert_eq!(
            fields(kind.parse_details(details, &rules(), today())),
            ["details.crossing_width_m"]
        );
        let mut details = kind.details_example(&rules(), today());
        details["crossing_width_m"] = json!(1.0);
        assert_eq!(
            fields(kind.parse_details(details, &rules(), today())),
            ["details.crossing_width_m"]
        );
        assert_eq!(
            fields(kind.parse_details(json!("text"), &rules(), today())),
            ["details"]
        );
    }

    #[test]
    fn postcodes() {
        for good in [
            "NR1 2DH", "nr12dh", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A 0AX", "EC1A 1BB",
            "GIR 0AA",
        ] {
            assert!(valid_postcode(good).is_ok(), "{good}");
        }
        for bad in [
            "", "NR1", "12345", "NR1 2D", "NRR1 2DH", "1R1 2DH", "NR1 22H",
        ] {
            assert!(valid_postcode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_and_company_numbers() {
        assert!(valid_phone("+44 (0)1603 222222").is_ok());
        assert!(valid_phone("call me").is_err());
        assert!(valid_phone("123").is_err());
        assert!(valid_company_number("01234567").is_ok());
        assert!(valid_company_number("SC123456").is_ok());
        assert!(valid_company_number("1234567").is_err());
        assert!(valid_company_number("sc123456").is_err());
    }
}
