//! What usage costs: the `usage` table priced by the lake's price sheet,
//! as rows in the columns of the FinOps FOCUS specification (1.0), one
//! charge per usage row and priced quantity (requests, CPU seconds,
//! gigabytes answered, gigabyte-months stored). `ResourceId` is the query,
//! run or repository; `SubAccountId` the tenant; weir's own columns are
//! prefixed `x_` as FOCUS asks.

use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use weir_store::Lake;

use crate::error::{LineageError, Result};
use crate::usage::UsageRow;

/// The lake's setting that holds the price sheet.
const PRICES: (&str, &str) = ("", "costs.prices");

/// Hours in FOCUS's month of storage (365 × 24 / 12).
const HOURS_PER_MONTH: f64 = 730.0;

/// List prices, in `currency`. The defaults are placeholders of the order
/// of public clouds' list prices; set the lake's own with
/// `weir costs prices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub currency: String,
    pub cpu_second: f64,
    pub gb_month_stored: f64,
    pub gb_transferred: f64,
    pub million_requests: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            currency: "USD".into(),
            cpu_second: 0.00005,
            gb_month_stored: 0.023,
            gb_transferred: 0.09,
            million_requests: 0.40,
        }
    }
}

pub fn prices(lake: &Lake) -> Result<Prices> {
    match lake.meta_store().get_setting(PRICES.0, PRICES.1)? {
        None => Ok(Prices::default()),
        Some(t) => serde_json::from_str(&t)
            .map_err(|e| LineageError::InvalidArgument(format!("the lake's price sheet: {e}"))),
    }
}

pub fn set_prices(lake: &Lake, p: &Prices) -> Result<()> {
    let valid = |v: f64| v.is_finite() && v >= 0.0;
    if ![
        p.cpu_second,
        p.gb_month_stored,
        p.gb_transferred,
        p.million_requests,
    ]
    .into_iter()
    .all(valid)
    {
        return Err(LineageError::InvalidArgument(
            "prices are numbers of zero or more".into(),
        ));
    }
    if p.currency.len() != 3 || !p.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(LineageError::InvalidArgument(format!(
            "currency {:?}: an ISO 4217 code such as USD or EUR",
            p.currency
        )));
    }
    let text = serde_json::to_string(p).expect("prices serialise");
    lake.meta_store().put_setting(PRICES.0, PRICES.1, &text)?;
    Ok(())
}

/// One charge, in FOCUS's columns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Charge {
    pub availability_zone: Option<String>,
    pub billed_cost: f64,
    pub billing_account_id: String,
    pub billing_account_name: String,
    pub billing_currency: String,
    pub billing_period_end: String,
    pub billing_period_start: String,
    pub charge_category: String,
    pub charge_class: Option<String>,
    pub charge_description: String,
    pub charge_frequency: String,
    pub charge_period_end: String,
    pub charge_period_start: String,
    pub commitment_discount_category: Option<String>,
    pub commitment_discount_id: Option<String>,
    pub commitment_discount_name: Option<String>,
    pub commitment_discount_status: Option<String>,
    pub commitment_discount_type: Option<String>,
    pub consumed_quantity: f64,
    pub consumed_unit: String,
    pub contracted_cost: f64,
    pub contracted_unit_price: f64,
    pub effective_cost: f64,
    pub invoice_issuer_name: String,
    pub list_cost: f64,
    pub list_unit_price: f64,
    pub pricing_category: String,
    pub pricing_quantity: f64,
    pub pricing_unit: String,
    pub provider_name: String,
    pub publisher_name: String,
    pub region_id: Option<String>,
    pub region_name: Option<String>,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    pub resource_type: Option<String>,
    pub service_category: String,
    pub service_name: String,
    pub sku_id: String,
    pub sku_price_id: String,
    pub sub_account_id: String,
    pub sub_account_name: String,
    pub tags: String,
    #[serde(rename = "x_Surface")]
    pub x_surface: String,
    #[serde(rename = "x_Operation")]
    pub x_operation: String,
    #[serde(rename = "x_User")]
    pub x_user: String,
    #[serde(rename = "x_Repository")]
    pub x_repository: Option<String>,
}

pub fn schema() -> SchemaRef {
    let text = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let num = |n: &str| Field::new(n, DataType::Float64, false);
    let mut fields = Vec::new();
    for (name, kind) in COLUMNS {
        fields.push(match kind {
            'n' => num(name),
            'o' => text(name, true),
            _ => text(name, false),
        });
    }
    Arc::new(Schema::new(fields))
}

/// The columns in order: `n` a number, `s` text, `o` text or null.
const COLUMNS: &[(&str, char)] = &[
    ("AvailabilityZone", 'o'),
    ("BilledCost", 'n'),
    ("BillingAccountId", 's'),
    ("BillingAccountName", 's'),
    ("BillingCurrency", 's'),
    ("BillingPeriodEnd", 's'),
    ("BillingPeriodStart", 's'),
    ("ChargeCategory", 's'),
    ("ChargeClass", 'o'),
    ("ChargeDescription", 's'),
    ("ChargeFrequency", 's'),
    ("ChargePeriodEnd", 's'),
    ("ChargePeriodStart", 's'),
    ("CommitmentDiscountCategory", 'o'),
    ("CommitmentDiscountId", 'o'),
    ("CommitmentDiscountName", 'o'),
    ("CommitmentDiscountStatus", 'o'),
    ("CommitmentDiscountType", 'o'),
    ("ConsumedQuantity", 'n'),
    ("ConsumedUnit", 's'),
    ("ContractedCost", 'n'),
    ("ContractedUnitPrice", 'n'),
    ("EffectiveCost", 'n'),
    ("InvoiceIssuerName", 's'),
    ("ListCost", 'n'),
    ("ListUnitPrice", 'n'),
    ("PricingCategory", 's'),
    ("PricingQuantity", 'n'),
    ("PricingUnit", 's'),
    ("ProviderName", 's'),
    ("PublisherName", 's'),
    ("RegionId", 'o'),
    ("RegionName", 'o'),
    ("ResourceId", 'o'),
    ("ResourceName", 'o'),
    ("ResourceType", 'o'),
    ("ServiceCategory", 's'),
    ("ServiceName", 's'),
    ("SkuId", 's'),
    ("SkuPriceId", 's'),
    ("SubAccountId", 's'),
    ("SubAccountName", 's'),
    ("Tags", 's'),
    ("x_Surface", 's'),
    ("x_Operation", 's'),
    ("x_User", 's'),
    ("x_Repository", 'o'),
];

/// The month a time falls in, as FOCUS billing periods are: its first
/// instant and the next month's.
fn month(t: &str) -> (String, String) {
    let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) else {
        return (t.to_string(), t.to_string());
    };
    use chrono::Datelike;
    let (y, m) = (d.year(), d.month());
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (
        format!("{y:04}-{m:02}-01T00:00:00Z"),
        format!("{ny:04}-{nm:02}-01T00:00:00Z"),
    )
}

fn category(surface: &str) -> &'static str {
    match surface {
        "sql" => "Analytics",
        "stage" => "Compute",
        "decide" => "AI and Machine Learning",
        _ => "Storage",
    }
}

/// The charges of `rows` at `prices`, for the lake `account`.
pub fn charges(rows: &[UsageRow], prices: &Prices, account: &str) -> Vec<Charge> {
    let mut out = Vec::new();
    for r in rows {
        let (bp_start, bp_end) = month(&r.end);
        // (sku, consumed, unit, pricing quantity, pricing unit, unit price)
        let priced = [
            (
                "requests",
                r.requests as f64,
                "Requests",
                r.requests as f64 / 1e6,
                "1M Requests",
                prices.million_requests,
            ),
            (
                "cpu",
                r.cpu_seconds,
                "CPU-Seconds",
                r.cpu_seconds,
                "CPU-Seconds",
                prices.cpu_second,
            ),
            (
                "transfer-out",
                r.bytes_out as f64 / 1e9,
                "GB",
                r.bytes_out as f64 / 1e9,
                "GB",
                prices.gb_transferred,
            ),
            (
                "storage",
                r.byte_hours / 1e9,
                "GB-Hours",
                r.byte_hours / 1e9 / HOURS_PER_MONTH,
                "GB-Months",
                prices.gb_month_stored,
            ),
        ];
        for (sku, consumed, unit, quantity, pricing_unit, price) in priced {
            if consumed <= 0.0 {
                continue;
            }
            let cost = quantity * price;
            let resource = r.resource_id.clone().or_else(|| r.repository.clone());
            let resource_type = match r.surface.as_str() {
                "sql" => Some("Query"),
                "stage" => Some("Pipeline stage"),
                "storage" => Some("Repository"),
                _ => None,
            };
            out.push(Charge {
                availability_zone: None,
                billed_cost: cost,
                billing_account_id: account.to_string(),
                billing_account_name: format!("weir lake {account}"),
                billing_currency: prices.currency.clone(),
                billing_period_end: bp_end.clone(),
                billing_period_start: bp_start.clone(),
                charge_category: "Usage".into(),
                charge_class: None,
                charge_description: format!("{} {} ({sku})", r.surface, r.operation),
                charge_frequency: "Usage-Based".into(),
                charge_period_end: r.end.clone(),
                charge_period_start: r.start.clone(),
                commitment_discount_category: None,
                commitment_discount_id: None,
                commitment_discount_name: None,
                commitment_discount_status: None,
                commitment_discount_type: None,
                consumed_quantity: consumed,
                consumed_unit: unit.into(),
                contracted_cost: cost,
                contracted_unit_price: price,
                effective_cost: cost,
                invoice_issuer_name: "weir".into(),
                list_cost: cost,
                list_unit_price: price,
                pricing_category: "Standard".into(),
                pricing_quantity: quantity,
                pricing_unit: pricing_unit.into(),
                provider_name: "weir".into(),
                publisher_name: "weir".into(),
                region_id: None,
                region_name: None,
                resource_name: resource.clone(),
                resource_id: resource.filter(|_| resource_type.is_some()),
                resource_type: resource_type.map(str::to_string),
                service_category: category(&r.surface).into(),
                service_name: "weir".into(),
                sku_id: sku.into(),
                sku_price_id: format!("{sku}:{price}"),
                sub_account_id: r.tenant.clone(),
                sub_account_name: r.tenant.clone(),
                tags: serde_json::json!({"surface": r.surface, "operation": r.operation})
                    .to_string(),
                x_surface: r.surface.clone(),
                x_operation: r.operation.clone(),
                x_user: r.user.clone(),
                x_repository: r.repository.clone(),
            });
        }
    }
    out
}

/// The charges as one Arrow batch in [`schema`].
pub fn batch(charges: &[Charge]) -> Result<RecordBatch> {
    let schema = schema();
    let mut decoder = deltalake::arrow::json::ReaderBuilder::new(schema.clone()).build_decoder()?;
    decoder.serialize(charges)?;
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

/// The lake's id in cost rows (`BillingAccountId`): its system
/// repository's namespace, which no other lake shares.
pub fn account(lake: &Arc<Lake>) -> String {
    lake.repo(weir_core::names::SYSTEM_REPO)
        .map(|r| r.record().namespace.clone())
        .unwrap_or_else(|_| "lake".into())
}
