//! weir's statistical SQL functions, registered in every session; see
//! docs/sql-functions.md for each signature with an example.

mod calendar;
mod decision;
mod forecast;
mod metrics;

use deltalake::datafusion::logical_expr::AggregateUDF;
use deltalake::datafusion::prelude::SessionContext;

pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::from(forecast::ForecastUdaf::new(false)));
    ctx.register_udaf(AggregateUDF::from(forecast::ForecastUdaf::new(true)));
    for m in metrics::Metric::ALL {
        ctx.register_udaf(AggregateUDF::from(metrics::MetricUdaf::new(m)));
    }
    ctx.register_udaf(AggregateUDF::from(metrics::ScaleUdaf::new(false)));
    ctx.register_udaf(AggregateUDF::from(metrics::ScaleUdaf::new(true)));
    for f in decision::udfs() {
        ctx.register_udf(f);
    }
}
