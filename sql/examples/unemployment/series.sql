-- The series the later stages model: industry, month, unemployed (thousands).
SELECT series AS unique_id,
       CAST(date AS TIMESTAMP) AS ds,
       CAST(count AS DOUBLE) AS y
FROM unemployment
WHERE count IS NOT NULL
