-- How much to order per item and day: the newsvendor quantity from the
-- reconciled forecast distribution, its expected cost, and the value of
-- perfect information (under normal demand, the same number).
SELECT r.unique_id, r.ds, r.mean,
       greatest(newsvendor_qty(r.mean, sd_from_interval(r.lo, r.hi, 95), $under_cost, $over_cost), 0) AS order_qty,
       critical_fractile($under_cost, $over_cost) AS service_level,
       newsvendor_cost(r.mean, sd_from_interval(r.lo, r.hi, 95), $under_cost, $over_cost) AS expected_cost,
       newsvendor_cost(r.mean, sd_from_interval(r.lo, r.hi, 95), $under_cost, $over_cost) AS value_of_perfect_information
FROM reconciled r JOIN hierarchy h ON r.unique_id = h.unique_id
WHERE r.is_aggregate = false
