"""validate: checks the raw tables' schema, value ranges and missing values; fails the step (exit 1)
on a violation, and reports the counts as outputs."""
import sys

import pandas as pd

from common import WORKSPACE, write_outputs

FLIGHT_COLUMNS = {"year", "month", "day", "dep_time", "dep_delay", "arr_delay", "carrier",
                  "origin", "dest", "air_time", "distance", "hour", "time_hour"}
WEATHER_COLUMNS = {"origin", "time_hour", "temp", "dewp", "humid", "wind_speed", "precip",
                   "pressure", "visib"}
RANGES = {"month": (1, 12), "distance": (0, 5000), "hour": (0, 24)}
WEATHER_RANGES = {"temp": (-30, 120), "humid": (0, 100), "visib": (0, 10)}


def problems(flights, weather):
    found = []
    for name, table, columns in (("flights", flights, FLIGHT_COLUMNS),
                                 ("weather", weather, WEATHER_COLUMNS)):
        missing = columns - set(table.columns)
        if missing:
            found.append(f"{name}: missing columns {sorted(missing)}")
    for name, table, ranges in (("flights", flights, RANGES), ("weather", weather, WEATHER_RANGES)):
        for column, (low, high) in ranges.items():
            if column in table and not table[column].dropna().between(low, high).all():
                found.append(f"{name}.{column}: values outside [{low}, {high}]")
    if len(flights) == 0 or len(weather) == 0:
        found.append("empty table")
    return found


def main():
    flights = pd.read_csv(WORKSPACE / "raw" / "flights.csv")
    weather = pd.read_csv(WORKSPACE / "raw" / "weather.csv")
    found = problems(flights, weather)
    for p in found:
        print("invalid:", p, file=sys.stderr)
    if found:
        sys.exit(1)
    write_outputs(rows=len(flights),
                  missingArrDelay=int(flights["arr_delay"].isna().sum()),
                  missingTemp=int(weather["temp"].isna().sum()))


if __name__ == "__main__":
    main()
