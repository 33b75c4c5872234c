"""features: joins flights with the weather at their origin and hour, builds the model's features
and the label (arrival delayed more than 15 minutes), and splits by month: January-March is the
training window, every later month a window of its own (for traffic replay and drift)."""
import pandas as pd

from common import WORKSPACE, write_outputs

# Model inputs, in the order the model takes them.
FEATURES = ["month", "hour", "dep_delay", "distance", "air_time", "carrier_code", "origin_code",
            "temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib"]
LABEL = "arr_delayed"


def build(flights, weather):
    joined = flights.merge(weather[["origin", "time_hour", "temp", "dewp", "humid", "wind_speed",
                                    "precip", "pressure", "visib"]],
                           on=["origin", "time_hour"], how="left")
    joined = joined.dropna(subset=["arr_delay", "dep_delay", "air_time"])
    joined[LABEL] = (joined["arr_delay"] > 15).astype(int)
    # Categories as stable integer codes (sorted names), so every window encodes alike.
    for column in ("carrier", "origin"):
        codes = {name: i for i, name in enumerate(sorted(flights[column].dropna().unique()))}
        joined[column + "_code"] = joined[column].map(codes)
    return joined[FEATURES + [LABEL]]


def main():
    flights = pd.read_csv(WORKSPACE / "raw" / "flights.csv")
    weather = pd.read_csv(WORKSPACE / "raw" / "weather.csv")
    table = build(flights, weather)
    out = WORKSPACE / "features"
    out.mkdir(parents=True, exist_ok=True)
    train = table[table["month"] <= 3]
    train.to_csv(out / "train.csv", index=False)
    for month in range(4, 13):
        table[table["month"] == month].to_csv(out / f"month-{month:02d}.csv", index=False)
    write_outputs(rows=len(table), trainRows=len(train),
                  delayedShare=round(float(table[LABEL].mean()), 4))


if __name__ == "__main__":
    main()
