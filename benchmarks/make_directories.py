"""Provider directories of the sizes real users bring, for the engine benchmarks.

Two commands, each writing a provider GeoJSON outside the repository (default under
``benchmarks/data/``, which git ignores):

``who``
    The 1,443 public health facilities of the WHO/KEMRI list (Maina et al. 2019, in the
    data directory) written as a 4W service-mapping sheet and imported with
    ``orienter providers import`` into a copy of ``data/providers.geojson``: what a
    planner who adds the clinics does.  About 1,520 records.

``synthetic --n 5000 --seed 1``
    ``n`` seeded points inside Mali with a mix of services, each marked as a synthetic
    benchmark record (not a real provider): a directory of a GBV sub-cluster mapping's
    size and more, for the "5,000 providers" target.

Usage::

    ORIENTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/make_directories.py who
    .venv/bin/python benchmarks/make_directories.py synthetic --n 5000 --seed 1

Nothing written here is committed: the WHO-derived directory is derived from the data
directory, which stays outside the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.boundaries import read_boundaries  # noqa: E402
from geo.facilities import read_who_facilities  # noqa: E402

OUT = REPO / "benchmarks" / "data"
#: Services of the synthetic records and how often each is offered (assumed mix: clinical
#: care everywhere, psychosocial often, the rest rarer; shelters are confidential).
SYNTHETIC_SERVICES = {
    "medical": 0.7,
    "psychosocial": 0.5,
    "legal": 0.2,
    "reintegration": 0.15,
    "shelter": 0.03,
}


def _data_dir() -> Path:
    return Path(os.environ.get("ORIENTER_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


def make_who(out: Path) -> Path:
    """The WHO/KEMRI list as a 4W sheet, imported into a copy of the repository directory."""
    data = _data_dir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        facilities = read_who_facilities(
            data / "facilities" / "who_kemri_mali_health_facilities.csv"
        )
    out.mkdir(parents=True, exist_ok=True)
    sheet = out / "who_4w.csv"
    with open(sheet, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "id",
                "Organisation",
                "Type",
                "Services",
                "Latitude",
                "Longitude",
                "Confidentiel",
                "Precision",
                "Source",
                "Date source",
            ]
        )
        for row in facilities.itertuples():
            w.writerow(
                [
                    "who-" + str(row.facility_id).lower().replace("who:", ""),
                    row.name,
                    "health_facility",
                    "medical",
                    f"{row.geometry.y:.6f}",
                    f"{row.geometry.x:.6f}",
                    "non",
                    "facility",
                    "WHO/KEMRI public health facilities (Maina et al. 2019)",
                    "2019",
                ]
            )
    directory = out / "providers_who.geojson"
    shutil.copy(REPO / "data" / "providers.geojson", directory)
    cli = Path(sys.executable).with_name("orienter")
    subprocess.run(
        [str(cli), "providers", "import", str(sheet), "--into", str(directory), "--skip-invalid"],
        check=True,
    )
    return directory


def make_synthetic(out: Path, *, n: int, seed: int) -> Path:
    """``n`` seeded synthetic records inside Mali (never real providers)."""
    rng = np.random.default_rng(seed)
    country = read_boundaries(
        _data_dir() / "boundaries" / "mli_adm0_ocha_cod_2015.geojson", level=0
    ).union_all()
    minx, miny, maxx, maxy = country.bounds
    points: list[tuple[float, float]] = []
    import shapely

    while len(points) < n:
        xs = rng.uniform(minx, maxx, 4 * n)
        ys = rng.uniform(miny, maxy, 4 * n)
        inside = shapely.contains_xy(country, xs, ys)
        points += list(zip(xs[inside], ys[inside], strict=True))
    features = []
    for i, (lon, lat) in enumerate(points[:n]):
        services = [s for s, p in SYNTHETIC_SERVICES.items() if rng.random() < p] or ["medical"]
        shelter = "shelter" in services
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]},
                "properties": {
                    "id": f"synthetic-{i:05d}",
                    "name": f"Synthetic benchmark record {i}",
                    "type": "ngo",
                    "services": services,
                    "status": "reported",
                    "confidential": shelter,
                    "location_precision": "locality" if shelter else "facility",
                    "location_source": "seeded random point inside Mali (benchmark)",
                    "source": ["synthetic benchmark record (benchmarks/make_directories.py)"],
                    "source_date": "2026",
                    "confidence": "Low",
                    "notes": "not a real provider: a seeded benchmark point",
                },
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"providers_synthetic_{n}.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    who = sub.add_parser("who", help="WHO/KEMRI facilities imported as a 4W sheet")
    who.add_argument("--out", type=Path, default=OUT)
    syn = sub.add_parser("synthetic", help="seeded synthetic directory")
    syn.add_argument("--n", type=int, default=5000)
    syn.add_argument("--seed", type=int, default=1)
    syn.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.what == "who":
        path = make_who(args.out)
    else:
        path = make_synthetic(args.out, n=args.n, seed=args.seed)
    n = len(json.loads(path.read_text(encoding="utf-8"))["features"])
    print(f"{path}: {n} records")


if __name__ == "__main__":
    main()
