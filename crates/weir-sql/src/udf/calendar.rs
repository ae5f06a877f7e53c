//! Time axes of series: `ds` values as integers, the series' frequency
//! inferred from them, and future `ds` values on that calendar.

use deltalake::arrow::array::{
    ArrayRef, AsArray, Date32Array, Date64Array, Int64Array, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use deltalake::datafusion::error::{DataFusionError, Result};

/// Can this type be a time axis?
pub fn is_time_axis(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    ) || t.is_integer()
}

/// The type a `ds` argument is coerced to: time axes as they are, dates
/// kept as text (JSON, some CSVs) parsed as timestamps; a plan error
/// naming `function` otherwise.
pub fn coerce_axis(function: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
        }
        t if is_time_axis(t) => Ok(t.clone()),
        t => Err(DataFusionError::Plan(format!(
            "{function}: ds must be a date, timestamp or integer, not {t}"
        ))),
    }
}

/// Step between observations.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    /// A fixed number of the axis' native units.
    Fixed(i64),
    /// Calendar months (1 monthly, 3 quarterly, 12 yearly).
    Months(i32),
}

/// Units per day of the axis' native representation (None for plain integers).
fn units_per_day(t: &DataType) -> Option<i64> {
    match t {
        DataType::Date32 => Some(1),
        DataType::Date64 => Some(86_400_000),
        DataType::Timestamp(TimeUnit::Second, _) => Some(86_400),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Some(86_400_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Some(86_400_000_000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(86_400_000_000_000),
        _ => None,
    }
}

/// The median spacing of sorted, distinct `ds`, read as a calendar step
/// when it is about a month, a quarter or a year.
fn infer_step(t: &DataType, ds: &[i64]) -> Step {
    let mut d: Vec<i64> = ds.windows(2).map(|w| w[1] - w[0]).collect();
    if d.is_empty() {
        return Step::Fixed(units_per_day(t).unwrap_or(1));
    }
    d.sort_unstable();
    let med = d[d.len() / 2];
    if let Some(u) = units_per_day(t) {
        let days = med as f64 / u as f64;
        if (28.0..=31.0).contains(&days) {
            return Step::Months(1);
        }
        if (89.0..=92.0).contains(&days) {
            return Step::Months(3);
        }
        if (365.0..=366.0).contains(&days) {
            return Step::Months(12);
        }
    }
    Step::Fixed(med)
}

fn add_months(days_since_epoch: i64, months: i32) -> Option<i64> {
    use chrono::{Datelike, Months, NaiveDate};
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    let d = epoch.checked_add_signed(chrono::Duration::days(days_since_epoch))?;
    let month_end = d.succ_opt().is_some_and(|n| n.month() != d.month());
    let moved = d.checked_add_months(Months::new(months as u32))?;
    // A series on month ends stays on month ends (Jan 31 -> Feb 28 -> Mar 31).
    let moved = if month_end {
        let first_next = NaiveDate::from_ymd_opt(moved.year(), moved.month(), 1)?
            .checked_add_months(Months::new(1))?;
        first_next.pred_opt()?
    } else {
        moved
    };
    Some((moved - epoch).num_days())
}

/// The `h` axis values after the last of `ds` (sorted), on the inferred calendar.
pub fn future(t: &DataType, ds: &[i64], h: usize) -> Vec<i64> {
    let last = *ds.last().unwrap_or(&0);
    match infer_step(t, ds) {
        Step::Fixed(s) => (1..=h as i64).map(|k| last + k * s).collect(),
        Step::Months(m) => {
            let u = units_per_day(t).unwrap_or(1);
            let (day, rem) = (last.div_euclid(u), last.rem_euclid(u));
            (1..=h as i32)
                .map(|k| add_months(day, m * k).map_or(last + k as i64 * 30 * u, |d| d * u + rem))
                .collect()
        }
    }
}

/// Axis values of an array as i64 in its native unit.
pub fn to_i64(a: &ArrayRef) -> Result<Int64Array> {
    let t = a.data_type();
    if !is_time_axis(t) {
        return Err(DataFusionError::Plan(format!(
            "ds must be a date, timestamp or integer, not {t}"
        )));
    }
    let a = match t {
        DataType::Date32 => cast(a, &DataType::Int32).and_then(|a| cast(&a, &DataType::Int64)),
        _ => cast(a, &DataType::Int64),
    }?;
    Ok(a.as_primitive::<Int64Type>().clone())
}

/// Builds an array of type `t` from native axis values.
pub fn from_i64(t: &DataType, v: Vec<i64>) -> Result<ArrayRef> {
    use std::sync::Arc;
    Ok(match t {
        DataType::Date32 => Arc::new(Date32Array::from(
            v.into_iter().map(|x| x as i32).collect::<Vec<_>>(),
        )),
        DataType::Date64 => Arc::new(Date64Array::from(v)),
        DataType::Timestamp(u, tz) => match u {
            TimeUnit::Second => {
                Arc::new(TimestampSecondArray::from(v).with_timezone_opt(tz.clone()))
            }
            TimeUnit::Millisecond => {
                Arc::new(TimestampMillisecondArray::from(v).with_timezone_opt(tz.clone()))
            }
            TimeUnit::Microsecond => {
                Arc::new(TimestampMicrosecondArray::from(v).with_timezone_opt(tz.clone()))
            }
            TimeUnit::Nanosecond => {
                Arc::new(TimestampNanosecondArray::from(v).with_timezone_opt(tz.clone()))
            }
        },
        other => cast(&(Arc::new(Int64Array::from(v)) as ArrayRef), other)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_days() {
        // 2024-01-31 is day 19753; month ends stay month ends.
        let jan31 = 19753;
        let f = future(&DataType::Date32, &[jan31 - 31, jan31], 2);
        assert_eq!(f, vec![jan31 + 29, jan31 + 60]); // 2024-02-29, 2024-03-31
        assert_eq!(future(&DataType::Date32, &[0, 7, 14], 2), vec![21, 28]);
        assert_eq!(future(&DataType::Int64, &[1, 2, 3], 2), vec![4, 5]);
    }
}
