"""A real-looking multi-year stream for replay tests and benchmarks, generated (no download).

`weather_stream()` is four years of daily weather at ten stations, shaped like the public daily
weather CSVs people bring (a `YYYY/MM/DD` date, a station name, standardized numeric readings, a
`yes`/`no` rain flag and the label `rain_tomorrow`). What makes it the hard case for validation:

- it is written as pandas writes a frame by default, `to_csv(path)`: with its row index, which
  reads back as a first column `Unnamed: 0` of row numbers;
- the numeric columns are standardized over the whole file and move with the seasons (a yearly
  sine with a station offset, day-to-day noise that persists, and a slow warming trend), so a
  model trained on the first 500 days meets values beyond the ranges it was trained on;
- whether it rains tomorrow depends on today's humidity and pressure and on the season (a wet
  season that the readings only partly show), so the date's month carries information.

Every value comes from `numpy.random.default_rng(seed)`: the same seed gives the same file.

    python -m benchmarks.streams OUT.csv [--years 4] [--stations 10] [--seed 0]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

STATIONS = ("Albury", "Ballarat", "Cairns", "Darwin", "Hobart", "Mildura", "Perth", "Sale", "Sydney", "Woomera")
READINGS = ("temp", "humidity", "pressure", "wind", "sunshine")


def _persistent_noise(rng: np.random.Generator, days: int, stations: int, keep: float) -> np.ndarray:
    """AR(1) noise per station: weather today resembles yesterday's."""
    shocks = rng.normal(size=(days, stations))
    out = np.empty_like(shocks)
    out[0] = shocks[0]
    for day in range(1, days):
        out[day] = keep * out[day - 1] + np.sqrt(1 - keep ** 2) * shocks[day]
    return out


def weather_stream(years: int = 4, stations: int = 10, seed: int = 0, start: str = "2012-01-01") -> pd.DataFrame:
    """Daily rows, date-major (all stations of a day, then the next day), with a default RangeIndex."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=int(round(365.25 * years)), freq="D")
    days, names = len(dates), STATIONS[:stations]
    season = np.sin(2 * np.pi * (dates.dayofyear.to_numpy() - 100) / 365.25)[:, None]  # the warm peak in July
    wet = np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 30) / 365.25)[:, None]  # the wet season, early in the year
    trend = (np.arange(days) / 365.25)[:, None]
    offset = rng.normal(size=(1, stations))
    temp = 8 * season + 3 * offset + 2.5 * trend + 3 * _persistent_noise(rng, days, stations, 0.7)
    humidity = -4 * season + 1 * wet + 2 * offset + 4 * _persistent_noise(rng, days, stations, 0.6)
    pressure = 3 * season - 2 * wet + 5 * _persistent_noise(rng, days, stations, 0.8)
    wind = 2 * np.abs(_persistent_noise(rng, days, stations, 0.3)) + 0.8 * trend
    sunshine = 3 * season - 2 * wet - 0.4 * humidity / 4 + 2 * _persistent_noise(rng, days, stations, 0.4)
    raw = {"temp": temp, "humidity": humidity, "pressure": pressure, "wind": wind, "sunshine": sunshine}
    frame = pd.DataFrame({
        "date": np.repeat(dates.strftime("%Y/%m/%d").to_numpy(), stations),
        "station": np.tile(np.array(names, dtype=object), days),
    })
    for name in READINGS:
        values = raw[name].reshape(-1)
        frame[name] = np.round((values - values.mean()) / values.std(), 4)  # standardized over the whole file
    z = frame[list(READINGS)]
    rain_today = 0.9 * z["humidity"] - 0.6 * z["pressure"] + 1.2 * wet.repeat(stations) + rng.normal(0, 0.8, len(frame))
    frame["rain_today"] = np.where(rain_today > 0.6, "yes", "no")
    tomorrow = 0.8 * z["humidity"] - 0.8 * z["pressure"] + 2.0 * wet.repeat(stations) + 0.5 * (frame["rain_today"] == "yes") \
        + rng.normal(0, 0.9, len(frame))
    frame["rain_tomorrow"] = np.where(tomorrow > 0.5, "yes", "no")
    return frame


def write_stream(path: str | Path, **kwargs: int) -> Path:
    """The stream as a CSV written with its row index, as `DataFrame.to_csv(path)` does by default."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weather_stream(**kwargs).to_csv(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="CSV file to write")
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = write_stream(args.out, years=args.years, stations=args.stations, seed=args.seed)
    print(f"{path}: {args.years} years x {args.stations} stations of daily weather (label rain_tomorrow)")


if __name__ == "__main__":
    main()
