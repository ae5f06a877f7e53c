-- One row per edge: item -> category -> total.
SELECT DISTINCT unique_id, category AS parent FROM demand
UNION ALL
SELECT DISTINCT category, 'total' FROM demand
