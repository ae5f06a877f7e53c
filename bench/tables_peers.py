"""The peers of bench/tables.sh.

  ingest CSV DIR   pyarrow reads the CSV, Python `deltalake` writes a Delta table
  query DIR [RUNS] the same query suite as `weir-bench tables query`, in DuckDB
                   over the Parquet files in DIR (median of RUNS, default 5)
"""
import sys
import time

QUERIES = [
    ("group-by", "SELECT store, sum(qty) AS units, avg(price) AS price FROM sales GROUP BY store"),
    ("monthly per item", "SELECT item, date_trunc('month', ds) AS month, sum(qty) AS units FROM sales GROUP BY 1, 2"),
    ("forecast vs actuals join",
     "SELECT a.store, avg(abs(a.qty - f.qty)) AS mae FROM sales a JOIN sales f "
     "ON a.store = f.store AND a.item = f.item AND a.ds = f.ds + INTERVAL '7 days' "
     "WHERE a.ds >= DATE '2024-12-01' GROUP BY a.store"),
    ("rolling window",
     "SELECT count(*) AS spikes FROM (SELECT qty, avg(qty) OVER (PARTITION BY store, item ORDER BY ds "
     "ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS r FROM sales WHERE ds >= DATE '2024-11-01') WHERE qty > 2 * r"),
    ("point lookup", "SELECT * FROM sales WHERE store = 's7' AND item = 'i20' AND ds = DATE '2024-06-01'"),
]


def ingest(csv, out):
    import pyarrow as pa
    from pyarrow import csv as pcsv
    from deltalake import write_deltalake

    start = time.perf_counter()
    table = pcsv.read_csv(csv, convert_options=pcsv.ConvertOptions(column_types={"ds": pa.date32()}))
    write_deltalake(out, table, mode="overwrite")
    secs = time.perf_counter() - start
    print(f"deltalake (Python) ingest: {table.num_rows} rows in {secs:.2f} s = {table.num_rows / secs:,.0f} rows/s")


def query(directory, runs):
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW sales AS SELECT * FROM read_parquet('{directory}/*.parquet')")
    print("| query | rows out | DuckDB s |")
    print("|---|---|---|")
    for name, sql in QUERIES:
        secs = []
        for _ in range(runs):
            start = time.perf_counter()
            rows = len(con.execute(sql).fetchall())
            secs.append(time.perf_counter() - start)
        secs.sort()
        print(f"| {name} | {rows} | {secs[len(secs) // 2]:.4f} |", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "ingest":
        ingest(sys.argv[2], sys.argv[3])
    else:
        query(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
