-- Industries roll up to the CPS's goods-producing and service-providing
-- groups, with government and the self-employed apart, and those to the
-- total: the hierarchy the forecasting pipeline reconciles.
SELECT series AS unique_id,
       CASE WHEN series IN ('Agriculture', 'Mining and Extraction', 'Construction', 'Manufacturing')
            THEN 'goods_producing'
            WHEN series IN ('Government', 'Self-employed') THEN 'government_and_self_employed'
            ELSE 'service_providing' END AS category,
       make_date(year, month, 1) AS ds,
       CAST(count AS DOUBLE) AS y,
       false AS promo -- no promotions in this data
FROM unemployment
