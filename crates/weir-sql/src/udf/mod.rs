//! weir's statistical SQL functions, registered in every session; see
//! docs/sql-functions.md for each signature with an example.

mod anomaly;
mod calendar;
mod decision;
mod drift;
mod forecast;
mod metrics;

use std::sync::Arc;

use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::logical_expr::{AggregateUDF, WindowUDF};
use deltalake::datafusion::physical_expr::PhysicalExpr;
use deltalake::datafusion::physical_expr::expressions::Literal;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::scalar::ScalarValue;

pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::from(forecast::ForecastUdaf::new(false)));
    ctx.register_udaf(AggregateUDF::from(forecast::ForecastUdaf::new(true)));
    for m in metrics::Metric::ALL {
        ctx.register_udaf(AggregateUDF::from(metrics::MetricUdaf::new(m)));
    }
    ctx.register_udaf(AggregateUDF::from(metrics::ScaleUdaf::new(false)));
    ctx.register_udaf(AggregateUDF::from(metrics::ScaleUdaf::new(true)));
    ctx.register_udaf(AggregateUDF::from(drift::DriftUdaf::new(false)));
    ctx.register_udaf(AggregateUDF::from(drift::DriftUdaf::new(true)));
    ctx.register_udaf(AggregateUDF::from(drift::ResidualTestUdaf::new(true)));
    ctx.register_udaf(AggregateUDF::from(drift::ResidualTestUdaf::new(false)));
    ctx.register_udwf(WindowUDF::from(anomaly::AnomalyUdwf::new(false)));
    ctx.register_udwf(WindowUDF::from(anomaly::AnomalyUdwf::new(true)));
    for f in decision::udfs() {
        ctx.register_udf(f);
    }
}

/// The value of a constant argument (after DataFusion's constant folding).
pub(crate) fn literal(e: &Arc<dyn PhysicalExpr>) -> Option<ScalarValue> {
    e.downcast_ref::<Literal>().map(|l| l.value().clone())
}

pub(crate) fn plan_err<T>(msg: String) -> Result<T> {
    Err(DataFusionError::Plan(msg))
}
